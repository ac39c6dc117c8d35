/**
 * What PEPs report back: decisions they made in-process (local mode), shipped in batches at
 * least once, and the drift check that compares the tiers of one request.
 */
import type { FastifyInstance } from 'fastify';
import { requireAdmin, requireDecide, tenantParam, type Components } from './context.js';

export function registerPepAuditRoutes(app: FastifyInstance, c: Components): void {
  // At-least-once from PEPs: a batch delivered twice is chained once.
  app.post('/tenants/:tenant/audit/v1/decisions', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    return c.auditLog.ingest(tenant, (request.body as { records?: unknown } | undefined)?.records);
  });

  app.get('/admin/v1/tenants/:tenant/audit/drift', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    const q = request.query as Record<string, string | undefined>;
    const limit = Math.min(Math.max(Number(q.limit ?? 1000) || 1000, 1), 5000);
    return c.auditLog.drift(tenant, {
      limit,
      ...(q.requestId ? { requestId: q.requestId } : {}),
      ...(q.after ? { after: Math.max(0, Number(q.after) || 0) } : {}),
    });
  });
}
