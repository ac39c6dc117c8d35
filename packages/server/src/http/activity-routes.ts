/**
 * Per-subject activity over HTTP (docs/http-api.md, "Per-subject activity"): erase what the risk
 * engine keeps of one subject. A decision in `_system` (`entity.write`: the tenant's data about
 * its subjects).
 */
import type { FastifyInstance } from 'fastify';
import { VerityError } from '@verity/core';
import { requireAdmin, tenantParam, type Components } from './context.js';

export function registerActivityRoutes(app: FastifyInstance, c: Components): void {
  app.delete('/admin/v1/tenants/:tenant/activity', async (request) => {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, 'entity.write', tenant);
    await c.tenants.get(tenant);
    const subject = (request.query as { subject?: unknown }).subject;
    if (!(await c.activity.erase(tenant, subject as string))) throw new VerityError('ERR_ACTIVITY_NOT_FOUND', 'nothing is kept of this subject');
    return { erased: true };
  });
}
