/**
 * attack12: a deleted tenant's signed audit checkpoints cannot be read. docs/http-api.md (DELETE
 * /tenants/{t}): "Kept: the audit, readable and verifiable by platform admins at
 * /tenants/{t}/audit…". The checkpoints are kept in the store (audit_checkpoints) but
 * GET /tenants/{t}/audit/checkpoints/latest answers 404 ERR_TENANT_NOT_FOUND once the tenant is
 * deleted, so the signed head that proves the chain's tail is no longer exportable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('DELETE /admin/v1/tenants/{t} and its audit checkpoints', () => {
  it('the latest checkpoint stays readable with the rest of the kept audit', async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'gone' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants/gone/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    await admin.post('/tenants/gone/access/v1/evaluation', { subject: { type: 'User', id: 'a' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    const made = await admin.post('/admin/v1/tenants/gone/audit/checkpoints', {});
    expect(made.status).toBe(201);
    expect((await admin.request('DELETE', '/admin/v1/tenants/gone')).status).toBe(200);
    expect((await admin.get('/admin/v1/tenants/gone/audit/verify')).body.ok).toBe(true); // the audit itself is kept
    const latest = await admin.get('/admin/v1/tenants/gone/audit/checkpoints/latest');
    expect([latest.status, latest.body.jws], JSON.stringify(latest.body)).toEqual([200, made.body.jws]);
  });
});
