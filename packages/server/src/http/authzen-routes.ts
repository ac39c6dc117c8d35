/** OpenID AuthZEN Authorization API 1.0: evaluation, evaluations, search, metadata. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  createEngineBudget,
  isPlainObject,
  isVerityError,
  VerityError,
  parseEvaluationRequest,
  parseEvaluationsRequest,
  parseMinVersion,
  parseReceiptOption,
  parseSearchRequest,
  type AuthzenEvaluationRequest,
  type DecisionMeta,
  type DecisionRecord,
  type SearchKind,
  type VerifiedPrincipal,
  withEntry,
} from '@verity/core';
import { MAX_TXN_TOKEN_LENGTH, parseBearerToken, verifiedPrincipalOf, type ReceiptKey } from '@verity/identity';
import { isSpiffeIdText } from '../workload-gate.js';
import { settleAuditWaits } from '../decision-service.js';
import { metaOf, requireAdmin, requireDecide, type Components } from './context.js';
import type { DecisionExplanation } from '../step-up.js';

/** A decision and what its answer says beyond allow or deny. */
interface Explained {
  record: DecisionRecord;
  explanation: DecisionExplanation;
}

/** The language key of reason texts (AuthZEN's examples give reasons as language maps). */
const REASON_LANGUAGE = 'en';

/**
 * The decision's identity and provenance, in the response `context` (AuthZEN §6.2): `id`,
 * `reason_admin` (policy version, determining policies, errors, and a deny's admin text under
 * `en`), and on a deny `reason_user` (`{en: text}`) and `step_up` (`{acr_values, max_age?}`,
 * RFC 9470 §3) when the policies' annotations give them (docs/continuous-verification.md); and
 * `verity_cache_until` (epoch ms) when the risk it read changes by itself then: a PEP must not
 * reuse it past that time.
 */
function decisionContext(record: DecisionRecord, explanation: DecisionExplanation = {}): Record<string, unknown> {
  const { reasonUser, reasonAdmin, stepUp } = explanation;
  return {
    id: record.decisionId,
    reason_admin: { policy_version: record.policyVersion, determining_policies: record.reasons, errors: record.errors, ...(reasonAdmin === undefined ? {} : { [REASON_LANGUAGE]: reasonAdmin }) },
    ...(reasonUser === undefined ? {} : { reason_user: { [REASON_LANGUAGE]: reasonUser } }),
    ...(stepUp === undefined ? {} : { step_up: { acr_values: stepUp.acr, ...(stepUp.maxAgeSec === undefined ? {} : { max_age: stepUp.maxAgeSec }) } }),
    ...(record.validUntilMs === undefined ? {} : { verity_cache_until: record.validUntilMs }),
  };
}

/** A receipt request: the tenant's signing key (looked up before deciding) and the lifetime asked for. */
interface ReceiptAsk {
  key: ReceiptKey;
  ttlSec: number;
}

/**
 * `options.verity_receipt`, checked (400) and then held to the tenant's active receipt key (409
 * ERR_RECEIPT_KEY_MISSING): both before anything is decided, so a refused request leaves no
 * decision in the audit without the receipt it asked for.
 */
async function receiptAsk(c: Components, request: FastifyRequest, tenant: string): Promise<ReceiptAsk | undefined> {
  const ttlSec = parseReceiptOption(request.body, c.config.receiptTtlSec);
  if (ttlSec === undefined) return undefined;
  // A receipt opens the tenant's rows in its databases: it always takes a credential that may
  // decide for the tenant, even where decisions themselves are open (--open-decisions).
  if (c.config.decisionAuth === 'open') await requireAdmin(c, request, 'decide', tenant);
  return { key: await c.receipts.signingKey(tenant), ttlSec };
}

/** The response `context`: the decision's, plus `verity_receipt` on an allow when one was asked for. */
async function contextWithReceipt(c: Components, { record, explanation }: Explained, ask: ReceiptAsk | undefined): Promise<Record<string, unknown>> {
  const context = decisionContext(record, explanation);
  if (ask !== undefined && record.decision === 'allow') context.verity_receipt = await c.receipts.mint(record, ask.key, ask.ttlSec);
  return context;
}

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/**
 * A token-in request's subject token: the body's `token`, or — only when decisions are open,
 * since otherwise `Authorization` carries the PEP's own credential — a JWT bearer.
 */
function subjectTokenOf(c: Components, request: FastifyRequest): unknown {
  const body = request.body as Record<string, unknown> | undefined;
  if (body && typeof body === 'object' && 'token' in body) return body.token;
  if (c.config.decisionAuth !== 'open') return undefined;
  const token = parseBearerToken(request.headers.authorization);
  return token !== undefined && JWT_SHAPE.test(token) ? token : undefined;
}

/**
 * The meta of a refusal made before the decision (a subject token refused): with the calling
 * workload the PEP named, so the audit shows who presented the bad token. The decision path
 * checks `context.caller` itself; a malformed one is simply left out here.
 */
function refusalMetaOf(request: FastifyRequest): DecisionMeta {
  const meta = metaOf(request);
  const body = request.body;
  const caller = isPlainObject(body) && isPlainObject(body.context) ? body.context.caller : undefined;
  return isSpiffeIdText(caller) ? withEntry(meta, 'caller', caller) : meta;
}

/**
 * Verify the request's subject token, if it has one, and put its principal in as the subject.
 * A request may name a subject or carry a token, not both: the token is who is asking.
 */
async function withTokenSubject(c: Components, request: FastifyRequest, tenant: string): Promise<{ body: unknown; verified?: VerifiedPrincipal }> {
  const token = subjectTokenOf(c, request);
  if (token === undefined) return { body: request.body };
  const given = request.body as Record<string, unknown>;
  // The PEP says which audience it is: a token issued for another service is refused here.
  const audience = given.audience;
  if (audience !== undefined && (typeof audience !== 'string' || audience === '' || audience.length > 512)) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'audience must be a non-empty string');
  const verified = await c.identity.verifySubjectToken(tenant, token, refusalMetaOf(request), audience);
  if (given.subject !== undefined) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'send a subject or a token, not both');
  const items = given.evaluations;
  if (Array.isArray(items) && items.some((item) => typeof item === 'object' && item !== null && 'subject' in item)) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'with a token, evaluations may not name their own subject');
  }
  // The body as the evaluation parser takes it: the token's principal as its subject, without
  // `audience` and `token` (a copy, no spread: see core's records.ts).
  const body = withEntry(given, 'subject', { type: verified.principal.uid.type, id: verified.principal.uid.id });
  delete body.audience;
  delete body.token;
  return { body, verified: verifiedPrincipalOf(verified) };
}

/** Whether a request (or any of its items) names `context.txn`: that entry is the PDP's alone. */
function namesTxnContext(body: Record<string, unknown>): boolean {
  const items = Array.isArray(body.evaluations) ? body.evaluations : [];
  return [body, ...items].some((part) => isPlainObject(part) && isPlainObject(part.context) && Object.hasOwn(part.context, 'txn'));
}

/**
 * The Txn-Token a PEP forwards with a decision (`options.verity_txn_token`, draft-ietf-oauth-
 * transaction-tokens), verified (401 ERR_TXN_TOKEN_INVALID, nothing decided) and put into the
 * Cedar context as `context.txn` of the request and of every item with its own context; its
 * `txn` and call chain go to the audit. A request without one may not name `context.txn`.
 */
async function withTxnToken(c: Components, tenant: string, body: unknown, meta: DecisionMeta): Promise<{ body: unknown; meta: DecisionMeta }> {
  if (!isPlainObject(body)) return { body, meta };
  const token = isPlainObject(body.options) ? body.options.verity_txn_token : undefined;
  if (token === undefined) {
    if (namesTxnContext(body)) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.txn is set by the PDP from a verified Txn-Token (options.verity_txn_token), never by the request');
    return { body, meta };
  }
  if (typeof token !== 'string' || token === '' || token.length > MAX_TXN_TOKEN_LENGTH) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'options.verity_txn_token must be a Txn-Token (a compact JWT)');
  if (namesTxnContext(body)) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.txn is set by the PDP from the Txn-Token, never by the request');
  const verified = await c.tokenEndpoint.verifyTxnToken(tenant, token, meta);
  const txn = { id: verified.txn, sub: verified.sub, scope: verified.scope, req_wl: verified.reqWl };
  // Copies with one entry set (no spreads: see core's records.ts).
  const withTxn = (part: Record<string, unknown>) => (isPlainObject(part.context) ? withEntry(part, 'context', withEntry(part.context, 'txn', txn)) : part);
  const next = withEntry(body, 'context', isPlainObject(body.context) ? withEntry(body.context, 'txn', txn) : body.context === undefined ? { txn } : body.context);
  if (Array.isArray(body.evaluations)) next.evaluations = body.evaluations.map((item: unknown) => (isPlainObject(item) ? withTxn(item) : item));
  const withChain = withEntry(meta, 'txn', verified.txn);
  withChain.actors = [...verified.callChain].reverse();
  return { body: next, meta: withChain };
}

/**
 * Hold the decision to the request's consistency token, if any: after this the tenant's cached
 * view is at least as new as the state in which that version was active.
 */
async function honourMinVersion(c: Components, tenant: string, minVersion: number | undefined): Promise<void> {
  if (minVersion !== undefined) await c.policies.activeAtLeast(tenant, minVersion);
}

/**
 * Decision routes for one tenant, resolved per request by `tenantOf` (the path parameter, or
 * the configured default tenant for the root paths).
 */
export function registerAuthzenRoutes(app: FastifyInstance, c: Components, tenantOf: (request: FastifyRequest) => string): void {
  app.post('/access/v1/evaluation', async (request) => {
    const tenant = tenantOf(request);
    await requireDecide(c, request, tenant);
    const minVersion = parseMinVersion(request.body);
    await c.policies.active(tenant);
    const receipt = await receiptAsk(c, request, tenant);
    const subject = await withTokenSubject(c, request, tenant);
    const { body, meta } = await withTxnToken(c, tenant, subject.body, metaOf(request));
    const { verified } = subject;
    const evaluation = parseEvaluationRequest(body);
    await honourMinVersion(c, tenant, minVersion);
    const explained = await c.decisions.decideExplained({ tenant, request: { kind: 'authzen', request: evaluation, ...(verified ? { token: verified } : {}) }, meta });
    return { decision: explained.record.decision === 'allow', context: await contextWithReceipt(c, explained, receipt) };
  });

  app.post('/access/v1/evaluations', async (request) => {
    const tenant = tenantOf(request);
    await requireDecide(c, request, tenant);
    const minVersion = parseMinVersion(request.body);
    // Resolve the tenant before anything else, so an unknown tenant is a 404 even when every
    // item is invalid on its own.
    await c.policies.active(tenant);
    const receipt = await receiptAsk(c, request, tenant);
    const subject = await withTokenSubject(c, request, tenant);
    const { body, meta } = await withTxnToken(c, tenant, subject.body, metaOf(request));
    const { verified } = subject;
    const batch = parseEvaluationsRequest(body);
    await honourMinVersion(c, tenant, minVersion);
    const options = (body as { options?: { verity_context?: unknown } }).options;
    // All items share one engine-time budget: a batch never holds the engine for seconds.
    const budget = createEngineBudget();
    // A batch's records are committed together: the items do not wait one by one.
    const auditWaits: Array<Promise<void>> = [];
    const decide = (item: AuthzenEvaluationRequest) =>
      c.decisions.decideExplained({ tenant, request: { kind: 'authzen', request: item, ...(verified ? { token: verified } : {}) }, meta, budget, ...(batch.batch ? { auditWaits } : {}) });
    if (!batch.batch) {
      // AuthZEN §7.1: no (or an empty) `evaluations` array is the single Access Evaluation API.
      const explained = await decide(batch.evaluations[0] as AuthzenEvaluationRequest);
      return { decision: explained.record.decision === 'allow', context: await contextWithReceipt(c, explained, receipt) };
    }
    // Items carry only `decision` unless asked (a context, or receipts, which travel in it): the
    // interop harness compares items exactly.
    const withContext = options?.verity_context === true || receipt !== undefined;
    await c.decisions.prefetch(tenant, batch.evaluations.filter((item): item is AuthzenEvaluationRequest => !isVerityError(item)));
    const evaluations: Array<Record<string, unknown>> = [];
    for (const item of batch.evaluations) {
      // An item that cannot be decided as asked (invalid, or past a limit such as the batch's
      // budget) is answered in place as not permitted, with its error; a server failure fails
      // the whole request.
      const explained = isVerityError(item) ? item : await decide(item).catch((error: unknown) => {
        if (isVerityError(error) && error.status < 500) return error;
        throw error;
      });
      if (isVerityError(explained)) {
        evaluations.push({ decision: false, context: { error: { status: explained.status, code: explained.code, message: explained.message } } });
        if (batch.semantic === 'deny_on_first_deny') break;
        continue;
      }
      const allowed = explained.record.decision === 'allow';
      evaluations.push(withContext ? { decision: allowed, context: await contextWithReceipt(c, explained, receipt) } : { decision: allowed });
      if ((batch.semantic === 'deny_on_first_deny' && !allowed) || (batch.semantic === 'permit_on_first_permit' && allowed)) break;
    }
    // Answered only once every item's record is audited (durable mode): one failure fails it all.
    await settleAuditWaits(auditWaits);
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
