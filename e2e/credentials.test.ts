/**
 * Admin, policy-author and PEP credentials over the admin API: list (never a secret), create and
 * rotate (token shown once), revoke (at once, on every replica), all audited in `_system`; and
 * the bootstrap credential, which a changed VERITY_ADMIN_TOKEN replaces instead of adding to.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, createComponents, resolveConfig, startServer } from '@verity/server';
import { createPgliteDatabase } from '@verity/store';
import { ADMIN_TOKEN, createClient, startTestServer, testLogStream } from './helpers/verity.js';
import { eventually } from './helpers/eventually.js';

let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer();
  for (const id of ['acme', 'globex']) expect((await server.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});


const decide = (token: string, tenant = 'acme') => createClient(server.url, token).get(`/admin/v1/tenants/${tenant}/credentials`);

describe('credentials', () => {
  it('lists credentials without secrets; a token is shown once, at create', async () => {
    const created = await server.admin.post('/admin/v1/tenants/acme/credentials', { role: 'pep', label: 'gateway' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: 'pep', tenant: 'acme', label: 'gateway', revokedAt: null });
    expect(created.body.token).toMatch(/^vrt_[\w-]{43}$/);
    for (const path of ['/admin/v1/credentials', '/admin/v1/tenants/acme/credentials']) {
      const listed = await server.admin.get(path);
      expect(listed.status).toBe(200);
      const text = JSON.stringify(listed.body);
      expect(text).toContain(created.body.id);
      expect(text).not.toContain(created.body.token);
      expect(text).not.toMatch(/"(token|tokenHash|token_hash)"/);
    }
    expect((await server.admin.get('/admin/v1/tenants/globex/credentials')).body.credentials).toEqual([]);
    // Stored as a hash only.
    const stored = await server.components.store.credentials.get(created.body.id);
    expect(stored?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(created.body.token);
  });

  it('revokes and rotates at once; the old token is refused, the new one works', async () => {
    const created = (await server.admin.post('/admin/v1/credentials', { role: 'policy-author', tenant: 'acme' })).body;
    expect((await decide(created.token)).status).toBe(403); // Authenticated (cached now), not allowed to list.

    const rotated = await server.admin.post(`/admin/v1/tenants/acme/credentials/${created.id}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ id: created.id, role: 'policy-author', tenant: 'acme' });
    expect(rotated.body.token).not.toBe(created.token);
    expect((await decide(created.token)).body.code).toBe('ERR_AUTH_INVALID');
    expect((await createClient(server.url, rotated.body.token).get('/admin/v1/tenants/acme')).status).toBe(200);

    const revoked = await server.admin.post(`/admin/v1/credentials/${created.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    expect((await createClient(server.url, rotated.body.token).get('/admin/v1/tenants/acme')).body.code).toBe('ERR_AUTH_INVALID');
    expect((await server.admin.post(`/admin/v1/credentials/${created.id}/rotate`)).body.code).toBe('ERR_CREDENTIAL_NOT_FOUND');
  });

  it("keeps tenants apart, refuses non-admins, and never revokes the last platform admin", async () => {
    const globexPep = (await server.admin.post('/admin/v1/tenants/globex/credentials', { role: 'pep' })).body;
    expect((await server.admin.post(`/admin/v1/tenants/acme/credentials/${globexPep.id}/revoke`)).body.code).toBe('ERR_CREDENTIAL_NOT_FOUND');
    expect((await server.admin.post('/admin/v1/tenants/acme/credentials/no-such-id/rotate')).body.code).toBe('ERR_CREDENTIAL_NOT_FOUND');
    expect((await server.admin.post('/admin/v1/tenants/acme/credentials', { role: 'platform-admin' })).body.code).toBe('ERR_REQUEST_INVALID');
    const author = (await server.admin.post('/admin/v1/tenants/globex/credentials', { role: 'policy-author' })).body;
    const asAuthor = createClient(server.url, author.token);
    expect((await asAuthor.get('/admin/v1/tenants/globex/credentials')).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await asAuthor.post(`/admin/v1/tenants/globex/credentials/${globexPep.id}/revoke`)).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await asAuthor.get('/admin/v1/credentials')).body.code).toBe('ERR_AUTH_FORBIDDEN');

    const answer = await server.admin.post('/admin/v1/credentials/bootstrap-admin/revoke');
    expect([answer.status, answer.body.code]).toEqual([409, 'ERR_CREDENTIAL_LAST_ADMIN']);
  });

  it('audits credential calls in the system tenant', async () => {
    const events = (await server.admin.get('/admin/v1/tenants/_system/audit?limit=1000')).body.events as Array<{ action: { id: string }; resource: { id: string }; decision: string }>;
    const actions = new Set(events.map((e) => `${e.action.id} ${e.decision}`));
    for (const expected of ['credential.create allow', 'credential.list allow', 'credential.rotate allow', 'credential.revoke allow', 'credential.list deny', 'credential.revoke deny']) expect(actions).toContain(expected);
  });
});

describe('credential revocation across replicas', () => {
  it('two servers on one database: a revocation on one is refused by the other within a second', async () => {
    const db = await createPgliteDatabase({});
    const config = resolveConfig({ dataDir: null, adminToken: ADMIN_TOKEN, auditFlushMs: 5, logLevel: 'silent' });
    const a = await createComponents(config, db);
    const b = await createComponents(config, db);
    try {
      await a.credentials.bootstrap(ADMIN_TOKEN);
      const [appA, appB] = [await buildApp(a), await buildApp(b)];
      const { token, credential } = await a.credentials.issue({ role: 'platform-admin', tenant: null, label: 'second' });
      const asIt = (app: typeof appA) => app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${token}` } });
      expect((await asIt(appB)).statusCode).toBe(200); // Replica B caches it.
      const revoked = await appA.inject({ method: 'POST', url: `/admin/v1/credentials/${credential.id}/revoke`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(revoked.statusCode).toBe(200);
      await eventually(async () => expect((await asIt(appB)).statusCode).toBe(401), 1000);
      await appA.close();
      await appB.close();
    } finally {
      for (const c of [a, b]) {
        await c.changes.close();
        await c.audit.close();
      }
      await db.close();
    }
  });
});

describe('the bootstrap credential', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'verity-bootstrap-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('a changed VERITY_ADMIN_TOKEN replaces the old one: it stops working and admins do not pile up', async () => {
    const dataDir = join(folder, 'data');
    const first = `vrt_${randomBytes(32).toString('base64url')}`;
    const second = `vrt_${randomBytes(32).toString('base64url')}`;
    const start = (adminToken: string) => startServer({ port: 0, dataDir, adminToken, print: () => {}, auditFlushMs: 5, logStream: testLogStream() });

    const one = await start(first);
    expect((await createClient(one.url, first).get('/admin/v1/tenants')).status).toBe(200);
    await one.close();

    const two = await start(second);
    try {
      expect((await createClient(two.url, first).get('/admin/v1/tenants')).body.code).toBe('ERR_AUTH_INVALID');
      const listed = (await createClient(two.url, second).get('/admin/v1/credentials')).body.credentials as Array<{ id: string; role: string; revokedAt: string | null }>;
      expect(listed.filter((c) => c.role === 'platform-admin' && c.revokedAt === null).map((c) => c.id)).toEqual(['bootstrap-admin']);
      const events = (await createClient(two.url, second).get('/admin/v1/tenants/_system/audit?limit=1000')).body.events as Array<{ action: { id: string }; resource: { id: string } }>;
      expect(events.some((e) => e.action.id === 'credential.rotate' && e.resource.id === 'bootstrap-admin')).toBe(true);
    } finally {
      await two.close();
    }
  });

  it('refuses a weak VERITY_ADMIN_TOKEN, naming the rule', async () => {
    await expect(startServer({ port: 0, dataDir: null, adminToken: 'secret', print: () => {} })).rejects.toThrow(/at least 32 characters and 128 bits/);
  });
});
