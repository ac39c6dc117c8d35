/**
 * What PEPs report back: decisions they made in-process (local mode), shipped in batches at
 * least once, and the drift check that compares the tiers of one request.
 */
import type { FastifyInstance } from 'fastify';
import { isRequestId, isTierLabel, VerityError, type AuditEvent, type DecisionRecord, type EntityUid } from '@verity/core';
import { requireAdmin, requireDecide, tenantParam, type Components } from './context.js';
import { requireTenant } from '../require-tenant.js';

const MAX_RECORDS = 1000;

function invalid(message: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', message);
}

function uid(value: unknown, path: string): EntityUid {
  const v = value as { type?: unknown; id?: unknown } | null;
  if (typeof v?.type !== 'string' || typeof v.id !== 'string' || v.type === '' || v.type.length > 256 || v.id.length > 1024) throw invalid(`${path} must be {type, id}`);
  return { type: v.type, id: v.id };
}

/** One PEP-made decision, checked field by field; it must belong to the tenant of the path. */
function parseRecord(value: unknown, tenant: string, i: number): DecisionRecord {
  const r = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const path = `records[${i}]`;
  if (!isRequestId(r.decisionId)) throw invalid(`${path}.decisionId must be an id`);
  if (typeof r.time !== 'string' || Number.isNaN(Date.parse(r.time)) || r.time.length > 40) throw invalid(`${path}.time must be an ISO time`);
  if (r.tenant !== tenant) throw invalid(`${path}.tenant must be "${tenant}"`);
  if (r.decision !== 'allow' && r.decision !== 'deny') throw invalid(`${path}.decision must be allow or deny`);
  if (typeof r.policyVersion !== 'number' || !Number.isInteger(r.policyVersion) || r.policyVersion < 0) throw invalid(`${path}.policyVersion must be a version number`);
  if (typeof r.latencyUs !== 'number' || !Number.isFinite(r.latencyUs) || r.latencyUs < 0) throw invalid(`${path}.latencyUs must be a number`);
  const optional = (v: unknown, name: string, valid: (v: unknown) => v is string) => {
    if (v === null || v === undefined) return null;
    if (!valid(v)) throw invalid(`${path}.${name} must be a short token`);
    return v;
  };
  const reasons = r.reasons ?? [];
  if (!Array.isArray(reasons) || reasons.some((x) => typeof x !== 'string' || x.length > 256)) throw invalid(`${path}.reasons must be policy ids`);
  const errors = r.errors ?? [];
  if (!Array.isArray(errors) || errors.some((e) => typeof e?.policyId !== 'string' || typeof e?.message !== 'string')) throw invalid(`${path}.errors must be [{policyId, message}]`);
  return {
    decisionId: r.decisionId,
    time: r.time,
    tenant,
    requestId: optional(r.requestId, 'requestId', isRequestId),
    tier: optional(r.tier, 'tier', isTierLabel),
    principal: uid(r.principal, `${path}.principal`),
    action: uid(r.action, `${path}.action`),
    resource: uid(r.resource, `${path}.resource`),
    decision: r.decision,
    reasons: reasons as string[],
    errors: (errors as Array<{ policyId: string; message: string }>).map((e) => ({ policyId: e.policyId.slice(0, 256), message: e.message.slice(0, 1024) })),
    policyVersion: r.policyVersion,
    latencyUs: r.latencyUs,
    ...(r.observed === true ? { observed: true as const } : {}),
  };
}

export interface TierReport {
  tier: string | null;
  decision: 'allow' | 'deny';
  policyVersion: number;
  decisionId: string;
}

/** The tiers of each request id, and whether they disagree on policy version or decision. */
export function findDrift(events: readonly AuditEvent[]): Array<{ requestId: string; tiers: TierReport[]; versionDrift: boolean; decisionDrift: boolean }> {
  const byRequest = new Map<string, TierReport[]>();
  for (const event of events) {
    if (!event.requestId || event.policyVersion === 0) continue;
    const tiers = byRequest.get(event.requestId) ?? [];
    tiers.push({ tier: event.tier, decision: event.decision, policyVersion: event.policyVersion, decisionId: event.decisionId });
    byRequest.set(event.requestId, tiers);
  }
  return [...byRequest]
    .filter(([, tiers]) => tiers.length > 1)
    .map(([requestId, tiers]) => ({
      requestId,
      tiers,
      versionDrift: new Set(tiers.map((t) => t.policyVersion)).size > 1,
      decisionDrift: new Set(tiers.map((t) => t.decision)).size > 1,
    }));
}

export function registerPepAuditRoutes(app: FastifyInstance, c: Components): void {
  // At-least-once from PEPs: a batch delivered twice is chained once (skipExisting).
  app.post('/tenants/:tenant/audit/v1/decisions', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    await requireTenant(c.store, tenant);
    const records = (request.body as { records?: unknown } | undefined)?.records;
    if (!Array.isArray(records) || records.length === 0 || records.length > MAX_RECORDS) throw invalid(`records must be an array of 1 to ${MAX_RECORDS} decisions`);
    const parsed = records.map((record, i) => parseRecord(record, tenant, i));
    await c.audit.flush();
    await c.store.audit.append(parsed, { skipExisting: true });
    return { accepted: parsed.length };
  });

  app.get('/admin/v1/tenants/:tenant/audit/drift', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'audit.read', tenant);
    await requireTenant(c.store, tenant);
    const q = request.query as Record<string, string | undefined>;
    await c.audit.flush();
    const limit = Math.min(Math.max(Number(q.limit ?? 1000) || 1000, 1), 5000);
    const events = q.requestId
      ? await c.store.audit.query(tenant, { limit, requestId: q.requestId })
      : await c.store.audit.query(tenant, { limit, ...(q.after ? { after: Math.max(0, Number(q.after) || 0) } : {}) });
    const last = events.at(-1);
    return { requests: findDrift(events).filter((r) => q.requestId || r.versionDrift || r.decisionDrift), next: events.length === limit && last ? last.seq : null };
  });
}
