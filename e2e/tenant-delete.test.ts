/**
 * Deleting a tenant (`DELETE /admin/v1/tenants/{t}`, `verity tenant delete`): platform admins
 * only; everything of the tenant goes (its decisions, its credentials, its identity sources),
 * its audit stays readable and verifiable, and its id is never handed out again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInlineIdp } from './helpers/inline-idp.js';
import { createClient, createTenantWithPolicies, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
const idp = await createInlineIdp({ issuer: 'https://idp.example', audience: 'api://acme' });

const credential = async (role: string, tenant: string): Promise<Client> => {
  const answer = await server.admin.post('/admin/v1/credentials', { role, tenant });
  expect(answer.status).toBe(201);
  return createClient(server.url, answer.body.token);
};

const ask = (client: Client, tenant: string) => client.post(`/tenants/${tenant}/access/v1/evaluation`, { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });

beforeAll(async () => {
  server = await startTestServer();
  for (const tenant of ['acme', 'globex']) await createTenantWithPolicies(server.admin, tenant, 'permit(principal, action, resource);');
});

afterAll(async () => {
  await server?.close();
});

describe('DELETE /admin/v1/tenants/{t}', () => {
  it('is for platform admins; everything but the audit goes, on this server at once; other tenants are untouched', async () => {
    const pep = await credential('pep', 'acme');
    const author = await credential('policy-author', 'acme');
    const globexPep = await credential('pep', 'globex');
    expect((await server.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/idp', idp.source())).status).toBe(200);
    expect((await ask(pep, 'acme')).body.decision).toBe(true);
    const token = await idp.token();
    expect((await pep.post('/tenants/acme/access/v1/evaluation', { token, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).body.decision).toBe(true);

    // Not the tenant's own author, not the system tenant, not a tenant that does not exist.
    expect((await author.request('DELETE', '/admin/v1/tenants/acme')).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/_system')).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/nobody')).status).toBe(404);

    const deleted = await server.admin.request('DELETE', '/admin/v1/tenants/acme');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: 'acme', deleted: true, auditKept: true });

    // Gone: the tenant, its decisions (cached views included), its credentials, its token's source.
    expect((await server.admin.get('/admin/v1/tenants/acme')).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await server.admin.get('/admin/v1/tenants')).body.tenants.map((t: { id: string }) => t.id)).toEqual(['globex']);
    expect((await ask(server.admin, 'acme')).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await ask(pep, 'acme')).status).toBe(401);
    expect((await ask(author, 'acme')).status).toBe(401);
    expect((await server.admin.get('/admin/v1/tenants/acme/identity-sources')).status).toBe(404);
    expect((await server.admin.get('/admin/v1/tenants/acme/entities?limit=10')).status).toBe(404);
    // Another tenant goes on deciding, with its own credential.
    expect((await ask(globexPep, 'globex')).body.decision).toBe(true);

    // The audit is kept: the decisions made before are there, the chain verifies.
    const audit = await server.admin.get('/admin/v1/tenants/acme/audit?limit=100');
    expect(audit.status).toBe(200);
    expect(audit.body.events.length).toBeGreaterThanOrEqual(2);
    const verified = await server.admin.get('/admin/v1/tenants/acme/audit/verify');
    expect(verified.body.ok).toBe(true);
    // The deletion itself is an audited admin decision.
    const system = await server.admin.get('/admin/v1/tenants/_system/audit?limit=1000');
    expect(system.body.events.some((e: { action: { id: string }; resource: { id: string }; decision: string }) => e.action.id === 'tenant.delete' && e.resource.id === 'acme' && e.decision === 'allow')).toBe(true);

    // The id stays taken; a second delete finds nothing.
    const again = await server.admin.post('/admin/v1/tenants', { id: 'acme' });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('was deleted');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/acme')).status).toBe(404);
  });
});
