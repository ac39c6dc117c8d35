/** Admin API for signed audit checkpoints: make one now, or fetch the latest with its public key. */
import type { FastifyInstance } from 'fastify';
import { requireAdmin, tenantParam, type Components } from './context.js';

export function registerAuditCheckpointRoutes(app: FastifyInstance, c: Components): void {
  app.post('/admin/v1/tenants/:tenant/audit/checkpoints', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    const checkpoint = await c.auditCheckpoints.make(tenant);
    reply.code(201);
    return checkpoint;
  });

  app.get('/admin/v1/tenants/:tenant/audit/checkpoints/latest', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    return c.auditCheckpoints.latest(tenant);
  });
}
