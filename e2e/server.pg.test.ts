/**
 * Verity on PostgreSQL: the same server over `pg`, including two replicas sharing one
 * database (scale-out), whose interleaved decisions must still form one unbroken audit chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from './helpers/postgres.js';
import { createClient, createTenantFromFolder, examplePath, interopPath, readJson, startTestServer } from './helpers/verity.js';

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

  it('rolls back on one replica and the other sees the same active version', async () => {
    const admin = replicaA.admin;
    const pushed = await admin.post('/admin/v1/tenants/todo/policies', { files: { 'deny.cedar': 'forbid(principal, action, resource);' } });
    expect(pushed.status).toBe(201);
    const request = { subject: { type: 'user', id: 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_user' }, resource: { type: 'user', id: 'x' } };
    expect((await admin.post('/tenants/todo/access/v1/evaluation', request)).body.decision).toBe(false);
    expect((await admin.post('/admin/v1/tenants/todo/policies/activate', { version: 1 })).status).toBe(200);
    expect((await admin.post('/tenants/todo/access/v1/evaluation', request)).body).toMatchObject({ decision: true, context: { reason_admin: { policy_version: 1 } } });
    const versions = (await createClient(replicaB.url).get('/admin/v1/tenants/todo/policies/versions')).body.versions;
    expect(versions.map((v: { version: number; active: boolean }) => [v.version, v.active])).toEqual([
      [1, true],
      [2, false],
    ]);
  });
});
