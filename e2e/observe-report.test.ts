/**
 * The observe report (`GET /admin/v1/tenants/{t}/audit/observe-report`): the denies PEPs in
 * observe mode recorded without enforcing them, grouped by tier, action and resource, with their
 * principals and the policies that determined them. Enforced decisions and allows are not in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

const POLICIES = `@id("read") permit(principal, action == Action::"read", resource);
@id("no-delete") forbid(principal, action == Action::"delete", resource);
@id("delete-own") permit(principal, action == Action::"delete", resource) when { resource.owner == principal };`;

const ask = (user: string, action: string, headers: Record<string, string>) =>
  pdp.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }, headers);

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  await server.admin.post('/admin/v1/tenants', { id: 'shop' });
  expect((await server.admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': POLICIES } })).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

describe('observe report', () => {
  it('groups the unenforced denies by tier, action and resource, with principals and policies; leaves out allows and enforced denies', async () => {
    const observe = { 'x-verity-observe': 'true', 'x-verity-tier': 'gateway' };
    for (const user of ['alice', 'bob', 'alice']) expect((await ask(user, 'write', observe)).body.decision).toBe(false);
    expect((await ask('carol', 'delete', observe)).body.decision).toBe(false);
    expect((await ask('alice', 'read', observe)).body.decision).toBe(true);
    expect((await ask('dave', 'write', { 'x-verity-tier': 'gateway' })).body.decision).toBe(false); // enforced

    const report = await server.admin.get('/admin/v1/tenants/shop/audit/observe-report?since=1h');
    expect(report.status).toBe(200);
    expect(Date.parse(report.body.since)).toBeLessThan(Date.now() - 59 * 60_000);
    expect(report.body.groups).toEqual([
      { tier: 'gateway', action: 'Action::"write"', resource: 'Doc::"d1"', denied: 3, principals: 2, samplePrincipals: ['User::"alice"', 'User::"bob"'], policies: [], firstSeen: expect.any(String), lastSeen: expect.any(String) },
      { tier: 'gateway', action: 'Action::"delete"', resource: 'Doc::"d1"', denied: 1, principals: 1, samplePrincipals: ['User::"carol"'], policies: ['no-delete'], firstSeen: expect.any(String), lastSeen: expect.any(String) },
    ]);
    // A window after them: nothing.
    const later = await server.admin.get(`/admin/v1/tenants/shop/audit/observe-report?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(later.body.groups).toEqual([]);
  });

  it('refuses a since it cannot read, and callers without audit.read', async () => {
    expect((await server.admin.get('/admin/v1/tenants/shop/audit/observe-report?since=yesterday')).body.code).toBe('ERR_REQUEST_INVALID');
    const pep = await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'shop' });
    expect((await createClient(server.url, pep.body.token).get('/admin/v1/tenants/shop/audit/observe-report')).status).toBe(403);
  });
});
