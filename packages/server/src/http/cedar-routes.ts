/** Cedar-native decisions, like Verified Permissions' IsAuthorized and BatchIsAuthorized. */
import type { FastifyInstance } from 'fastify';
import { assertNoDuplicateEntities, createEngineBudget, isPlainObject, parseEntityUid, toCedarRecord, VerityError, type CedarRequest, type DecisionRecord, type EntityUid } from '@verity/core';
import { parseEntities } from '../entity-service.js';
import { settleAuditWaits } from '../decision-service.js';
import { metaOf, requireDecide, tenantParam, type Components } from './context.js';

const MAX_BATCH = 100;

function invalid(message: string): VerityError {
  return new VerityError('ERR_DECISION_INVALID_REQUEST', message);
}

function uidOf(value: unknown, path: string): EntityUid {
  if (typeof value === 'string') {
    const parsed = parseEntityUid(value);
    if (parsed) return parsed;
  } else if (typeof value === 'object' && value !== null) {
    const v = value as { type?: unknown; id?: unknown };
    if (typeof v.type === 'string' && v.type !== '' && typeof v.id === 'string') return { type: v.type, id: v.id };
  }
  throw invalid(`${path} must be {"type", "id"} or "Type::\\"id\\""`);
}

function requestOf(value: unknown, path: string): CedarRequest {
  if (!isPlainObject(value)) throw invalid(`${path} must be an object`);
  const context = value.context ?? {};
  if (!isPlainObject(context)) throw invalid(`${path}.context must be an object`);
  return {
    principal: uidOf(value.principal, `${path}.principal`),
    action: uidOf(value.action, `${path}.action`),
    resource: uidOf(value.resource, `${path}.resource`),
    context: toCedarRecord(context, `${path}.context`),
  };
}

function resultOf(record: DecisionRecord) {
  return { decision: record.decision, decisionId: record.decisionId, policyVersion: record.policyVersion, determiningPolicies: record.reasons, errors: record.errors };
}

export function registerCedarRoutes(app: FastifyInstance, c: Components): void {
  app.post('/tenants/:tenant/cedar/v1/is-authorized', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const provided = body.entities === undefined ? [] : parseEntities(body.entities);
    const record = await c.decisions.decide({ tenant, request: { kind: 'cedar', request: requestOf(request.body, 'request'), entities: provided }, meta: metaOf(request) });
    return resultOf(record);
  });

  app.post('/tenants/:tenant/cedar/v1/batch-is-authorized', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    const body = request.body as Record<string, unknown> | undefined;
    if (!body || !Array.isArray(body.requests) || body.requests.length === 0 || body.requests.length > MAX_BATCH) {
      throw invalid(`requests must be an array of 1 to ${MAX_BATCH} requests`);
    }
    const provided = body.entities === undefined ? [] : parseEntities(body.entities);
    // Validate every item (and the shared entities) before deciding any, so a bad batch
    // leaves no partial audit trail.
    assertNoDuplicateEntities(provided, 'entities');
    const requests = body.requests.map((item, i) => requestOf(item, `requests[${i}]`));
    const meta = metaOf(request);
    // The requests share one engine-time budget (MAX_BATCH_ESTIMATE_MS): past it the batch is
    // refused with ERR_DECISION_LIMIT (Cedar's batch answer has no per-request error).
    const budget = createEngineBudget();
    const results = [];
    // The records are committed together, and the answer waits for all of them.
    const auditWaits: Array<Promise<void>> = [];
    for (const cedar of requests) results.push(resultOf(await c.decisions.decide({ tenant, request: { kind: 'cedar', request: cedar, entities: provided }, meta, budget, auditWaits })));
    await settleAuditWaits(auditWaits);
    return { results };
  });
}
