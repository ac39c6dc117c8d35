/**
 * attack12: an unauthenticated request makes the server create a new workload CA for a deleted
 * tenant. docs/http-api.md (DELETE /tenants/{t}): every row of the tenant goes, "workloads and their
 * CA" included, and every view of it is dropped. The trust-domain cache is not dropped on a
 * `tenant` change, so a federating tenant's token endpoint still maps a JWT-SVID claiming the
 * deleted tenant's trust domain to it, and the CA service creates (and stores) a fresh CA for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, SignJWT } from 'jose';
import { startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
});
afterAll(async () => {
  await server?.close();
});

describe('DELETE /admin/v1/tenants/{t} and its workload CA', () => {
  it('no request brings back a CA of the deleted tenant', async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'platform' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants', { id: 'shop', settings: { federated_tenants: ['platform'] } })).status).toBe(201);
    expect((await admin.get('/admin/v1/tenants/platform/ca')).status).toBe(200); // the CA exists, its trust domain is looked up
    expect((await admin.request('DELETE', '/admin/v1/tenants/platform')).status).toBe(200);
    expect((await server.components.store.workloads.authorities('platform')).x509).toHaveLength(0);

    // Anyone: a self-signed "JWT-SVID" of the deleted tenant's trust domain at the federating tenant's token endpoint.
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ sub: 'spiffe://platform.verity.internal/gw', aud: `${server.url}/tenants/shop/oauth2/token`, iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(privateKey);
    const answer = await fetch(`${server.url}/tenants/shop/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token', audience: 'shop.verity.internal', subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
    });
    expect(answer.status).toBe(401);
    const stored = await server.components.store.workloads.authorities('platform');
    expect(stored.x509.length + stored.jwt.length, 'CA rows of the deleted tenant').toBe(0);
  });
});
