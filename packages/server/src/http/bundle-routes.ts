/**
 * `GET /tenants/{t}/bundle`: the tenant's signed policy bundle, for PEPs that decide in-process;
 * `GET /tenants/{t}/bundle/keys`: the keys it is signed with and their thumbprints, to pin.
 */
import type { FastifyInstance } from 'fastify';
import { requireAdmin, tenantParam, type Components } from './context.js';

export function registerBundleRoutes(app: FastifyInstance, c: Components): void {
  // Never open, even when decisions are: a bundle holds every entity, the policies, the identity
  // sources and the revocations. `bundle.read` is its own grant in the system policies.
  app.get('/tenants/:tenant/bundle', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'bundle.read', tenant);
    const signed = await c.bundles.build(tenant);
    reply.header('cache-control', 'no-store');
    return signed;
  });

  app.get('/tenants/:tenant/bundle/keys', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'bundle.read', tenant);
    const keys = await c.bundles.keys(tenant);
    reply.header('cache-control', 'no-store');
    return keys;
  });
}
