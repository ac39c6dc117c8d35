/** Admin API for a tenant's identity sources, token-service clients and revocations. */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, VerityError } from '@verity/core';
import { isIdentityId, isJobId } from '@verity/identity';
import { requireAdmin, tenantParam, type Components } from './context.js';
import type { RevokeInput } from '../identity/identity-service.js';

function idParam(params: unknown): string {
  const id = (params as { id?: unknown }).id;
  if (!isIdentityId(id)) throw new VerityError('ERR_IDENTITY_SOURCE_INVALID', 'identity source ids are 1-128 letters, digits, ".", "_" or "-"');
  return id;
}

function revokeInput(body: unknown): RevokeInput {
  const b = isPlainObject(body) ? body : {};
  const text = (value: unknown) => typeof value === 'string' && value.length > 0 && value.length <= 1024;
  const only = (...keys: string[]) => ['subject', 'client', 'job', 'jti'].every((key) => keys.includes(key) || b[key] === undefined);
  if (text(b.subject) && only('subject')) return { subject: b.subject as string };
  if (text(b.client) && only('client')) return { client: b.client as string };
  if (isJobId(b.job) && only('job')) return { job: b.job };
  if (text(b.jti) && typeof b.exp === 'number' && Number.isSafeInteger(b.exp) && only('jti')) return { jti: b.jti as string, exp: b.exp };
  throw new VerityError('ERR_REQUEST_INVALID', 'send exactly one of {subject}, {client}, {job} (1-128 of [A-Za-z0-9._:-]) or {jti, exp}');
}

function jobParam(params: unknown): string {
  const id = (params as { id?: unknown }).id;
  if (!isJobId(id)) throw new VerityError('ERR_REQUEST_INVALID', 'job ids are 1-128 letters, digits, ".", "_", ":" or "-"');
  return id;
}

export function registerIdentityRoutes(app: FastifyInstance, c: Components): void {
  app.put('/admin/v1/tenants/:tenant/clients/:id', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    return c.clients.put(tenant, id, request.body);
  });

  app.get('/admin/v1/tenants/:tenant/clients', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    return { clients: await c.clients.list(tenant) };
  });

  app.delete('/admin/v1/tenants/:tenant/clients/:id', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.clients.remove(tenant, id);
    reply.code(204);
  });

  app.get('/admin/v1/tenants/:tenant/identity-sources', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    return { sources: await c.identity.listSources(tenant) };
  });

  app.put('/admin/v1/tenants/:tenant/identity-sources/:id', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    return c.identity.putSource(tenant, id, request.body);
  });

  app.delete('/admin/v1/tenants/:tenant/identity-sources/:id', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.identity.removeSource(tenant, id);
    reply.code(204);
  });

  app.post('/admin/v1/tenants/:tenant/revocations', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const input = revokeInput(request.body);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.identity.revoke(tenant, input);
    reply.code(201);
    return { revoked: input };
  });

  // The same as POST .../revocations {job}: every token of the job issued until now is refused.
  app.post('/admin/v1/tenants/:tenant/jobs/:id/revoke', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const job = jobParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.identity.revoke(tenant, { job });
    reply.code(201);
    return { revoked: { job } };
  });
}
