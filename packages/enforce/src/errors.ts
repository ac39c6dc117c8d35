/** Stable error codes of the enforcement SDK and the HTTP status a PEP answers with for each. */

/**
 * Codes are never renamed or reused. The `PDP_*` codes say why no decision could be had; a
 * client of the protected service only ever sees `ERR_ENFORCE_UNAVAILABLE` for them.
 */
export const ENFORCE_ERROR_CODES = {
  /** The policy denies the request. */
  ERR_ENFORCE_DENIED: 403,
  /** The policy denies the request as authenticated, and would allow it after a stronger authentication (RFC 9470). */
  ERR_ENFORCE_STEP_UP_REQUIRED: 401,
  /** No decision could be had, and the PEP fails closed. */
  ERR_ENFORCE_UNAVAILABLE: 503,
  /** The PDP could not be reached (connection refused, reset, DNS). */
  ERR_ENFORCE_PDP_UNREACHABLE: 503,
  /** The PDP did not answer within the time budget. */
  ERR_ENFORCE_PDP_TIMEOUT: 503,
  /**
   * The PDP answered 5xx (after the retries). A 503 is the PDP saying it cannot decide now: its
   * own code (`ERR_OVERLOADED`, `ERR_DEADLINE_EXCEEDED`, `ERR_POLICY_STALE`, …) is in `pdpCode`.
   */
  ERR_ENFORCE_PDP_FAILED: 503,
  /** The PDP refused the PEP's request (4xx other than a refused user token): misconfiguration. */
  ERR_ENFORCE_PDP_REFUSED: 503,
  /** The PDP's answer was not an AuthZEN decision. */
  ERR_ENFORCE_PDP_RESPONSE: 503,
  /**
   * The request path is malformed or ambiguous (a `;` path parameter, a dot or empty segment,
   * an encoded `/` `\` `%` `;` or control character): routers would disagree on its resource.
   */
  ERR_ENFORCE_PATH_AMBIGUOUS: 400,
  /** Local mode: the bundle is not signed by a bundle key pinned out of band. */
  ERR_ENFORCE_BUNDLE_KEY: 503,
  /** Local mode: the bundle is older than one already accepted (a replay), or a version with other policies. */
  ERR_ENFORCE_BUNDLE_REPLAYED: 503,
  /** Local mode: the only bundle has expired and no new one could be had. */
  ERR_ENFORCE_BUNDLE_EXPIRED: 503,
  /** Local mode: the state of accepted bundles could not be read or saved (so no bundle is used). */
  ERR_ENFORCE_BUNDLE_STATE: 503,
  /**
   * Local mode: no contact with the PDP (bundle, change stream or its heartbeat) for longer than
   * `maxContactLossMs`; decisions resume once contact is back.
   */
  ERR_ENFORCE_PDP_CONTACT_LOST: 503,
  /**
   * Local mode: the tenant's risk engine weighs a signal only the PDP has (per-subject activity;
   * a client IP only the PDP's location database places), so this request is not decided
   * locally: decide it remotely (docs/continuous-verification.md "Local mode").
   */
  ERR_ENFORCE_LOCAL_UNSUPPORTED: 503,
  /** Local mode: the decision's record could not be made durable in the audit spool, so the decision is not answered. */
  ERR_ENFORCE_AUDIT_SPOOL: 503,
  /**
   * A data-tier receipt was asked for and the allow came without a usable one: the tenant has no
   * active receipt key at the PDP (`pdpCode` `ERR_RECEIPT_KEY_MISSING`, a 409), or the PDP's
   * receipt is not a JWT with a numeric `exp`. The allow is not handed on.
   */
  ERR_ENFORCE_RECEIPT_UNAVAILABLE: 503,
  /**
   * A service-to-service route (`workloadPrincipal`) was called without a verified workload
   * identity (no client certificate, or one the mTLS helper did not accept): refused without
   * asking the PDP.
   */
  ERR_ENFORCE_CALLER_UNAUTHENTICATED: 401,
  /** The enforcer requires a Txn-Token (`requireTxnToken`) and the request has no `Txn-Token` header: refused without asking the PDP. */
  ERR_ENFORCE_TXN_TOKEN_MISSING: 401,
  /**
   * `runJob`: the job's revocation was not confirmed by the PDP (unreachable, timed out, or
   * refused: `pdpCode`); the job's tokens may stay valid until they expire.
   */
  ERR_ENFORCE_JOB_REVOKE_FAILED: 503,
  /** `runJob`: a job id that is not 1-128 of `[A-Za-z0-9._:-]`. */
  ERR_ENFORCE_JOB_INVALID: 400,
} as const;

export type EnforceErrorCode = keyof typeof ENFORCE_ERROR_CODES;

/**
 * Why a decision source could not decide. Messages never hold a token or credential.
 *
 * @example
 * ```ts
 * const result = await enforcer.enforce(input);
 * if (result.error?.code === 'ERR_ENFORCE_PDP_TIMEOUT') metrics.increment('pdp.timeout');
 * ```
 */
export class EnforceError extends Error {
  readonly code: EnforceErrorCode;
  readonly status: number;
  /** The PDP's HTTP status and error code, when it answered. */
  readonly pdpStatus: number | undefined;
  readonly pdpCode: string | undefined;
  /** The PDP's `Retry-After` in seconds, when it sent one (a 503): when to ask again. */
  readonly retryAfterSec: number | undefined;

  constructor(code: EnforceErrorCode, message: string, options: { pdpStatus?: number; pdpCode?: string; retryAfterSec?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EnforceError';
    this.code = code;
    this.status = ENFORCE_ERROR_CODES[code];
    this.pdpStatus = options.pdpStatus;
    this.pdpCode = options.pdpCode;
    this.retryAfterSec = options.retryAfterSec;
  }
}

/**
 * Whether `error` is an {@link EnforceError}.
 *
 * @example
 * ```ts
 * try { await source.decide(request); } catch (error) { if (isEnforceError(error)) log.warn(error.code); }
 * ```
 */
export function isEnforceError(error: unknown): error is EnforceError {
  return error instanceof EnforceError;
}
