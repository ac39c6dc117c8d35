/** `GET /tenants/{t}/bundle`: the tenant's signed policy bundle, for PEPs that decide in-process. */
import type { FastifyInstance } from 'fastify';
import { requireDecide, tenantParam, type Components } from './context.js';

export function registerBundleRoutes(app: FastifyInstance, c: Components): void {
  app.get('/tenants/:tenant/bundle', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    const signed = await c.bundles.build(tenant);
    reply.header('cache-control', 'no-store');
    return signed;
  });
}
