/** The `{code, message}` a PEP answers a refused request with, the same for every adapter. */
import type { EnforceResult } from './enforcer.js';
import type { StepUp } from './types.js';

/**
 * RFC 9470 §3's challenge: `Bearer error="insufficient_user_authentication"` with what would do.
 * The values were checked as quoted-string safe when the PDP's answer was read (remote-source.ts).
 */
function stepUpChallenge(stepUp: StepUp): string {
  return [
    'Bearer error="insufficient_user_authentication"',
    'error_description="A different authentication level is required"',
    `acr_values="${stepUp.acrValues}"`,
    ...(stepUp.maxAge === undefined ? [] : [`max_age="${stepUp.maxAge}"`]),
  ].join(', ');
}

/** What a 401 says when it is not the bearer token that failed. */
const UNAUTHENTICATED: Readonly<Record<string, string>> = {
  ERR_ENFORCE_CALLER_UNAUTHENTICATED: 'an authenticated workload (mTLS client certificate) is required',
  ERR_ENFORCE_TXN_TOKEN_MISSING: 'a Txn-Token is required',
  ERR_TXN_TOKEN_INVALID: 'a valid Txn-Token is required',
};

/**
 * The body for a 401, 403 or 503. A refused token keeps the PDP's `ERR_TOKEN_*` code (the
 * client can act on "expired"); a PDP outage is only ever `ERR_ENFORCE_UNAVAILABLE`, with no
 * detail of what failed behind us.
 *
 * @example
 * ```ts
 * // in an adapter
 * if (!result.allowed) return reply.status(result.status).send(refusalBody(result));
 * ```
 */
export function refusalBody(result: EnforceResult): { code: string; message: string } {
  if (result.status === 401 && result.decision?.stepUp !== undefined) return { code: 'ERR_ENFORCE_STEP_UP_REQUIRED', message: 'a stronger or more recent authentication is required' };
  if (result.status === 401) {
    const code = result.decision?.code ?? 'ERR_TOKEN_MISSING';
    return { code, message: UNAUTHENTICATED[code] ?? 'a valid bearer token is required' };
  }
  if (result.status === 403) return { code: 'ERR_ENFORCE_DENIED', message: 'the policy does not permit this request' };
  return { code: 'ERR_ENFORCE_UNAVAILABLE', message: 'authorization is unavailable; the request was not allowed' };
}

/**
 * Headers to add to a refusal. RFC 6750 §3: a 401 tells the client a bearer token is expected,
 * and whether the one it sent failed; RFC 9470 §3: or that it must authenticate more strongly
 * or more recently (`insufficient_user_authentication`, with `acr_values` and `max_age`). RFC 9110 §10.2.3: a 503 says when to try again — the
 * PDP's `Retry-After` when it sent one (it was overloaded, stale, …), else 1 second.
 */
export function refusalHeaders(result: Pick<EnforceResult, 'status' | 'decision' | 'error'>): Record<string, string> {
  if (result.status === 503) return { 'retry-after': String(Math.max(1, result.error?.retryAfterSec ?? 1)) };
  if (result.status !== 401) return {};
  const stepUp = result.decision?.stepUp;
  if (stepUp !== undefined) return { 'www-authenticate': stepUpChallenge(stepUp) };
  // Only a bearer token the PDP refused is `invalid_token`; a missing workload identity or Txn-Token is not the bearer's fault.
  const code = result.decision?.code ?? 'ERR_TOKEN_MISSING';
  return { 'www-authenticate': code.startsWith('ERR_TOKEN_') && code !== 'ERR_TOKEN_MISSING' ? 'Bearer error="invalid_token"' : 'Bearer' };
}
