/** OpenID AuthZEN Authorization API 1.0: evaluation, evaluations, search, metadata. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  isVerityError,
  parseEvaluationRequest,
  parseEvaluationsRequest,
  parseSearchRequest,
  type AuthzenEvaluationRequest,
  type DecisionRecord,
  type SearchKind,
} from '@verity/core';
import { metaOf, requireDecide, type Components } from './context.js';

/** The decision's identity and provenance, in the response `context` (AuthZEN §6.2). */
function decisionContext(record: DecisionRecord) {
  return {
    id: record.decisionId,
    reason_admin: { policy_version: record.policyVersion, determining_policies: record.reasons, errors: record.errors },
  };
}

/**
 * Decision routes for one tenant, resolved per request by `tenantOf` (the path parameter, or
 * the configured default tenant for the root paths).
 */
export function registerAuthzenRoutes(app: FastifyInstance, c: Components, tenantOf: (request: FastifyRequest) => string): void {
  app.post('/access/v1/evaluation', async (request) => {
    const tenant = tenantOf(request);
    await requireDecide(c, request, tenant);
    const record = await c.decisions.decideAuthzen(tenant, parseEvaluationRequest(request.body), metaOf(request));
    return { decision: record.decision === 'allow', context: decisionContext(record) };
  });

  app.post('/access/v1/evaluations', async (request) => {
    const tenant = tenantOf(request);
    await requireDecide(c, request, tenant);
    // Resolve the tenant before anything else, so an unknown tenant is a 404 even when every
    // item is invalid on its own.
    await c.policies.active(tenant);
    const batch = parseEvaluationsRequest(request.body);
    const meta = metaOf(request);
    const options = (request.body as { options?: { verity_context?: unknown } }).options;
    // Items carry only `decision` unless asked: the interop harness compares items exactly.
    const withContext = !batch.batch || options?.verity_context === true;
    await c.decisions.prefetch(tenant, batch.evaluations.filter((item): item is AuthzenEvaluationRequest => !isVerityError(item)));
    const evaluations: Array<Record<string, unknown>> = [];
    for (const item of batch.evaluations) {
      if (isVerityError(item)) {
        evaluations.push({ decision: false, context: { error: { status: item.status, code: item.code, message: item.message } } });
        if (batch.semantic === 'deny_on_first_deny') break;
        continue;
      }
      const record = await c.decisions.decideAuthzen(tenant, item, meta);
      const allowed = record.decision === 'allow';
      evaluations.push(withContext ? { decision: allowed, context: decisionContext(record) } : { decision: allowed });
      if ((batch.semantic === 'deny_on_first_deny' && !allowed) || (batch.semantic === 'permit_on_first_permit' && allowed)) break;
    }
    return { evaluations };
  });

  for (const kind of ['subject', 'resource', 'action'] as SearchKind[]) {
    app.post(`/access/v1/search/${kind}`, async (request) => {
      const tenant = tenantOf(request);
      await requireDecide(c, request, tenant);
      return c.search.search(tenant, parseSearchRequest(kind, request.body), metaOf(request));
    });
  }
}

/** AuthZEN PDP metadata (§9) for the tenant served at `base`. */
export function authzenMetadata(base: string) {
  return {
    policy_decision_point: base,
    access_evaluation_endpoint: `${base}/access/v1/evaluation`,
    access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    search_subject_endpoint: `${base}/access/v1/search/subject`,
    search_resource_endpoint: `${base}/access/v1/search/resource`,
    search_action_endpoint: `${base}/access/v1/search/action`,
  };
}
