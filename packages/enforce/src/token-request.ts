/**
 * One POST to a tenant's token endpoint (RFC 6749 §3.2), as the SDK's token clients make it:
 * a form, bounded by a time budget, retried with full jitter after a 5xx or a network error
 * (never after a 4xx), the token service's error code kept.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { retryDelayMs } from './retry-delay.js';

/** Why a token request failed: the token service's code (or `ERR_ENFORCE_PDP_*`), its status and `Retry-After`. */
export interface TokenExchangeError extends Error {
  code: string;
  status: number;
  retryAfterSec?: number;
}

export function tokenRequestError(message: string, code: string, status: number, retryAfterSec?: number): TokenExchangeError {
  return Object.assign(new Error(message), { code, status, ...(retryAfterSec === undefined ? {} : { retryAfterSec }) });
}

/** An answer that is no token to use (a redirect, the wrong token type): a fault, never retried. */
const RESPONSE_REFUSED = 'ERR_ENFORCE_PDP_RESPONSE';
/** What a stable error code looks like. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface TokenRequestOptions {
  fetch: typeof globalThis.fetch;
  /**
   * Checks a 2xx answer beyond its `access_token` (e.g. `issued_token_type`); a string is why it
   * is not acceptable (thrown as ERR_ENFORCE_PDP_RESPONSE, never retried).
   */
  check?: (body: Record<string, unknown>) => string | undefined;
  /** The whole budget, retries included, in ms. */
  timeoutMs: number;
  /** Further attempts after a 5xx or a network error (0–5). */
  retries: number;
  /** Jitter source in [0, 1). */
  random: () => number;
}

/** Check the shared options of a token client; throws TypeError naming `client`. */
export function checkTokenRequestOptions(client: string, timeoutMs: number, retries: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`${client}: timeoutMs must be a positive number`);
  if (!Number.isInteger(retries) || retries < 0 || retries > 5) throw new TypeError(`${client}: retries must be an integer from 0 to 5`);
}

/**
 * POST `form` to `endpoint` with `headers`; the answer's `access_token`. Throws a
 * {@link TokenExchangeError}: the token service's `code` when it refused, `ERR_ENFORCE_PDP_TIMEOUT`
 * or `ERR_ENFORCE_PDP_UNREACHABLE` when it could not be asked. `what` names the request in messages.
 */
export async function postTokenRequest(endpoint: string, headers: Record<string, string>, form: string, what: string, options: TokenRequestOptions): Promise<string> {
  const { timeoutMs, retries } = options;
  const signal = AbortSignal.timeout(timeoutMs);
  const deadline = performance.now() + timeoutMs;
  /** One request: the token, or the failure (`retryable` for a 5xx or a network error). */
  const attempt = async (): Promise<string> => {
    let response: Response;
    let body: Record<string, unknown>;
    try {
      // A redirect is never followed: the form holds the caller's token (and an assertion).
      response = await options.fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form, signal, redirect: 'manual' });
      body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    } catch {
      if (signal.aborted) throw tokenRequestError(`the token service did not answer within ${timeoutMs} ms`, 'ERR_ENFORCE_PDP_TIMEOUT', 503);
      throw tokenRequestError('the token service could not be reached', 'ERR_ENFORCE_PDP_UNREACHABLE', 503);
    }
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      throw tokenRequestError(`the token service answered a redirect (${response.status}), which is never followed`, RESPONSE_REFUSED, 502);
    }
    if (response.ok && typeof body.access_token === 'string') {
      const problem = options.check?.(body);
      if (problem !== undefined) throw tokenRequestError(`the token service's answer is not acceptable: ${problem}`, RESPONSE_REFUSED, 502);
      return body.access_token;
    }
    // The service's own code when it looks like one; never its text at any length.
    const code = typeof body.code === 'string' && ERROR_CODE.test(body.code) ? body.code : 'ERR_ENFORCE_PDP_FAILED';
    const retryAfter = /^\d{1,9}$/.test(response.headers.get('retry-after') ?? '') ? Number(response.headers.get('retry-after')) : undefined;
    throw tokenRequestError(`the token service refused the ${what} (${code === 'ERR_ENFORCE_PDP_FAILED' ? response.status : code})`, code, response.status, retryAfter);
  };
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const failure = error as TokenExchangeError;
      if (failure.status < 500 || failure.code === RESPONSE_REFUSED || signal.aborted || tries >= retries) throw failure;
      const wait = retryDelayMs({ attempt: tries, initialMs: 50, maxMs: 500, retryAfterSec: failure.retryAfterSec, remainingMs: deadline - performance.now(), random: options.random });
      if (wait === null) throw failure;
      await sleep(wait, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw failure;
    }
  }
}
