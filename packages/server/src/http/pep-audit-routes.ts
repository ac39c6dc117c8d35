/**
 * What PEPs report back: decisions they made in-process (local mode), shipped in batches at
 * least once, and the drift check that compares the tiers of one request.
 */
import type { FastifyInstance } from 'fastify';
import { VerityError } from '@verity/core';
import { requireAdmin, tenantParam, type Components } from './context.js';

export function registerPepAuditRoutes(app: FastifyInstance, c: Components): void {
  // At-least-once from PEPs: a batch delivered twice is chained once. Always authenticated, even
  // with open decisions: what lands here is evidence. The tenant is the credential's own (the
  // path must name it); `_system` is written by Verity alone.
  app.post('/tenants/:tenant/audit/v1/decisions', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const credential = await requireAdmin(c, request, 'audit.report', tenant);
    if (credential.tenant !== tenant) throw new VerityError('ERR_AUTH_FORBIDDEN', 'only a PEP credential of this tenant may report its decisions');
    return c.auditLog.ingest(credential.tenant, (request.body as { records?: unknown } | undefined)?.records, credential);
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
