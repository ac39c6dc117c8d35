/**
 * attack12: deleting a tenant lifts its workloads' deny list. docs/workload-identity.md: a removed
 * workload's SPIFFE id is denied "until every SVID issued to it has expired ... by the PDP in every
 * decision that names it as caller ... (in any tenant: the owner's deny list decides)". Deleting
 * the owner tenant deletes that deny list with it while the SVID (1 h by default) is still live, so
 * the removed workload is accepted as caller again in every other tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateSvidKey } from '@verity/workload';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
});
afterAll(async () => {
  await server?.close();
});

const CALLER = 'spiffe://owner.verity.internal/gateway';
const askShop = () => admin.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { caller: CALLER } });

describe('DELETE /admin/v1/tenants/{t} and the deny list of its removed workloads', () => {
  it('a removed workload whose SVID is still live stays refused as caller after its tenant is deleted', async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'owner' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants', { id: 'shop' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    // The owner's workload gets an X.509-SVID (valid 1 h), then is removed (compromised).
    const workload = await admin.post('/admin/v1/tenants/owner/workloads', { spiffe_id: CALLER });
    const joinToken = await admin.post(`/admin/v1/tenants/owner/workloads/${workload.body.id}/join-tokens`, {});
    const csr = await createCsr((await generateSvidKey()).privateKeyPem);
    expect((await createClient(server.url, null).post('/workload/v1/tenants/owner/attest', { attestor: 'join_token', join_token: joinToken.body.join_token, csr })).status).toBe(200);
    const removed = await admin.request('DELETE', `/admin/v1/tenants/owner/workloads/${workload.body.id}`);
    expect(Date.parse(removed.body.denied_until)).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect((await askShop()).body.decision).toBe(false);

    expect((await admin.request('DELETE', '/admin/v1/tenants/owner')).status).toBe(200);
    // Its SVID is still live (denied_until is ahead), but the deny list went with the tenant.
    expect(Date.parse(removed.body.denied_until)).toBeGreaterThan(Date.now());
    const after = await askShop();
    expect(after.body.decision, JSON.stringify(after.body)).toBe(false);
  });
});
