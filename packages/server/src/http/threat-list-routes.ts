/**
 * IP reputation over HTTP (docs/http-api.md, "IP reputation"): import a threat list by source
 * (replacing it whole), list the lists, remove one. Each call is a decision in `_system`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireAdmin, tenantParam, type Components } from './context.js';

/** The `{source}` of the path, as given (the service checks its form). */
const sourceParam = (request: FastifyRequest): string => String((request.params as { source?: unknown }).source ?? '');

export function registerThreatListRoutes(app: FastifyInstance, c: Components): void {
  const base = '/admin/v1/tenants/:tenant/threat-lists';
  /** The tenant of an admin call, once the credential may `action` on it and it exists. */
  async function authorized(request: FastifyRequest, action: 'threat-list.read' | 'threat-list.manage'): Promise<string> {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, action, tenant);
    await c.tenants.get(tenant);
    return tenant;
  }

  // A list of 100,000 ranges is a few MB: the admin body limit, not the decision one.
  app.put(`${base}/:source`, { bodyLimit: c.config.maxAdminBodyBytes }, async (request) => c.threatLists.import(await authorized(request, 'threat-list.manage'), sourceParam(request), request.body));

  app.get(base, async (request) => ({ threat_lists: await c.threatLists.list(await authorized(request, 'threat-list.read')) }));

  app.delete(`${base}/:source`, async (request) => {
    await c.threatLists.remove(await authorized(request, 'threat-list.manage'), sourceParam(request));
    return { removed: true };
  });
}
