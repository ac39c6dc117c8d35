/**
 * The downstream half of identity propagation: exchange the caller's token for one issued to
 * the next service's audience (RFC 8693, at the tenant's token service), with narrowed scope,
 * so the next tier gets a token it alone accepts and no more than it needs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { tokenFingerprint } from './decision-cache.js';
import { retryDelayMs } from './retry-delay.js';
import { tokenExpiry } from './token-expiry.js';

export interface TokenExchangerOptions {
  /** The PDP's base URL; the token service is `{url}/tenants/{tenant}/oauth2/token`. */
  url: string;
  tenant: string;
  /** This service's client registration at the tenant's token service (secret from the environment). */
  clientId: string;
  clientSecret: string;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  /** Exchanged tokens are reused until this many seconds before they expire (default 30). */
  reuseMarginSec?: number;
  /** Bound on remembered exchanges (default 1,000). */
  maxEntries?: number;
  /** The whole budget for one exchange, retries included, in ms (default 5000). */
  timeoutMs?: number;
  /**
   * Further attempts after a 5xx (a 503 `ERR_OVERLOADED` …, after its `Retry-After` when that
   * fits in the budget) or a network error, with full jitter (default 2). A 4xx is never retried.
   */
  retries?: number;
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** Why an exchange failed: the token service's code (or `ERR_ENFORCE_PDP_*`), its status and `Retry-After`. */
export interface TokenExchangeError extends Error {
  code: string;
  status: number;
  retryAfterSec?: number;
}

function exchangeError(message: string, code: string, status: number, retryAfterSec?: number): TokenExchangeError {
  return Object.assign(new Error(message), { code, status, ...(retryAfterSec === undefined ? {} : { retryAfterSec }) });
}

export interface TokenExchanger {
  /**
   * A token for `audience` (with `scope`, when given) acting for the caller's `token`. Throws
   * a {@link TokenExchangeError} with the token service's `code` (e.g. ERR_STS_INVALID_SCOPE, or
   * ERR_OVERLOADED after the retries) when it refuses, `ERR_ENFORCE_PDP_UNREACHABLE` or
   * `ERR_ENFORCE_PDP_TIMEOUT` when it cannot be asked. A failure is never remembered.
   */
  exchange(token: string, audience: string, scope?: string): Promise<string>;
}

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * @example
 * ```ts
 * const exchanger = createTokenExchanger({ url, tenant: 'acme', clientId: 'orders', clientSecret: process.env.ORDERS_SECRET! });
 * const token = await exchanger.exchange(request.verity.token, 'inventory', 'stock:read');
 * await fetch('http://inventory.internal/stock', { headers: downstreamHeaders({ ...request.verity, token }) });
 * ```
 */
export function createTokenExchanger(options: TokenExchangerOptions): TokenExchanger {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const margin = (options.reuseMarginSec ?? 30) * 1000;
  const max = options.maxEntries ?? 1000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const retries = options.retries ?? 2;
  const random = options.random ?? Math.random;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('createTokenExchanger: timeoutMs must be a positive number');
  if (!Number.isInteger(retries) || retries < 0 || retries > 5) throw new TypeError('createTokenExchanger: retries must be an integer from 0 to 5');
  const endpoint = `${options.url.replace(/\/$/, '')}/tenants/${encodeURIComponent(options.tenant)}/oauth2/token`;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
  const basic = Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64');
  // Keyed by a hash of the caller's token: the raw token is never kept as a key.
  const cache = new Map<string, { token: string; expiresAtMs: number }>();

  return {
    async exchange(token, audience, scope) {
      const key = `${tokenFingerprint(token)}\u0000${audience}\u0000${scope ?? ''}`;
      const hit = cache.get(key);
      if (hit && hit.expiresAtMs - margin > now()) return hit.token;
      const form = new URLSearchParams({ grant_type: EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN, audience, ...(scope ? { scope } : {}) }).toString();
      const signal = AbortSignal.timeout(timeoutMs);
      const deadline = performance.now() + timeoutMs;
      /** One request: the token, or the failure (`retryable` for a 5xx or a network error). */
      const attempt = async (): Promise<string> => {
        let response: Response;
        let body: { access_token?: unknown; code?: unknown };
        try {
          response = await fetchImpl(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` }, body: form, signal });
          body = (await response.json().catch(() => ({}))) as typeof body;
        } catch {
          if (signal.aborted) throw exchangeError(`the token service did not answer within ${timeoutMs} ms`, 'ERR_ENFORCE_PDP_TIMEOUT', 503);
          throw exchangeError('the token service could not be reached', 'ERR_ENFORCE_PDP_UNREACHABLE', 503);
        }
        if (response.ok && typeof body.access_token === 'string') return body.access_token;
        const code = typeof body.code === 'string' ? body.code : 'ERR_ENFORCE_PDP_FAILED';
        const retryAfter = /^\d{1,9}$/.test(response.headers.get('retry-after') ?? '') ? Number(response.headers.get('retry-after')) : undefined;
        throw exchangeError(`the token service refused the exchange (${typeof body.code === 'string' ? body.code : response.status})`, code, response.status, retryAfter);
      };
      let exchanged: string;
      for (let tries = 0; ; tries++) {
        try {
          exchanged = await attempt();
          break;
        } catch (error) {
          const failure = error as TokenExchangeError;
          if (failure.status < 500 || signal.aborted || tries >= retries) throw failure;
          const wait = retryDelayMs({ attempt: tries, initialMs: 50, maxMs: 500, retryAfterSec: failure.retryAfterSec, remainingMs: deadline - performance.now(), random });
          if (wait === null) throw failure;
          await sleep(wait, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) throw failure;
        }
      }
      const expiresAtMs = tokenExpiry(exchanged) ?? 0;
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { token: exchanged, expiresAtMs });
      return exchanged;
    },
  };
}
