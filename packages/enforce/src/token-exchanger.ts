/**
 * The downstream half of identity propagation: exchange the caller's token for one issued to
 * the next service's audience (RFC 8693, at the tenant's token service), with narrowed scope,
 * so the next tier gets a token it alone accepts and no more than it needs.
 */
import { tokenFingerprint } from './decision-cache.js';
import { tokenExpiry } from './token-expiry.js';
import { checkTokenRequestOptions, postTokenRequest } from './token-request.js';

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

export type { TokenExchangeError } from './token-request.js';

export interface TokenExchanger {
  /**
   * A token for `audience` (with `scope`, when given) acting for the caller's `token`. Throws
   * a {@link TokenExchangeError} with the token service's `code` (e.g. ERR_STS_INVALID_SCOPE, or
   * ERR_OVERLOADED after the retries) when it refuses, `ERR_ENFORCE_PDP_UNREACHABLE` or
   * `ERR_ENFORCE_PDP_TIMEOUT` when it cannot be asked. A failure is never remembered.
   */
  exchange(token: string, audience: string, scope?: string, options?: ExchangeOptions): Promise<string>;
}

/** More of one exchange. */
export interface ExchangeOptions {
  /**
   * Tag the token with this job (`job_id`, 1-128 of `[A-Za-z0-9._:-]`): revoking the job ends it.
   * A job's tokens are never remembered, so one is never handed out after its job was revoked.
   */
  jobId?: string;
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
  checkTokenRequestOptions('createTokenExchanger', timeoutMs, retries);
  const endpoint = `${options.url.replace(/\/$/, '')}/tenants/${encodeURIComponent(options.tenant)}/oauth2/token`;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
  const basic = Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64');
  // Keyed by a hash of the caller's token: the raw token is never kept as a key.
  const cache = new Map<string, { token: string; expiresAtMs: number }>();

  return {
    async exchange(token, audience, scope, exchangeOptions = {}) {
      const { jobId } = exchangeOptions;
      const key = `${tokenFingerprint(token)}\u0000${audience}\u0000${scope ?? ''}`;
      const hit = jobId === undefined ? cache.get(key) : undefined;
      if (hit && hit.expiresAtMs - margin > now()) return hit.token;
      const form = new URLSearchParams({ grant_type: EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN, audience, ...(scope ? { scope } : {}), ...(jobId === undefined ? {} : { job_id: jobId }) }).toString();
      const exchanged = await postTokenRequest(endpoint, { authorization: `Basic ${basic}` }, form, 'exchange', { fetch: fetchImpl, timeoutMs, retries, random });
      if (jobId !== undefined) return exchanged;
      const expiresAtMs = tokenExpiry(exchanged) ?? 0;
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { token: exchanged, expiresAtMs });
      return exchanged;
    },
  };
}
