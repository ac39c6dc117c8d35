/**
 * The consistency token `options.verity_min_version`: "decide on a view at least as new as the
 * state in which version N was active". A replica whose cached view is older reads the tenant's
 * active version from the store (the record) before deciding: read-your-writes across replicas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

const PERMIT = { files: { 'p.cedar': 'permit(principal, action, resource);' } };
const FORBID = { files: { 'p.cedar': 'forbid(principal, action, resource);' } };
const question = { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } };

const ask = (options?: Record<string, unknown>) => pdp.post('/tenants/acme/access/v1/evaluation', options === undefined ? question : { ...question, options });
const askBatch = (options: Record<string, unknown>) => pdp.post('/tenants/acme/access/v1/evaluations', { ...question, evaluations: [{}, {}], options });

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  expect((await server.admin.post('/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
  expect((await server.admin.post('/admin/v1/tenants/acme/policies', PERMIT)).body.version).toBe(1);
  expect((await server.admin.post('/admin/v1/tenants/acme/policies', { ...FORBID, activate: false })).body.version).toBe(2);
});

afterAll(async () => {
  await server?.close().catch(() => {});
});

describe('options.verity_min_version', () => {
  it('decides at once when the cached view is that version', async () => {
    const answer = await ask({ verity_min_version: 1 });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
    expect(answer.body.context.reason_admin.policy_version).toBe(1);
  });

  it('reads the store when the cached view is older: a write the cache has not heard of is seen', async () => {
    // Activate version 2 in the store behind the server's back (no change notification): the
    // same position as a replica whose listener has not yet delivered another replica's push.
    await server.components.store.policies.activate('acme', 2);
    expect((await ask()).body.decision).toBe(true); // the cache still holds version 1
    const fresh = await ask({ verity_min_version: 2 });
    expect(fresh.status).toBe(200);
    expect(fresh.body.decision).toBe(false);
    expect(fresh.body.context.reason_admin.policy_version).toBe(2);
    // The read refreshed the cache: requests without the token now see version 2 too.
    expect((await ask()).body.decision).toBe(false);
  });

  it('applies to batches (evaluations)', async () => {
    expect((await server.admin.post('/admin/v1/tenants/acme/policies', { ...PERMIT, message: 'v3', activate: false })).body.version).toBe(3);
    await server.components.store.policies.activate('acme', 3); // unheard of, as above
    const answer = await askBatch({ verity_min_version: 3, verity_context: true });
    expect(answer.status).toBe(200);
    expect(answer.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, true]);
    expect(answer.body.evaluations[0].context.reason_admin.policy_version).toBe(3);
  });

  it('after a rollback, a token naming the rolled-back version is answered on the current state', async () => {
    expect((await server.admin.post('/admin/v1/tenants/acme/policies/activate', { version: 2 })).status).toBe(200);
    expect((await ask({ verity_min_version: 2 })).body.decision).toBe(false);
    // Roll back to 1: the state in which 2 was active is older than the current one.
    expect((await server.admin.post('/admin/v1/tenants/acme/policies/activate', { version: 1 })).status).toBe(200);
    const answer = await ask({ verity_min_version: 2 });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
    expect(answer.body.context.reason_admin.policy_version).toBe(1);
  });

  it('refuses a version that was never pushed (404)', async () => {
    const answer = await ask({ verity_min_version: 99 });
    expect(answer.status).toBe(404);
    expect(answer.body.code).toBe('ERR_POLICY_VERSION_NOT_FOUND');
    expect((await askBatch({ verity_min_version: 99 })).body.code).toBe('ERR_POLICY_VERSION_NOT_FOUND');
  });

  it.each([0, -1, 1.5, '2', null, true, {}, 2 ** 53])('refuses a malformed token %j (400)', async (value) => {
    const answer = await ask({ verity_min_version: value });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    expect(answer.body.message).toMatch(/verity_min_version/);
  });

  it('answers 503 ERR_STORE_UNAVAILABLE (with Retry-After) when the store cannot be read', async () => {
    expect((await server.admin.post('/admin/v1/tenants/acme/policies', { ...PERMIT, message: 'v4', activate: false })).body.version).toBe(4);
    expect((await ask()).status).toBe(200); // the push dropped the cached view: read it again (3)
    await server.components.store.policies.activate('acme', 4); // the cached view is older: the token needs the store
    await server.components.store.db.close();
    const answer = await ask({ verity_min_version: 4 });
    expect(answer.body.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^[0-9]+$/);
  });
});
