/**
 * attack10: after an admin write returns, does every worker of `verity serve --workers 3` (PGlite)
 * decide on it? Every check fires many fresh connections right after the write returned, after
 * warming every worker's caches with the old state.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fresh } from './helpers/fresh-request.js';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { createClient } from './helpers/verity.js';

const processes: ServeProcess[] = [];
afterAll(() => killAll(processes));

const N = 24;


const ASK = { subject: { type: 'User', id: 'alice' }, action: { name: 'view' }, resource: { type: 'Doc', id: 'd1' } };

async function outcomes(url: string, ask: unknown = ASK, token?: string): Promise<unknown[]> {
  const answers = await Promise.all(Array.from({ length: N }, () => fresh(url, 'POST', '/tenants/acme/access/v1/evaluation', { body: ask, token: token ?? null })));
  return answers.map((a) => (a.status === 200 ? a.body.decision : `${a.status}:${a.body?.code}`));
}

const POLICY = 'permit(principal in Group::"g", action, resource) when { resource.open == true };';
const ENTITIES = [
  { uid: { type: 'Doc', id: 'd1' }, attrs: { open: true }, parents: [] },
  { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Group', id: 'g' }] },
];

describe('attack10: stale allow after a write returned (--workers 2, PGlite)', () => {
  it('every write kind is seen by every worker at once', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'attack10-')), 'data');
    const server = await startServeProcess(['--workers', '2', '--data', data]);
    processes.push(server);
    const url = server.url;
    const admin = createClient(url);
    const failures: string[] = [];
    const check = async (label: string, expected: unknown, ask?: unknown, token?: string) => {
      const got = await outcomes(url, ask, token);
      const bad = got.filter((g) => g !== expected);
      if (bad.length > 0) failures.push(`${label}: expected ${String(expected)}, got ${JSON.stringify(got)}`);
    };
    expect((await admin.post('/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
    const v1 = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY } });
    expect(v1.status).toBe(201);
    const reset = async () => {
      expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: ENTITIES, mode: 'replace' })).status).toBe(200);
      // Warm every worker with the allowing state.
      for (let i = 0; i < 3; i++) expect(await outcomes(url)).toEqual(Array(N).fill(true));
    };

    for (let trial = 0; trial < 1; trial++) {
      await reset();
      expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities/Doc/d1', { attrs: { open: false } })).status).toBe(200);
      await check(`entity PUT attr (trial ${trial})`, false);

      await reset();
      expect((await admin.request('DELETE', '/admin/v1/tenants/acme/entities/Doc/d1')).status).toBeLessThan(300);
      await check(`entity DELETE resource (trial ${trial})`, false);

      await reset();
      expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities/User/alice', { attrs: {}, parents: [] })).status).toBe(200);
      await check(`entity PUT parents removed (trial ${trial})`, false);

      await reset();
      expect((await admin.request('DELETE', '/admin/v1/tenants/acme/entities/User/alice')).status).toBeLessThan(300);
      await check(`entity DELETE principal (trial ${trial})`, false);

      await reset();
      expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: [{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }], mode: 'merge' })).status).toBe(200);
      await check(`bulk merge parents removed (trial ${trial})`, false);

      await reset();
      expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: [ENTITIES[0]], mode: 'replace' })).status).toBe(200);
      await check(`bulk replace drops principal (trial ${trial})`, false);

      // Policy: push a forbid, then roll back to v1 by activate, then push a forbid without activate + activate.
      await reset();
      const forbid = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'forbid(principal, action, resource);' } });
      expect(forbid.status).toBe(201);
      await check(`policy push forbid (trial ${trial})`, false);
      const back = await admin.post('/admin/v1/tenants/acme/policies/activate', { version: v1.body.version });
      expect(back.status).toBe(200);
      for (let i = 0; i < 3; i++) await check(`warm after rollback (trial ${trial})`, true);
      const again = await admin.post('/admin/v1/tenants/acme/policies/activate', { version: forbid.body.version });
      expect(again.status).toBe(200);
      await check(`policy activate forbid version (trial ${trial})`, false);
      expect((await admin.post('/admin/v1/tenants/acme/policies/activate', { version: v1.body.version })).status).toBe(200);

      // Settings: typeMapping person->User gives allow; removing it denies.
      await reset();
      expect((await admin.request('PATCH', '/admin/v1/tenants/acme', { settings: { typeMapping: { person: 'User' } } })).status).toBe(200);
      const personAsk = { ...ASK, subject: { type: 'person', id: 'alice' } };
      for (let i = 0; i < 3; i++) await check(`warm typeMapping (trial ${trial})`, true, personAsk);
      expect((await admin.request('PATCH', '/admin/v1/tenants/acme', { settings: { typeMapping: null } })).status).toBe(200);
      await check(`settings typeMapping removed (trial ${trial})`, false, personAsk);
    }
    expect(failures).toEqual([]);
  }, 120_000);
  // Credentials, identity sources and token revocations across workers: e2e/cluster.test.ts and e2e/attack11-revocation.test.ts.
});
