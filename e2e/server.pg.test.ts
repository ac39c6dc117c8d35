/**
 * Verity on PostgreSQL: the same server over `pg`, including two replicas sharing one
 * database (scale-out), whose interleaved decisions must still form one unbroken audit chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from './helpers/postgres.js';
import { openEventStream } from './helpers/sse.js';
import { ADMIN_TOKEN, createClient, createTenantFromFolder, examplePath, interopPath, readJson, startTestServer } from './helpers/verity.js';
import { eventually } from './helpers/eventually.js';

let database: Awaited<ReturnType<typeof createScratchDatabase>>;
let replicaA: Awaited<ReturnType<typeof startTestServer>>;
let replicaB: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  database = await createScratchDatabase();
  // Both replicas start at once against an empty database: migrations must not race.
  [replicaA, replicaB] = await Promise.all([startTestServer({ databaseUrl: database.url }), startTestServer({ databaseUrl: database.url })]);
  await createTenantFromFolder(replicaA.admin, 'todo', examplePath('todo'));
});

afterAll(async () => {
  await replicaA?.close();
  await replicaB?.close();
  await database?.drop();
});

describe('Verity on PostgreSQL', () => {
  it('answers the AuthZEN Todo interop cases from either replica', async () => {
    const data = await readJson<{ evaluation: Array<{ request: unknown; expected: boolean }> }>(interopPath('authzen-todo-backend/test/decisions-authorization-api-1_0-02.json'));
    for (const [i, c] of data.evaluation.entries()) {
      const replica = i % 2 === 0 ? replicaA : replicaB;
      const answer = await replica.admin.post('/tenants/todo/access/v1/evaluation', c.request);
      expect(answer.body.decision, `case ${i}`).toBe(c.expected);
    }
  });

  it('keeps one unbroken audit chain when two replicas write at once', async () => {
    const request = { subject: { type: 'user', id: 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 't' } };
    const calls = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).admin.post('/tenants/todo/access/v1/evaluation', request, { 'x-request-id': `burst-${i}` }));
    expect((await Promise.all(calls)).every((a) => a.body.decision === true)).toBe(true);
    await Promise.all([replicaA.components.audit.flush(), replicaB.components.audit.flush()]);
    const verdict = (await replicaB.admin.get('/admin/v1/tenants/todo/audit/verify')).body;
    expect(verdict).toMatchObject({ ok: true, problems: [] });
    expect(verdict.checked).toBeGreaterThanOrEqual(240);
  });

  it('a rollback or an entity change on one replica reaches the other replica through the change feed', async () => {
    const request = { subject: { type: 'user', id: 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_user' }, resource: { type: 'user', id: 'x' } };
    const onB = () => replicaB.admin.post('/tenants/todo/access/v1/evaluation', request);
    // B has the tenant's active version cached before A changes anything.
    expect((await onB()).body).toMatchObject({ decision: true, context: { reason_admin: { policy_version: 1 } } });
    expect((await replicaA.admin.post('/admin/v1/tenants/todo/policies', { files: { 'deny.cedar': 'forbid(principal, action, resource);' } })).status).toBe(201);
    await eventually(async () => expect((await onB()).body).toMatchObject({ decision: false, context: { reason_admin: { policy_version: 2 } } }));
    expect((await replicaA.admin.post('/admin/v1/tenants/todo/policies/activate', { version: 1 })).status).toBe(200);
    await eventually(async () => expect((await onB()).body).toMatchObject({ decision: true, context: { reason_admin: { policy_version: 1 } } }));

    // Entities: demote Rick to viewer on A; B stops letting him create todos.
    const create = { ...request, action: { name: 'can_create_todo' }, resource: { type: 'todo', id: 't' } };
    expect((await replicaB.admin.post('/tenants/todo/access/v1/evaluation', create)).body.decision).toBe(true);
    const rick = (await replicaA.admin.get('/admin/v1/tenants/todo/entities/user/' + request.subject.id)).body;
    expect((await replicaA.admin.request('PUT', '/admin/v1/tenants/todo/entities/user/' + request.subject.id, { attrs: rick.attrs, parents: [{ type: 'Role', id: 'viewer' }] })).status).toBe(200);
    await eventually(async () => expect((await replicaB.admin.post('/tenants/todo/access/v1/evaluation', create)).body.decision).toBe(false));
  });
});

describe('bootstrap', () => {
  it('keeps one VERITY_ADMIN_TOKEN credential when replicas start with it at once', async () => {
    const results = await Promise.all([replicaA, replicaB, replicaA, replicaB].map((replica) => replica.components.credentials.bootstrap(ADMIN_TOKEN)));
    expect(results.map((r) => r.outcome)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    const active = (await replicaA.components.store.credentials.list({ tenant: null })).filter((c) => c.revokedAt === null);
    expect(active.map((c) => c.id)).toEqual(['bootstrap-admin']);
  });
});

describe('credential revocation across replicas', () => {
  it('a credential revoked on one replica is refused by the other within one second', async () => {
    const created = await replicaA.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'todo' });
    const pep = createClient(replicaB.url, created.body.token);
    // Replica B has looked it up (and cached it) before the revocation.
    expect((await pep.post('/tenants/todo/access/v1/evaluation', { subject: { type: 'user', id: 'x' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 't' } })).status).toBe(200);
    expect((await replicaA.admin.post(`/admin/v1/credentials/${created.body.id}/revoke`)).status).toBe(200);
    await eventually(async () => expect((await pep.post('/tenants/todo/access/v1/evaluation', { subject: { type: 'user', id: 'x' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 't' } })).body.code).toBe('ERR_AUTH_INVALID'), 1000);
  });
});

describe('revocation across replicas', () => {
  it('a token revoked on one replica is refused by the other within one second', async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const issuer = 'http://127.0.0.1/test-issuer';
    await replicaA.admin.post('/admin/v1/tenants', { id: 'rev' });
    await replicaA.admin.post('/admin/v1/tenants/rev/policies', { files: { 'p.cedar': 'permit(principal is User, action, resource);' } });
    await replicaA.admin.request('PUT', '/admin/v1/tenants/rev/identity-sources/corp', {
      issuer,
      keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] },
      audiences: ['api'],
      claims: { principalType: 'User' },
    });
    const token = await new SignJWT({ jti: 'jti-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('api').setSubject('ann').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const onB = () => replicaB.admin.post('/tenants/rev/access/v1/evaluation', { token, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    // B verifies and caches the token first.
    await eventually(async () => expect((await onB()).body.decision).toBe(true));
    // A PEP following replica B's change stream hears of the revocation made on replica A.
    const stream = await openEventStream(`${replicaB.url}/tenants/rev/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(stream.status).toBe(200);
    const revokedAt = Date.now();
    expect((await replicaA.admin.post('/admin/v1/tenants/rev/revocations', { subject: 'ann' })).status).toBe(201);
    expect(await stream.next('change', 1000)).toEqual({ tenant: 'rev', kind: 'revocation' });
    stream.close();
    await eventually(async () => expect((await onB()).body.code).toBe('ERR_TOKEN_REVOKED'), 1000);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });
});

describe('settings across replicas', () => {
  it("a settings change on one replica reaches the other's decisions and its change stream", async () => {
    const schema = 'entity User; entity Doc; action read appliesTo { principal: User, resource: Doc };';
    await replicaA.admin.post('/admin/v1/tenants', { id: 'cfg' });
    await replicaA.admin.post('/admin/v1/tenants/cfg/policies', { files: { 'p.cedar': 'permit(principal is User, action, resource);' }, schema });
    // A principal the action does not apply to: a deny, until requests are validated.
    const onB = () => replicaB.admin.post('/tenants/cfg/access/v1/evaluation', { subject: { type: 'Doc', id: 'd' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    await eventually(async () => expect((await onB()).body.decision).toBe(false));
    const stream = await openEventStream(`${replicaB.url}/tenants/cfg/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect((await replicaA.admin.request('PATCH', '/admin/v1/tenants/cfg', { settings: { validateRequests: true } })).status).toBe(200);
    expect(await stream.next('change', 1000)).toEqual({ tenant: 'cfg', kind: 'settings' });
    stream.close();
    await eventually(async () => expect((await onB()).body.code).toBe('ERR_DECISION_INVALID_REQUEST'), 1000);
    // A rollback (a new settings version equal to version 1) reaches the other replica the same way.
    expect((await replicaA.admin.post('/admin/v1/tenants/cfg/settings/rollback', { version: 1 })).body.settingsVersion).toBe(3);
    await eventually(async () => expect((await onB()).body.decision).toBe(false), 1000);
    expect((await replicaB.admin.get('/admin/v1/tenants/cfg/settings/versions')).body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 3]);
  });
});

