/**
 * Audit integrity over real HTTP: verification against the stored chain head and the latest
 * signed checkpoint (rows deleted or rewritten through raw SQL), signed checkpoints made on
 * request and on an interval, and the PEP audit ingest bound to the reporting credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeAuditHash, type AuditEvent } from '@verity/core';
import { verifyAuditCheckpoint } from '@verity/identity';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pep: { id: string; client: Client };
const POLICY = '@id("all") permit(principal, action, resource);';

const record = (decisionId: string, overrides: Record<string, unknown> = {}) => ({
  decisionId,
  time: new Date().toISOString(),
  tenant: 'acme',
  requestId: null,
  tier: 'orders-service',
  principal: { type: 'User', id: 'ann' },
  action: { type: 'Action', id: 'read' },
  resource: { type: 'Doc', id: 'd' },
  decision: 'allow',
  reasons: [],
  errors: [],
  policyVersion: 1,
  latencyUs: 40,
  ...overrides,
});

async function credential(role: string, tenant?: string): Promise<{ id: string; client: Client }> {
  const created = await server.admin.post('/admin/v1/credentials', { role, ...(tenant ? { tenant } : {}) });
  expect(created.status).toBe(201);
  return { id: created.body.id, client: createClient(server.url, created.body.token) };
}

/** Make `n` decisions in the tenant (each one audit record). */
async function decide(tenant: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const answer = await server.admin.post(`/tenants/${tenant}/access/v1/evaluation`, { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: `d${i}` } });
    expect(answer.status).toBe(200);
  }
}

async function newTenant(id: string): Promise<void> {
  expect((await server.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
  expect((await server.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': POLICY } })).status).toBe(201);
}

const verify = async (tenant: string) => (await server.admin.get(`/admin/v1/tenants/${tenant}/audit/verify`)).body as { ok: boolean; problems: Array<{ seq: number; kind: string }> };
const events = async (tenant: string) => (await server.admin.get(`/admin/v1/tenants/${tenant}/audit?limit=1000`)).body.events as AuditEvent[];
const sql = (text: string, params: unknown[]) => server.components.store.db.query(text, params);

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  await newTenant('acme');
  await newTenant('globex');
  pep = await credential('pep', 'acme');
});

afterAll(async () => {
  await server?.close();
});

describe('audit verify', () => {
  it('finds the newest records deleted through raw SQL', async () => {
    await newTenant('tail');
    await decide('tail', 4);
    expect(await verify('tail')).toMatchObject({ ok: true });
    await sql('DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 2', ['tail']);
    expect(await verify('tail')).toMatchObject({ ok: false, problems: [{ seq: 3, kind: 'truncated' }] });
  });

  it('finds the newest record edited through raw SQL with its hash recomputed', async () => {
    await newTenant('rehash');
    await decide('rehash', 3);
    const { seq, prevHash, hash: _hash, ...rest } = (await events('rehash')).at(-1)!;
    const forged = computeAuditHash({ ...rest, decision: 'deny' }, seq, prevHash);
    await sql("UPDATE audit_events SET decision = 'deny', hash = $2 WHERE tenant_id = $1 AND seq = $3", ['rehash', forged, seq]);
    expect(await verify('rehash')).toMatchObject({ ok: false, problems: [{ seq, kind: 'head-mismatch' }] });
  });
});

describe('signed checkpoints', () => {
  it('are made on request, fetched with their public key, and verify', async () => {
    await newTenant('cp');
    await decide('cp', 2);
    const made = await server.admin.post('/admin/v1/tenants/cp/audit/checkpoints');
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ tenant: 'cp', seq: 2, hash: (await events('cp')).at(-1)?.hash });
    expect(made.body.publicKey).not.toHaveProperty('d');
    const latest = await server.admin.get('/admin/v1/tenants/cp/audit/checkpoints/latest');
    expect(latest.body).toEqual(made.body);
    expect(await verifyAuditCheckpoint(latest.body.jws, latest.body.publicKey)).toEqual({ tenant: 'cp', seq: 2, hash: made.body.hash, time: made.body.time });
    expect((await createClient(server.url, null).get('/admin/v1/tenants/cp/audit/checkpoints/latest')).status).toBe(401);
    expect((await pep.client.post('/admin/v1/tenants/cp/audit/checkpoints')).status).toBe(403);
  });

  it('of the first record can be looked up as `verity audit verify --checkpoint` does (after=0)', async () => {
    await newTenant('first');
    await decide('first', 1);
    const made = await server.admin.post('/admin/v1/tenants/first/audit/checkpoints');
    expect(made.body).toMatchObject({ seq: 1 });
    // The CLI reads the record at the checkpoint's seq with after = seq - 1.
    const page = await server.admin.get(`/admin/v1/tenants/first/audit?after=${made.body.seq - 1}&limit=1`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    expect(page.body.events[0]).toMatchObject({ seq: 1, hash: made.body.hash });
    const bad = await server.admin.get('/admin/v1/tenants/first/audit?after=-1');
    expect([bad.status, bad.body.code]).toEqual([400, 'ERR_REQUEST_INVALID']);
    expect(bad.body.message).toMatch(/^after /);
  });

  it('catch a tail rewritten together with the stored head', async () => {
    await newTenant('rewrite');
    await decide('rewrite', 3);
    expect((await server.admin.post('/admin/v1/tenants/rewrite/audit/checkpoints')).status).toBe(201);
    // Whoever can write the database deletes the tail and moves the head back: the chain alone looks whole.
    const second = (await events('rewrite'))[1]!;
    await sql('DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 2', ['rewrite']);
    await sql('UPDATE audit_heads SET seq = 2, hash = $2 WHERE tenant_id = $1', ['rewrite', second.hash]);
    expect(await verify('rewrite')).toMatchObject({ ok: false, problems: [{ seq: 3, kind: 'checkpoint-mismatch' }] });
  });

  it('count a stored checkpoint no key verifies as a mismatch', async () => {
    await newTenant('forged');
    await decide('forged', 1);
    await server.admin.post('/admin/v1/tenants/forged/audit/checkpoints');
    await sql("UPDATE audit_checkpoints SET jws = jws || 'x' WHERE tenant_id = $1", ['forged']);
    expect(await verify('forged')).toMatchObject({ ok: false, problems: [{ seq: 1, kind: 'checkpoint-mismatch' }] });
  });

  it('are made on the configured interval for tenants whose chain moved', async () => {
    const timed = await startTestServer({ auditCheckpointIntervalMs: 20 });
    try {
      expect((await timed.admin.post('/admin/v1/tenants', { id: 'ticks' })).status).toBe(201);
      await timed.admin.post('/admin/v1/tenants/ticks/policies', { files: { 'p.cedar': POLICY } });
      await timed.admin.post('/tenants/ticks/access/v1/evaluation', { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
      let latest = await timed.admin.get('/admin/v1/tenants/ticks/audit/checkpoints/latest');
      for (let i = 0; i < 200 && latest.status !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        latest = await timed.admin.get('/admin/v1/tenants/ticks/audit/checkpoints/latest');
      }
      expect(latest.status).toBe(200);
      expect(latest.body).toMatchObject({ tenant: 'ticks', seq: 1 });
    } finally {
      await timed.close();
    }
  });
});

describe('PEP audit ingest', () => {
  const ingest = (client: Client, tenant: string, records: unknown[]) => client.post(`/tenants/${tenant}/audit/v1/decisions`, { records });

  it('marks records with the reporting PEP credential, and they verify', async () => {
    const sent = record('pep-ok', { reportedBy: 'cred_someone_else' });
    expect((await ingest(pep.client, 'acme', [sent])).body).toEqual({ accepted: 1 });
    const stored = (await events('acme')).find((e) => e.decisionId === 'pep-ok');
    expect(stored).toMatchObject({ tenant: 'acme', reportedBy: pep.id });
    expect((await verify('acme')).ok).toBe(true);
  });

  it('needs a credential even when decisions are open', async () => {
    const answer = await ingest(createClient(server.url, null), 'acme', [record('pep-anon')]);
    expect(answer.status).toBe(401);
  });

  it('takes records only from a PEP credential of that same tenant', async () => {
    const other = await credential('pep', 'globex');
    const author = await credential('policy-author', 'acme');
    expect((await ingest(other.client, 'acme', [record('pep-x1')])).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await ingest(author.client, 'acme', [record('pep-x2')])).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await ingest(server.admin, 'acme', [record('pep-x3')])).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await ingest(pep.client, 'acme', [record('pep-x4', { tenant: 'globex' })])).body.code).toBe('ERR_REQUEST_INVALID');
    const ids = (await events('acme')).map((e) => e.decisionId);
    expect(ids.filter((id) => id.startsWith('pep-x'))).toEqual([]);
  });

  it('refuses the system tenant', async () => {
    const before = (await events('_system')).length;
    for (const client of [pep.client, server.admin, createClient(server.url, null)]) {
      expect((await ingest(client, '_system', [record('pep-sys', { tenant: '_system' })])).status).toBe(403);
    }
    expect((await events('_system')).filter((e) => e.decisionId === 'pep-sys')).toEqual([]);
    expect((await events('_system')).length).toBeGreaterThanOrEqual(before);
  });
});
