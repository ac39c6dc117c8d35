/** Admin API for a tenant's entities (the PIP) and its audit trail. */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, VerityError } from '@verity/core';
import { requireAdmin, tenantParam, type Components } from './context.js';

/** An integer query parameter `name` in [min, max] (`fallback` when absent), else ERR_REQUEST_INVALID naming it. */
export function integerParam(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value === '' || !Number.isInteger(n) || n < min || n > max) throw new VerityError('ERR_REQUEST_INVALID', `${name} must be an integer from ${min} to ${max}`);
  return n;
}

const limitOf = (value: unknown, fallback: number, max: number): number => integerParam(value, 'limit', 1, max, fallback);

const DURATION_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `since`: a duration back from now (`90s`, `30m`, `24h`, `7d`; default 24h) or an ISO-8601
 * time; epoch ms. ERR_REQUEST_INVALID otherwise.
 */
export function sinceOf(value: string | undefined): number {
  const text = value ?? '24h';
  const duration = /^(\d{1,9})([smhd])$/.exec(text);
  const at = duration
    ? Date.now() - Number(duration[1]) * (DURATION_MS[duration[2]!] ?? 0)
    : /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(text)
      ? Date.parse(text)
      : Number.NaN;
  // A duration reaching past the earliest time a Date holds (ECMA-262 §21.4.1.1, ±8.64e15 ms) is no time either.
  if (Number.isNaN(new Date(at).getTime())) throw new VerityError('ERR_REQUEST_INVALID', 'since must be a duration (90s, 30m, 24h, 7d) or an ISO-8601 time');
  return at;
}

function uidParam(params: unknown) {
  const { type, id } = params as { type: string; id: string };
  if (!type || !id) throw new VerityError('ERR_ENTITY_INVALID', 'entity type and id are required');
  return { type, id };
}

export function registerDataRoutes(app: FastifyInstance, c: Components): void {
  const admin = { bodyLimit: c.config.maxAdminBodyBytes };

  app.put('/admin/v1/tenants/:tenant/entities', admin, async (request) => {
    const tenant = tenantParam(request, { write: true });
    const b = request.body as { entities?: unknown; mode?: unknown } | undefined;
    const mode = b?.mode ?? 'merge';
    if (mode !== 'merge' && mode !== 'replace') throw new VerityError('ERR_REQUEST_INVALID', 'mode must be "merge" or "replace"');
    await requireAdmin(c, request, 'entity.write', tenant);
    return { imported: await c.entities.import(tenant, b?.entities, mode) };
  });

  app.get('/admin/v1/tenants/:tenant/entities', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'entity.read', tenant);
    const q = request.query as Record<string, string | undefined>;
    return c.entities.list(tenant, { limit: limitOf(q.limit, 100, 1000), ...(q.type ? { type: q.type } : {}), ...(q.after ? { after: q.after } : {}) });
  });

  app.get('/admin/v1/tenants/:tenant/entities/:type/:id', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'entity.read', tenant);
    return c.entities.get(tenant, uidParam(request.params));
  });

  app.put('/admin/v1/tenants/:tenant/entities/:type/:id', admin, async (request) => {
    const tenant = tenantParam(request, { write: true });
    const uid = uidParam(request.params);
    const b = request.body;
    if (!isPlainObject(b)) throw new VerityError('ERR_ENTITY_INVALID', 'the body must be an entity object {attrs, parents, tags}');
    await requireAdmin(c, request, 'entity.write', tenant);
    await c.entities.import(tenant, [{ ...b, uid }], 'merge');
    return c.entities.get(tenant, uid);
  });

  app.delete('/admin/v1/tenants/:tenant/entities/:type/:id', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, 'entity.write', tenant);
    await c.entities.remove(tenant, uidParam(request.params));
    reply.code(204);
  });

  app.get('/admin/v1/tenants/:tenant/audit', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    const q = request.query as Record<string, string | undefined>;
    const decision = q.decision;
    if (decision !== undefined && decision !== 'allow' && decision !== 'deny') throw new VerityError('ERR_REQUEST_INVALID', 'decision must be allow or deny');
    return c.auditLog.query(tenant, {
      limit: limitOf(q.limit, 100, 1000),
      // `after` is a sequence number: 0 (before the first record) lists from the start.
      ...(q.after === undefined ? {} : { after: integerParam(q.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0) }),
      ...(decision === undefined ? {} : { decision }),
      ...(q.principal === undefined ? {} : { principal: q.principal }),
      ...(q.requestId === undefined ? {} : { requestId: q.requestId }),
      ...(q.txn === undefined ? {} : { txn: q.txn }),
      ...(q.caller === undefined ? {} : { caller: q.caller }),
    });
  });

  // The inventory of who calls whom, read from the audit (the migration path's map).
  app.get('/admin/v1/tenants/:tenant/workload-calls', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    const q = request.query as Record<string, string | undefined>;
    const { calls } = await c.auditLog.workloadCalls(tenant, limitOf(q.limit, 1000, 10000));
    return { calls: calls.map((call) => ({ caller: call.caller, callee: call.callee, action: call.action, allowed: call.allowed, denied: call.denied, count: call.allowed + call.denied, last_seen: call.lastSeen })) };
  });

  // Observe mode's report: the denies PEPs recorded without enforcing them, by route.
  app.get('/admin/v1/tenants/:tenant/audit/observe-report', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    const q = request.query as Record<string, string | undefined>;
    return c.auditLog.observeReport(tenant, { since: sinceOf(q.since), limit: limitOf(q.limit, 100, 1000) });
  });

  app.get('/admin/v1/tenants/:tenant/audit/verify', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    return c.auditLog.verify(tenant);
  });
}
