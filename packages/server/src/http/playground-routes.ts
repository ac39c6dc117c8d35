/**
 * The policy playground and explain (issue 14, docs/explain.md): draft policies decided on a
 * request with the tenant's schema, settings and entities, or a request decided on the active
 * version, each with why; nothing stored or audited as a decision. Admin calls (`policy.test` in
 * `_system`, audited there like every admin call): the answers show policy internals and what the
 * stored entities hold, so they are never open to PEP credentials.
 */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, parseEvaluationRequest, VerityError } from '@verity/core';
import { parseEntities } from '../entity-service.js';
import { createPlaygroundService } from '../playground-service.js';
import { metaOf, requireAdmin, tenantParam, type Components } from './context.js';

const PLAYGROUND_KEYS = new Set(['policies', 'request', 'entities']);

/** `{policies, request, entities?}`, checked for shape; Cedar and the pipeline check the rest. */
function parsePlaygroundBody(body: unknown) {
  if (!isPlainObject(body)) throw new VerityError('ERR_REQUEST_INVALID', 'the body must be a JSON object {policies, request, entities?}');
  const unknown = Object.keys(body).find((key) => !PLAYGROUND_KEYS.has(key));
  if (unknown !== undefined) throw new VerityError('ERR_REQUEST_INVALID', `unknown key "${unknown.slice(0, 64)}": the body is {policies, request, entities?}`);
  if (typeof body.policies !== 'string') throw new VerityError('ERR_REQUEST_INVALID', 'policies must be Cedar policy text (a string)');
  return {
    policies: body.policies,
    request: parseEvaluationRequest(body.request, 'request'),
    entities: body.entities === undefined ? [] : parseEntities(body.entities),
  };
}

/**
 * What a PEP's evaluation body may carry that changes the PDP's answer but that explain does not
 * honour, with why: refused (400 ERR_REQUEST_INVALID naming it), never dropped, so explain never
 * answers allow for a body the PDP would refuse (docs/explain.md).
 */
const NOT_EXPLAINED: ReadonlyArray<[path: string, why: string]> = [
  ['token', 'explain verifies no subject token: give the principal it proves as the subject'],
  ['audience', 'explain verifies no subject token: give the principal it proves as the subject'],
  ['options.verity_txn_token', 'explain verifies no Txn-Token'],
  ['options.verity_min_version', 'explain decides on the active version as it is now (the answer names it: policyVersion)'],
  ['options.verity_receipt', 'explain mints no receipt'],
];

/** An evaluation body for explain: {subject, action, resource, context?}, refusing what explain does not honour. */
function parseExplainBody(body: unknown) {
  if (isPlainObject(body)) {
    for (const [path, why] of NOT_EXPLAINED) {
      const [first, second] = path.split('.') as [string, string | undefined];
      const holder = second === undefined ? body : body[first];
      if (isPlainObject(holder) && Object.hasOwn(holder, second ?? first)) throw new VerityError('ERR_REQUEST_INVALID', `${path} is not taken by explain: ${why}`);
    }
  }
  return parseEvaluationRequest(body, 'request');
}

export function registerPlaygroundRoutes(app: FastifyInstance, c: Components): void {
  const playground = createPlaygroundService({ engine: c.engine, tenants: c.tenants, policies: c.policies, entities: c.entities, decisions: c.decisions });
  const admin = { bodyLimit: c.config.maxAdminBodyBytes };

  app.post('/admin/v1/tenants/:tenant/playground', admin, async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.test', tenant);
    const input = parsePlaygroundBody(request.body);
    return playground.playground(tenant, { ...input, meta: metaOf(request) });
  });

  // The decision the PDP would make now, on the active version, explained; not audited as a decision.
  app.post('/admin/v1/tenants/:tenant/explain', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.test', tenant);
    return playground.explain(tenant, parseExplainBody(request.body), metaOf(request));
  });
}
