/**
 * Device trust over HTTP (docs/http-api.md, "Device trust"): register a device, take its MDM's
 * posture pushes, list and remove devices. Each call is a decision in `_system`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireAdmin, tenantParam, type Components } from './context.js';

/** The `{id}` of the path, as given (the device service checks its form). */
const deviceIdParam = (request: FastifyRequest): string => String((request.params as { id?: unknown }).id ?? '');

export function registerDeviceRoutes(app: FastifyInstance, c: Components): void {
  const base = '/admin/v1/tenants/:tenant/devices';
  /** The tenant of an admin call, once the credential may `action` on it and it exists. */
  async function authorized(request: FastifyRequest, action: 'device.read' | 'device.manage'): Promise<string> {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, action, tenant);
    await c.tenants.get(tenant);
    return tenant;
  }

  app.put(`${base}/:id`, async (request, reply) => {
    const { device, created } = await c.devices.register(await authorized(request, 'device.manage'), deviceIdParam(request), request.body);
    reply.code(created ? 201 : 200);
    return device;
  });

  app.post(`${base}/:id/posture`, async (request) => c.devices.report(await authorized(request, 'device.manage'), deviceIdParam(request), request.body));

  app.get(base, async (request) => ({ devices: await c.devices.list(await authorized(request, 'device.read')) }));

  app.delete(`${base}/:id`, async (request) => {
    await c.devices.remove(await authorized(request, 'device.manage'), deviceIdParam(request));
    return { removed: true };
  });
}
