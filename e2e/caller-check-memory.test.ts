/**
 * A PEP's credential check is a decision in `_system` (the `decide` action). Its allows are not
 * audited, so the PDP remembers them per system policy view: repeated decisions with one
 * credential cost one `_system` decision, not one each. The credential itself is still
 * authenticated on every request: a revoked or rotated one is refused at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCedarEngine } from '@verity/core/cedar';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

describe("the PEP credential check is not repeated per request", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let pep: Client;
  let pepId: string;
  beforeAll(async () => {
    server = await startTestServer({ demo: true });
    const created = await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'demo', label: 'demo gateway' });
    expect(created.status).toBe(201);
    pep = createClient(server.url, created.body.token);
    pepId = created.body.credential?.id ?? created.body.id;
  });
  afterAll(() => server.close());

  let n = 0;
  // A new resource each time, so no decision is answered from any cache.
  // Beth, a viewer of the demo tenant, reads todos: an allow the demo's policies decide.
  const ask = () =>
    pep.post('/tenants/demo/access/v1/evaluation', { subject: { type: 'user', id: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: `t${n++}` } });
  const decisions = () => {
    const stats = sharedCedarEngine().stats();
    return stats.compiledDecisions + stats.wasmDecisions;
  };

  it("after the first request, ten more cost ten engine decisions (the demo tenant's), none for the credential: not twenty", async () => {
    expect((await ask()).status).toBe(200);
    const before = decisions();
    for (let i = 0; i < 10; i++) expect(await ask()).toMatchObject({ status: 200, body: { decision: true } });
    expect(decisions() - before).toBe(10);
  });

  it('a remembered allow is for its tenant only, and a rotated token is refused at once', async () => {
    const other = await server.admin.post('/admin/v1/tenants', { id: 'other' });
    expect(other.status).toBe(201);
    expect((await ask()).status).toBe(200);
    const elsewhere = await pep.post('/tenants/other/access/v1/evaluation', { subject: { type: 'user', id: 'x' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 't' } });
    expect(elsewhere.body.code).toBe('ERR_AUTH_FORBIDDEN');
    const rotated = await server.admin.post(`/admin/v1/credentials/${pepId}/rotate`, {});
    expect(rotated.status).toBe(200);
    expect((await ask()).body.code).toBe('ERR_AUTH_INVALID');
    pep = createClient(server.url, rotated.body.token);
    expect((await ask()).status).toBe(200);
  });

  it('still refuses the credential at once when it is revoked', async () => {
    expect((await ask()).status).toBe(200);
    const revoked = await server.admin.post(`/admin/v1/credentials/${pepId}/revoke`, {});
    expect(revoked.status).toBe(200);
    expect((await ask()).body.code).toBe('ERR_AUTH_INVALID');
  });
});
