/**
 * The enforcer: one decision per request from a decision source (through the cache), failing
 * closed when no decision can be had, or only observing in observe mode.
 */
import { randomUUID } from 'node:crypto';
import { isRequestId, isTenantId, isTierLabel, withEntry } from '@verity/core';
import type { CacheKeyInput, DecisionCache } from './decision-cache.js';
import { EnforceError, isEnforceError } from './errors.js';
import { receiptUnavailable } from './receipt.js';
import { tokenExpiry } from './token-expiry.js';
import type { Decision, DecisionRequest, DecisionSource, EntityRef, PeerIdentity } from './types.js';

/** What to decide: who (a token, or a subject), the action, the resource. */
export interface EnforceInput {
  /** The caller's access token (usually the `Authorization: Bearer` of the request). */
  token?: string;
  /** The principal, when the service established it otherwise; ignored when a token is given. */
  subject?: EntityRef;
  action: string;
  resource: EntityRef;
  context?: Record<string, unknown>;
  /** The request id to audit and propagate; generated when absent or malformed. */
  requestId?: string;
  /** Observe mode for this request (a route's setting); the enforcer's `observe` otherwise. */
  observe?: boolean;
  /** Ask for a data-tier receipt with this decision (a route's setting); the enforcer's `receipts` otherwise. */
  receipt?: boolean;
  /**
   * The verified TLS peer (the mTLS helper's `peerOf`). Its SPIFFE id goes to every decision as
   * `context.caller` (null when not authenticated), whatever `context` says. `forged: true`
   * (from `peerFromXfcc`: a caller header sent by a peer that is not a trusted proxy) makes the
   * PDP deny the request and audit the attempt.
   */
  caller?: PeerIdentity & { forged?: true };
  /** The request's Txn-Token (the `Txn-Token` header): forwarded to the PDP, which verifies it. */
  txnToken?: string;
}

/** Who the caller is, as far as this decision proved it. Attached to the request by adapters. */
export interface VerifiedIdentity {
  tenant: string;
  /** The subject the request named (token-in decisions leave it to the PDP's audit). */
  subject?: EntityRef;
  /** The caller's token, to pass on downstream (never log it). */
  token?: string;
  /** The calling workload's SPIFFE id, as the mTLS helper verified it, or null when not authenticated. */
  caller: string | null;
  /** The transaction id (`txn`) of the Txn-Token the PDP accepted with this decision. */
  txn?: string;
  /** The Txn-Token, to pass on unchanged downstream (draft §9.2; never log it). */
  txnToken?: string;
  decisionId: string | null;
  policyVersion: number | null;
  requestId: string;
  /**
   * The PDP's receipt for this allow, when one was asked (`receipts` / `receipt`): pass it to the
   * data tier, e.g. `withReceipt(pool, request.verity.receipt, fn)` from `@verity/data-tier`.
   * Absent when the request passed without an allow (observe mode, fail-open). Never log it.
   */
  receipt?: string;
}

export interface EnforceResult {
  /** Whether the handler may run: the decision's allow, or true in observe mode. */
  allowed: boolean;
  /** 200 allowed, 401 no or refused token or a step-up is needed (`decision.stepUp`), 403 denied, 503 no decision (fail closed). */
  status: 200 | 401 | 403 | 503;
  requestId: string;
  decision?: Decision;
  identity?: VerifiedIdentity;
  /** Observe mode let this through; `wouldDeny` says whether enforcement would have refused. */
  observed?: boolean;
  wouldDeny?: boolean;
  /** Why no decision could be had (the 503 case, or a fail-open pass). */
  error?: EnforceError;
  /** The decision's data-tier receipt: only on an allow asked with a receipt (also in `identity.receipt`). */
  receipt?: string;
}

/** Reported once per `enforce` call, for logs and metrics. Never holds the token or the receipt (only its expiry). */
export interface DecisionEvent {
  tenant: string;
  requestId: string;
  action: string;
  resource: EntityRef;
  subject?: EntityRef;
  /** How the principal was given: a token (verified by the source) or a subject. */
  principal: 'token' | 'subject' | 'none';
  decision?: Decision;
  allowed: boolean;
  status: EnforceResult['status'];
  observed: boolean;
  /** The request would have been refused had the enforcer enforced. */
  wouldDeny: boolean;
  /** The decision came from the cache. */
  cached: boolean;
  /** `failMode: 'open'` let a request through without a decision. */
  failedOpen: boolean;
  error?: EnforceError;
  latencyMs: number;
}

export interface EnforcerOptions {
  source: DecisionSource;
  cache?: DecisionCache;
  tenant: string;
  /**
   * The audience this service is; tokens issued for another audience are refused (RFC 7519
   * §4.1.3). Required for token-in decisions: an enforcer without it denies every token
   * (`401`, code `ERR_TOKEN_AUDIENCE`), because a token would otherwise pass for any audience
   * the tenant's identity sources accept, e.g. one exchanged for another service (RFC 8693).
   */
  audience?: string;
  /**
   * Accept a token for any audience the tenant's identity sources accept, instead of naming
   * `audience`. Off by default; only for a service that is every audience its tokens carry.
   */
  anyAudience?: boolean;
  /**
   * What happens when no decision can be had (PDP down, timeout, error). `closed` (the default)
   * denies with 503. `open` lets the request through: only for paths whose availability matters
   * more than their protection, chosen explicitly and watched through `onDecision`.
   */
  failMode?: 'closed' | 'open';
  /**
   * Decide (the PDP audits every decision) but never refuse: the migration step before
   * enforcing. `onDecision` reports `wouldDeny`.
   */
  observe?: boolean;
  /**
   * Ask the PDP for a data-tier receipt with every decision (default false; `EnforceInput.receipt`
   * overrides it per call). An allow that comes without one fails closed (503,
   * `ERR_ENFORCE_RECEIPT_UNAVAILABLE`); a cached allow is reused while its receipt has more than
   * 1 s left. In local mode the receipt, and so the decision, comes from the PDP.
   */
  receipts?: boolean;
  /**
   * Service-to-service: the principal of every decision is `Workload::"<caller's SPIFFE id>"`
   * (a user's bearer token is not used), and a caller without a verified workload identity is
   * refused with 401 `ERR_ENFORCE_CALLER_UNAUTHENTICATED` before the PDP is asked.
   */
  workloadPrincipal?: boolean;
  /**
   * Every request must carry a Txn-Token (`Txn-Token` header): one without is refused with 401
   * `ERR_ENFORCE_TXN_TOKEN_MISSING` before the PDP is asked. Default false (a Txn-Token, when
   * present, is still forwarded and verified).
   */
  requireTxnToken?: boolean;
  /** This tier's label in the PDP's audit, e.g. `gateway` or `orders` (1 to 64 letters, digits or `._:/-`, see `isTierLabel`). */
  tier: string;
  onDecision?: (event: DecisionEvent) => void;
  /** Clock for latency, in milliseconds (default `performance.now`). */
  now?: () => number;
}

export interface Enforcer {
  readonly tenant: string;
  readonly observe: boolean;
  enforce(input: EnforceInput): Promise<EnforceResult>;
}

const OPTION_KEYS = new Set(['source', 'cache', 'tenant', 'audience', 'anyAudience', 'failMode', 'observe', 'receipts', 'workloadPrincipal', 'requireTxnToken', 'tier', 'onDecision', 'now']);
/** The Cedar entity type of a workload principal (`Workload::"spiffe://…"`), as the PDP knows it. */
const WORKLOAD_TYPE = 'Workload';
/** The PDP keeps a request id of this shape and replaces any other; we do the same. */

/**
 * A usable request id: the caller's when well-formed (the shape the PDP keeps), else a new one.
 *
 * @example
 * ```ts
 * const requestId = requestIdOf(request.headers['x-request-id'] as string | undefined);
 * ```
 */
/**
 * A private copy of what the caller gave (action, resource, context, subject) as `JSON.stringify` writes
 * it (`toJSON` applied, `Date`s as text, non-finite numbers as null): the request a decision
 * source is asked and its cache entry is filed under. Throws what `JSON.stringify` throws (a
 * cycle, a bigint): the enforcer then answers ERR_ENFORCE_UNAVAILABLE, failing closed.
 */
function snapshotOf<T extends { action: string; resource: EntityRef; context: Record<string, unknown>; subject?: EntityRef }>(request: T): T {
  const { action, resource, context, subject } = JSON.parse(JSON.stringify({ action: request.action, resource: request.resource, context: request.context, subject: request.subject })) as Pick<T, 'action' | 'resource' | 'context' | 'subject'>;
  // A copy set field by field (no spread: see core's records.ts).
  const snapshot = withEntry(request, 'action', action);
  snapshot.resource = resource;
  snapshot.context = context;
  if (subject !== undefined) snapshot.subject = subject;
  return snapshot;
}

export function requestIdOf(given: string | undefined): string {
  return isRequestId(given) ? given : randomUUID();
}

function validate(options: EnforcerOptions): void {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`createEnforcer: unknown option "${key}"`);
  if (!options.source || typeof options.source.decide !== 'function') throw new TypeError('createEnforcer: source must be a DecisionSource');
  if (!isTenantId(options.tenant)) throw new TypeError('createEnforcer: tenant must be a tenant id');
  if (!isTierLabel(options.tier)) throw new TypeError('createEnforcer: tier must be 1 to 64 letters, digits or ._:/-');
  if (options.failMode !== undefined && options.failMode !== 'closed' && options.failMode !== 'open') throw new TypeError('createEnforcer: failMode must be "closed" or "open"');
  if (options.audience !== undefined && (typeof options.audience !== 'string' || options.audience === '')) throw new TypeError('createEnforcer: audience must be a non-empty string');
  if (options.anyAudience !== undefined && typeof options.anyAudience !== 'boolean') throw new TypeError('createEnforcer: anyAudience must be a boolean');
  if (options.anyAudience === true && options.audience !== undefined) throw new TypeError('createEnforcer: give audience or anyAudience, not both');
  for (const name of ['receipts', 'workloadPrincipal', 'requireTxnToken'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') throw new TypeError(`createEnforcer: ${name} must be a boolean`);
  }
}

/** The caller's SPIFFE id when the peer was verified, else null: what `context.caller` says. */
function callerOf(peer: PeerIdentity | undefined): string | null {
  // Only what the mTLS helpers produce counts as proven: a verified peer, directly or through a trusted proxy.
  const proven = peer?.authenticated === true && (peer.via === 'mtls' || peer.via === 'xfcc');
  return proven && typeof peer.spiffeId === 'string' && peer.spiffeId !== '' ? peer.spiffeId : null;
}

/** A caller header was forged: any `forged` other than absent or false counts (fail closed). */
function forgedOf(peer: (PeerIdentity & { forged?: unknown }) | undefined): boolean {
  return peer !== undefined && peer.forged !== undefined && peer.forged !== false;
}

/** A deny decided here, without the PDP: who is asking was not proven. */
function unauthenticated(code: string): Decision {
  return { decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code };
}

/** The `txn` of a Txn-Token the PDP accepted (read after the allow, never trusted before it). */
function txnOf(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { txn?: unknown };
    return typeof payload.txn === 'string' ? payload.txn : undefined;
  } catch {
    return undefined;
  }
}

/** The decision as logs may see it: the receipt is a credential for the data tier, its expiry is not. */
function withoutReceipt(decision: Decision): Decision {
  if (decision.receipt === undefined) return decision;
  const { receipt: _receipt, ...rest } = decision;
  return rest;
}

/**
 * Create an enforcer for one tenant. `enforce` never throws for a failing source: it resolves
 * to 503 (fail closed) unless `failMode: 'open'` was chosen.
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer({
 *   source: createRemoteDecisionSource({ url: 'http://verity.internal:8181' }),
 *   cache: createDecisionCache(),
 *   tenant: 'acme', audience: 'https://api.acme.example', tier: 'orders',
 * });
 * const result = await enforcer.enforce({ token, action: 'GET', resource: { type: 'route', id: '/orders/:id' } });
 * if (!result.allowed) return reply(result.status);
 * ```
 */
export function createEnforcer(options: EnforcerOptions): Enforcer {
  validate(options);
  const { source, cache, tenant, audience, tier, onDecision } = options;
  const failMode = options.failMode ?? 'closed';
  const observe = options.observe ?? false;
  const receipts = options.receipts ?? false;
  const workloadPrincipal = options.workloadPrincipal ?? false;
  const now = options.now ?? (() => performance.now());

  function report(event: DecisionEvent): void {
    try {
      onDecision?.(event);
    } catch {
      // Reporting must never change the answer.
    }
  }

  /** The decision, from the cache or the source, or the reason there is none. */
  async function decide(input: EnforceInput, caller: string | null, requestId: string, observing: boolean, wantsReceipt: boolean): Promise<{ decision: Decision; cached: boolean } | { error: EnforceError }> {
    // A caller header from an untrusted peer (peerFromXfcc's `forged`) is ignored but reported:
    // the PDP denies the request and its audit shows the attempt.
    // No context (undefined or null, which a route's context function may return) is an empty one.
    const context: Record<string, unknown> = input.context === undefined || input.context === null ? { caller } : withEntry(input.context, 'caller', caller);
    if (forgedOf(input.caller)) context['caller_forged'] = true;
    // Built field by field (no spreads): the cache look-up below is the whole of a hit's work.
    const request: DecisionRequest = { tenant, action: input.action, resource: input.resource, context, requestId, tier };
    const token = workloadPrincipal ? undefined : input.token;
    if (workloadPrincipal) request.subject = { type: WORKLOAD_TYPE, id: caller as string };
    else if (token !== undefined) {
      request.token = token;
      if (audience !== undefined) request.audience = audience;
    } else request.subject = input.subject as EntityRef;
    if (input.txnToken !== undefined) request.txnToken = input.txnToken;
    if (wantsReceipt) request.receipt = true;
    // The caller and the Txn-Token are part of the key: one caller's decision is never another's.
    const key: CacheKeyInput = { tenant, action: input.action, resource: input.resource, context, caller };
    if (request.subject !== undefined) key.subject = request.subject;
    if (token !== undefined) key.token = token;
    if (request.audience !== undefined) key.audience = request.audience;
    if (input.txnToken !== undefined) key.txnToken = input.txnToken;
    if (wantsReceipt) key.receipt = true;
    const hit = cache?.get(key);
    if (hit) return { decision: hit, cached: true };
    const epoch = cache?.epoch(tenant) ?? 0;
    try {
      // What the source is asked, and what its answer is filed under, is one snapshot made now, in
      // the JSON form the wire carries: a caller's object changed while the decision is pending
      // cannot make the answer stand for another request, and the source sees what the key says.
      const asked = snapshotOf(request);
      const askedKey = withEntry(key, 'action', asked.action);
      askedKey.resource = asked.resource;
      askedKey.context = asked.context;
      if (asked.subject !== undefined) askedKey.subject = asked.subject;
      const decision = await source.decide(observing ? withEntry(asked, 'observe', true) : asked);
      // Whatever the source: an allow asked with a receipt is not handed on without one.
      if (wantsReceipt && decision.decision === 'allow' && (decision.receipt === undefined || decision.receiptExpiresAt === undefined)) {
        throw receiptUnavailable('the decision source allowed without one');
      }
      // A decision for a token must not outlive the token, nor the Txn-Token it came with.
      const expiries = [token, input.txnToken].flatMap((given) => {
        const exp = given === undefined ? undefined : tokenExpiry(given);
        return exp === undefined ? [] : [exp];
      });
      // Nor the risk signals it read (the PDP says when they change by themselves).
      if (decision.cacheUntil !== undefined) expiries.push(decision.cacheUntil);
      cache?.set(askedKey, decision, epoch, expiries.length === 0 ? undefined : Math.min(...expiries));
      return { decision, cached: false };
    } catch (error) {
      return { error: isEnforceError(error) ? error : new EnforceError('ERR_ENFORCE_UNAVAILABLE', 'the decision source failed', { cause: error }) };
    }
  }

  return {
    tenant,
    observe,
    async enforce(input) {
      const started = now();
      const requestId = requestIdOf(input.requestId);
      // A route may observe while the rest of the tenant enforces (or the other way round).
      const observing = input.observe ?? observe;
      const wantsReceipt = input.receipt ?? receipts;
      const caller = callerOf(input.caller);
      const principal = workloadPrincipal ? (caller === null ? 'none' : 'subject') : input.token !== undefined ? 'token' : input.subject !== undefined ? 'subject' : 'none';
      // Refusals decided here, before the PDP: who is asking (or for which transaction) is not proven.
      const refused =
        workloadPrincipal && caller === null
          ? 'ERR_ENFORCE_CALLER_UNAUTHENTICATED'
          : principal === 'none'
            ? 'ERR_TOKEN_MISSING'
            : options.requireTxnToken === true && input.txnToken === undefined
              ? 'ERR_ENFORCE_TXN_TOKEN_MISSING'
              : // No audience to bind the token to: refuse it rather than take any audience.
                principal === 'token' && audience === undefined && options.anyAudience !== true
                ? 'ERR_TOKEN_AUDIENCE'
                : undefined;
      const outcome = refused !== undefined ? { decision: unauthenticated(refused), cached: false } : await decide(input, caller, requestId, observing, wantsReceipt);

      let status: EnforceResult['status'];
      let failedOpen = false;
      if ('error' in outcome) {
        status = 503;
        failedOpen = failMode === 'open';
      } else if (outcome.decision.decision === 'allow') status = 200;
      // A deny a stronger authentication would lift is the token's shortfall (RFC 9470 §3): 401.
      else status = outcome.decision.reasons.includes('unauthenticated') || outcome.decision.stepUp !== undefined ? 401 : 403;
      const wouldDeny = status !== 200 && !failedOpen;
      const allowed = !wouldDeny || observing;

      const decision = 'decision' in outcome ? outcome.decision : undefined;
      // Only an allow has a receipt: never a deny observed as allow, nor a fail-open pass.
      const receipt = wantsReceipt && status === 200 ? decision?.receipt : undefined;
      // Whatever passes carries its identity on (observe mode and fail-open included).
      const subject = workloadPrincipal ? (caller === null ? undefined : { type: WORKLOAD_TYPE, id: caller }) : principal === 'subject' ? input.subject : undefined;
      const txn = status === 200 && input.txnToken !== undefined ? txnOf(input.txnToken) : undefined;
      const identity: VerifiedIdentity | undefined = allowed
        ? {
            tenant,
            requestId,
            caller,
            decisionId: decision?.decisionId ?? null,
            policyVersion: decision?.policyVersion ?? null,
            ...(subject === undefined ? {} : { subject }),
            ...(input.token === undefined || workloadPrincipal ? {} : { token: input.token }),
            ...(input.txnToken === undefined ? {} : { txnToken: input.txnToken }),
            ...(txn === undefined ? {} : { txn }),
            ...(receipt === undefined ? {} : { receipt }),
          }
          : undefined;
      const error = 'error' in outcome ? outcome.error : undefined;
      const result: EnforceResult = { allowed, status: allowed ? 200 : status, requestId };
      // Optional fields set one by one (no spreads): on a cache hit this is most of the work left.
      if (decision) result.decision = decision;
      if (identity) result.identity = identity;
      if (observing) {
        result.observed = true;
        result.wouldDeny = wouldDeny;
      }
      if (error) result.error = error;
      if (receipt !== undefined) result.receipt = receipt;
      // Only a PEP that listens pays for the event.
      if (onDecision !== undefined) {
        report({
          tenant,
          requestId,
          action: input.action,
          resource: input.resource,
          ...(subject === undefined ? {} : { subject }),
          principal,
          ...(decision ? { decision: withoutReceipt(decision) } : {}),
          allowed,
          status: result.status,
          observed: observing,
          wouldDeny,
          cached: 'cached' in outcome && outcome.cached,
          failedOpen,
          ...(error ? { error } : {}),
          latencyMs: now() - started,
        });
      }
      return result;
    },
  };
}
