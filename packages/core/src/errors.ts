/** Stable error codes for all of Verity, and the one table that maps them to HTTP status. */

/**
 * Every code Verity returns. Codes are never renamed or reused; docs/errors.md lists them.
 * Status is the HTTP status a server answers with when the error reaches a client.
 */
export const ERROR_CODES = {
  ERR_REQUEST_MALFORMED_JSON: 400,
  ERR_REQUEST_CONTENT_TYPE: 400,
  ERR_REQUEST_TOO_LARGE: 413,
  ERR_REQUEST_TOO_DEEP: 400,
  ERR_REQUEST_INVALID: 400,
  ERR_REQUEST_NOT_FOUND: 404,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_REQUEST_HEADERS_TOO_LARGE: 431,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_AUTH_MISSING: 401,
  ERR_AUTH_INVALID: 401,
  ERR_AUTH_FORBIDDEN: 403,
  ERR_CREDENTIAL_NOT_FOUND: 404,
  ERR_CREDENTIAL_LAST_ADMIN: 409,
  ERR_TENANT_NOT_FOUND: 404,
  ERR_TENANT_EXISTS: 409,
  ERR_TENANT_INVALID: 400,
  ERR_TENANT_SETTINGS_VERSION_NOT_FOUND: 404,
  ERR_TENANT_SETTINGS_CONFLICT: 412,
  ERR_POLICY_PARSE: 422,
  ERR_POLICY_VALIDATION: 422,
  ERR_POLICY_SCHEMA_PARSE: 422,
  ERR_POLICY_TEMPLATE_LINK: 422,
  ERR_POLICY_TOO_COMPLEX: 422,
  ERR_POLICY_FALLBACK_LIMIT: 409,
  ERR_POLICY_NO_ACTIVE_VERSION: 409,
  ERR_POLICY_VERSION_NOT_FOUND: 404,
  ERR_POLICY_VERSION_CONFLICT: 409,
  ERR_ENTITY_INVALID: 400,
  ERR_ENTITY_NOT_FOUND: 404,
  ERR_ENTITY_UNKNOWN_TYPE: 400,
  ERR_DECISION_INVALID_REQUEST: 400,
  ERR_DECISION_DUPLICATE_ENTITY: 400,
  ERR_DECISION_LIMIT: 400,
  ERR_DECISION_FAILED: 500,
  ERR_DECISION_TIMEOUT: 503,
  ERR_SEARCH_INVALID_TOKEN: 400,
  ERR_TOKEN_MISSING: 401,
  ERR_TOKEN_MALFORMED: 401,
  ERR_TOKEN_TOO_LARGE: 401,
  ERR_TOKEN_ALGORITHM: 401,
  ERR_TOKEN_SIGNATURE: 401,
  ERR_TOKEN_UNKNOWN_KEY: 401,
  ERR_TOKEN_HEADER: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_NOT_YET_VALID: 401,
  ERR_TOKEN_ISSUER: 401,
  ERR_TOKEN_AUDIENCE: 401,
  ERR_TOKEN_CLAIMS: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_IDENTITY_SOURCE_INVALID: 400,
  ERR_IDENTITY_SOURCE_NOT_FOUND: 404,
  ERR_IDENTITY_SOURCE_UNAVAILABLE: 503,
  ERR_STS_INVALID_CLIENT: 401,
  ERR_STS_INVALID_REQUEST: 400,
  ERR_STS_INVALID_GRANT: 400,
  ERR_STS_INVALID_SCOPE: 400,
  ERR_STS_INVALID_TARGET: 400,
  ERR_STS_UNSUPPORTED_GRANT_TYPE: 400,
  ERR_STS_EXCHANGE_DENIED: 400,
  ERR_STS_INVALID_SUBJECT_TOKEN: 400,
  ERR_STS_INVALID_ACTOR_TOKEN: 400,
  ERR_STS_UNAUTHORIZED_CLIENT: 400,
  ERR_STS_INVALID_JOB: 400,
  ERR_AUDIT_CHECKPOINT_INVALID: 400,
  ERR_AUDIT_NOT_EXPORTED: 409,
  ERR_AUDIT_TENANT_LIVE: 409,
  ERR_AUDIT_REMOVAL_DISABLED: 409,
  ERR_RECEIPT_KEY_MISSING: 409,
  ERR_RECEIPT_KEY_NOT_FOUND: 404,
  ERR_RECEIPT_KEY_NOT_PENDING: 409,
  ERR_SPIFFE_ID_INVALID: 400,
  ERR_TRUST_DOMAIN_INVALID: 400,
  ERR_SVID_INVALID: 401,
  ERR_SVID_EXPIRED: 401,
  ERR_SVID_UNTRUSTED: 401,
  ERR_SVID_REVOKED: 401,
  ERR_CSR_INVALID: 400,
  ERR_WORKLOAD_INVALID: 400,
  ERR_WORKLOAD_NOT_FOUND: 404,
  ERR_WORKLOAD_EXISTS: 409,
  ERR_DEVICE_INVALID: 400,
  ERR_DEVICE_CERTIFICATE: 400,
  ERR_DEVICE_NOT_FOUND: 404,
  ERR_SSF_SET_INVALID: 400,
  ERR_SSF_SET_KEY: 400,
  ERR_SSF_SET_ISSUER: 400,
  ERR_SSF_SET_AUDIENCE: 400,
  ERR_SSF_SET_REPLAYED: 400,
  ERR_SSF_SUBJECT_UNSUPPORTED: 400,
  ERR_SSF_TRANSMITTER_INVALID: 400,
  ERR_SSF_TRANSMITTER_NOT_FOUND: 404,
  ERR_SSF_RECEIVER_INVALID: 400,
  ERR_SSF_RECEIVER_NOT_FOUND: 404,
  ERR_THREAT_LIST_INVALID: 400,
  ERR_THREAT_LIST_NOT_FOUND: 404,
  ERR_ACTIVITY_INVALID: 400,
  ERR_ACTIVITY_NOT_FOUND: 404,
  ERR_JOIN_TOKEN_INVALID: 401,
  ERR_ATTESTATION_FAILED: 401,
  ERR_TXN_TOKEN_INVALID: 401,
  ERR_ISTIO_POLICY_INVALID: 400,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_STORE_LOCKED: 503,
  ERR_AUDIT_UNAVAILABLE: 503,
  ERR_POLICY_STALE: 503,
  ERR_OVERLOADED: 503,
  ERR_DEADLINE_EXCEEDED: 503,
  ERR_SHUTTING_DOWN: 503,
  ERR_STARTING: 503,
  ERR_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A source position inside a policy or schema text, as Cedar reports it. */
export interface SourcePosition {
  /** Policy id or file the position belongs to, when known. */
  source?: string;
  start: number;
  end: number;
  line?: number;
  column?: number;
  label?: string | null;
}

/** One diagnostic (from Cedar or from Verity's own checks) attached to an error. */
export interface Diagnostic {
  message: string;
  policyId?: string;
  help?: string | null;
  positions?: SourcePosition[];
}

/**
 * The one error type for untrusted input and operational failures. `message` is safe to
 * show a client: it never contains a token, key, secret or certificate.
 */
export class VerityError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly diagnostics: Diagnostic[] | undefined;

  constructor(code: ErrorCode, message: string, options?: { diagnostics?: Diagnostic[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerityError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.diagnostics = options?.diagnostics;
  }

  /** The body a client receives: `{code, message}` plus diagnostics for policy errors. */
  toJSON(): { code: ErrorCode; message: string; diagnostics?: Diagnostic[] } {
    return this.diagnostics === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, diagnostics: this.diagnostics };
  }
}

export function isVerityError(error: unknown): error is VerityError {
  return error instanceof VerityError;
}
