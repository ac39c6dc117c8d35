/** The remote decision source: AuthZEN evaluations against the Verity PDP over HTTP. */
import { context, propagation } from '@opentelemetry/api';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPlainObject, isStepUpAcr, withEntry } from '@verity/core';
import { EnforceError, isEnforceError } from './errors.js';
import { pdpFailure, positive, sendPdp } from './pdp-request.js';
import { readReceipt, receiptUnavailable } from './receipt.js';
import { retryDelayMs } from './retry-delay.js';
import type { Decision, DecisionRequest, DecisionSource, StepUp } from './types.js';

export interface RemoteDecisionSourceOptions {
  /** The PDP's base URL, e.g. `https://verity.internal:8181`. */
  url: string;
  /** The PEP's own Verity credential (`vrt_…`, role `pep`), sent as `Authorization: Bearer`. */
  credential?: string;
  /** Injected for tests and custom transports; defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * The whole budget for one decision, retries included, in milliseconds (default 1000). When it
   * runs out the source rejects with `ERR_ENFORCE_PDP_TIMEOUT` and the enforcer fails closed.
   */
  timeoutMs?: number;
  /**
   * Further attempts after a network error or a 5xx (default 2). A 4xx is never retried. A 503
   * is the PDP saying it cannot decide now (overloaded, past its deadline, stale, …): never an
   * allow, never cached; it is retried after its `Retry-After` only when that fits in `timeoutMs`,
   * else the enforcer fails closed at once with the PDP's code in `error.pdpCode`.
   */
  retries?: number;
  /**
   * Full-jitter backoff between attempts: the n-th retry waits uniformly in
   * [0, min(maxMs, initialMs · 2ⁿ)] ms, and at least the PDP's `Retry-After` (defaults 50 and 500).
   */
  retryBackoff?: { initialMs?: number; maxMs?: number };
  /** Reuse connections to the PDP (default true); false sends `connection: close`. */
  keepAlive?: boolean;
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number;
}

const OPTION_KEYS = new Set(['url', 'credential', 'fetch', 'timeoutMs', 'retries', 'retryBackoff', 'keepAlive', 'random']);
const CALLER = 'createRemoteDecisionSource';

interface ResolvedOptions {
  base: string;
  credential: string | undefined;
  fetch: typeof fetch;
  timeoutMs: number;
  retries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  keepAlive: boolean;
  random: () => number;
}

function resolveOptions(options: RemoteDecisionSourceOptions): Readonly<ResolvedOptions> {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`createRemoteDecisionSource: unknown option "${key}"`);
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new TypeError('createRemoteDecisionSource: url must be an absolute http(s) URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('createRemoteDecisionSource: url must be http(s)');
  const timeoutMs = options.timeoutMs ?? 1000;
  const retries = options.retries ?? 2;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('createRemoteDecisionSource: timeoutMs must be a positive number');
  if (!Number.isInteger(retries) || retries < 0 || retries > 5) throw new TypeError('createRemoteDecisionSource: retries must be an integer from 0 to 5');
  if (options.credential !== undefined && (typeof options.credential !== 'string' || options.credential === '')) throw new TypeError('createRemoteDecisionSource: credential must be a non-empty string');
  if (options.random !== undefined && typeof options.random !== 'function') throw new TypeError(`${CALLER}: random must be a function`);
  return Object.freeze({
    base: base.href.replace(/\/$/, ''),
    credential: options.credential,
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs,
    retries,
    initialBackoffMs: positive(options.retryBackoff?.initialMs, 50, 'retryBackoff.initialMs', CALLER),
    maxBackoffMs: positive(options.retryBackoff?.maxMs, 500, 'retryBackoff.maxMs', CALLER),
    keepAlive: options.keepAlive ?? true,
    random: options.random ?? Math.random,
  });
}

/** The AuthZEN evaluation body: the token (and the audience we are) or the subject, and Verity's options (receipt, Txn-Token). */
function evaluationBody(request: DecisionRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (request.token !== undefined) {
    body.token = request.token;
    if (request.audience !== undefined) body.audience = request.audience;
  } else body.subject = request.subject;
  body.action = { name: request.action };
  body.resource = request.resource;
  body.context = request.context;
  if (request.receipt || request.txnToken !== undefined) {
    const options: Record<string, unknown> = {};
    if (request.receipt) options.verity_receipt = true;
    if (request.txnToken !== undefined) options.verity_txn_token = request.txnToken;
    body.options = options;
  }
  return body;
}

/**
 * The PDP's `context.step_up` (`{acr_values, max_age?}`), or undefined when absent or not
 * usable in a challenge header: such a deny stays a plain 403.
 */
function readStepUp(value: unknown): StepUp | undefined {
  if (!isPlainObject(value) || !isStepUpAcr(value.acr_values)) return undefined;
  const maxAge = value.max_age;
  if (maxAge === undefined) return { acrValues: value.acr_values };
  return typeof maxAge === 'number' && Number.isSafeInteger(maxAge) && maxAge >= 0 ? { acrValues: value.acr_values, maxAge } : undefined;
}

/**
 * An AuthZEN answer with Verity's decision context (`context.id`, `context.reason_admin`,
 * `context.verity_cache_until` when the risk it read ages, `context.verity_receipt` on an allow
 * asked with `receipt`, `context.step_up` on a deny). An allow without a usable receipt
 * when one was asked is no decision: `ERR_ENFORCE_RECEIPT_UNAVAILABLE`.
 */
function parseDecision(body: unknown, wantsReceipt: boolean): Decision {
  if (isPlainObject(body) && typeof body.decision === 'boolean' && isPlainObject(body.context)) {
    const { id, reason_admin: admin } = body.context;
    if (typeof id === 'string' && isPlainObject(admin) && typeof admin.policy_version === 'number') {
      const reasons = Array.isArray(admin.determining_policies) ? admin.determining_policies.filter((r): r is string => typeof r === 'string') : [];
      const until = body.context.verity_cache_until;
      const decision: Decision = {
        decision: body.decision ? 'allow' : 'deny',
        decisionId: id,
        policyVersion: admin.policy_version,
        reasons,
        ...(typeof until === 'number' && Number.isFinite(until) ? { cacheUntil: until } : {}),
      };
      if (!body.decision) {
        const stepUp = readStepUp(body.context.step_up);
        return stepUp === undefined ? decision : withEntry(decision, 'stepUp', stepUp);
      }
      if (!wantsReceipt) return decision;
      const receipt = readReceipt(body.context.verity_receipt);
      if (receipt === undefined) throw receiptUnavailable(body.context.verity_receipt === undefined ? 'the PDP allowed without one' : 'the PDP answered one that is not a JWT with a numeric exp');
      const withReceipt = withEntry(decision, 'receipt', receipt.receipt);
      if (receipt.receiptExpiresAt !== undefined) withReceipt.receiptExpiresAt = receipt.receiptExpiresAt;
      return withReceipt;
    }
  }
  throw new EnforceError('ERR_ENFORCE_PDP_RESPONSE', 'the PDP answered without a decision, decision id and policy version');
}

/**
 * `headers` with the active OpenTelemetry context injected (W3C `traceparent`, `tracestate`),
 * so the PDP's spans continue the PEP's trace. The app's own OpenTelemetry SDK sets the
 * propagator; without one, `@opentelemetry/api` injects nothing.
 */
function traceHeaders(headers: Record<string, string>): Record<string, string> {
  propagation.inject(context.active(), headers);
  return headers;
}

/**
 * A decision source that asks the Verity PDP (`POST {url}/tenants/{tenant}/access/v1/evaluation`).
 * Network errors and 5xx are retried (bounded, with full jitter, after any `Retry-After`, within
 * `timeoutMs`); a 4xx never is. A user token the PDP refuses
 * (401 `ERR_TOKEN_*`) is a deny with reason `unauthenticated`; any other failure rejects with
 * an {@link EnforceError}, and the enforcer fails closed. A `txnToken` goes as
 * `options.verity_txn_token`; one the PDP refuses (401 `ERR_TXN_TOKEN_INVALID`) is such a deny too.
 * A request with `receipt` sends
 * `options: { verity_receipt: true }` and an allow carries the PDP's `context.verity_receipt`;
 * a 409 `ERR_RECEIPT_KEY_MISSING`, or an allow without a decodable receipt, rejects with
 * `ERR_ENFORCE_RECEIPT_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * const source = createRemoteDecisionSource({ url: 'http://verity.internal:8181', credential: process.env.VERITY_PEP_TOKEN });
 * const decision = await source.decide({
 *   tenant: 'acme', token: userToken, audience: 'https://api.acme.example', action: 'read',
 *   resource: { type: 'Doc', id: 'd1' }, context: {}, requestId: randomUUID(), tier: 'orders',
 * });
 * ```
 */
export function createRemoteDecisionSource(options: RemoteDecisionSourceOptions): DecisionSource {
  const config = resolveOptions(options);

  async function attempt(request: DecisionRequest, signal: AbortSignal): Promise<Decision> {
    const url = `${config.base}/tenants/${encodeURIComponent(request.tenant)}/access/v1/evaluation`;
    const answer = await sendPdp(url, {
      fetch: config.fetch,
      method: 'POST',
      credential: config.credential,
      timeoutMs: config.timeoutMs,
      signal,
      body: evaluationBody(request),
      headers: traceHeaders({
        'x-request-id': request.requestId,
        'x-verity-tier': request.tier,
        ...(request.observe ? { 'x-verity-observe': 'true' } : {}),
        ...(config.keepAlive ? {} : { connection: 'close' }),
      }),
    });
    if (answer.status === 200) return parseDecision(answer.body, request.receipt === true);
    // The tenant has no active receipt key: no receipt can be had, which is not a policy deny.
    if (answer.status === 409 && answer.pdpCode === 'ERR_RECEIPT_KEY_MISSING') throw receiptUnavailable('the tenant has no active receipt key at the PDP (409 ERR_RECEIPT_KEY_MISSING)', { pdpStatus: 409, pdpCode: answer.pdpCode });
    // The user's token or the Txn-Token was refused: a deny the adapter answers with 401, not an
    // outage. A 401 for the PEP's own credential (ERR_AUTH_*) is a misconfiguration and fails closed.
    if (answer.status === 401 && (answer.pdpCode?.startsWith('ERR_TOKEN_') || answer.pdpCode === 'ERR_TXN_TOKEN_INVALID')) {
      return { decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: answer.pdpCode };
    }
    throw pdpFailure(answer);
  }

  return {
    async decide(request) {
      const deadline = performance.now() + config.timeoutMs;
      const signal = AbortSignal.timeout(config.timeoutMs);
      for (let tries = 0; ; tries++) {
        try {
          return await attempt(request, signal);
        } catch (error) {
          if (!isEnforceError(error)) throw error;
          const retryable = error.code === 'ERR_ENFORCE_PDP_UNREACHABLE' || error.code === 'ERR_ENFORCE_PDP_FAILED';
          if (!retryable || signal.aborted || tries >= config.retries) throw error;
          const wait = retryDelayMs({
            attempt: tries,
            initialMs: config.initialBackoffMs,
            maxMs: config.maxBackoffMs,
            retryAfterSec: error.retryAfterSec,
            remainingMs: deadline - performance.now(),
            random: config.random,
          });
          if (wait === null) throw error;
          await sleep(wait, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) throw error;
        }
      }
    },
  };
}
