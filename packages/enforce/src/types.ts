/** The shapes every decision source and the enforcer share: what is asked, and what is answered. */

/** An AuthZEN entity reference (subject or resource), with optional request-time properties. */
export interface EntityRef {
  type: string;
  id: string;
  properties?: Record<string, unknown>;
}

/**
 * The verified TLS peer of a request, as the mTLS helpers of `@verity/workload` report it
 * (`peerOf`): the caller's SPIFFE id when its X.509-SVID was verified, on the connection (`mtls`)
 * or by a trusted proxy (`xfcc`). Imported as a type only: the enforcer loads no X.509 code.
 */
export type { PeerIdentity } from '@verity/workload';

/** One question to a decision source. Send a `token` (token-in) or a `subject`, not both. */
export interface DecisionRequest {
  tenant: string;
  /** The caller's own access token: the PDP verifies it and maps it to the principal. */
  token?: string;
  /** The principal, when the PEP established it otherwise (mTLS peer, session). */
  subject?: EntityRef;
  action: string;
  resource: EntityRef;
  context: Record<string, unknown>;
  /** The audience this service is: a token issued for another service is refused. */
  audience?: string;
  /**
   * The request's Txn-Token (header `Txn-Token`), sent to the PDP as `options.verity_txn_token`:
   * verified there, its claims in `context.txn`; a refused one is a deny with reason
   * `unauthenticated` and code `ERR_TXN_TOKEN_INVALID`.
   */
  txnToken?: string;
  /** Echoed by the PDP and recorded in its audit (`X-Request-ID`). */
  requestId: string;
  /** The calling tier's label in the audit (`X-Verity-Tier`). */
  tier: string;
  /** Observe mode: the decision is audited as observed (a deny is recorded, not enforced). */
  observe?: boolean;
  /**
   * Ask the PDP for a data-tier receipt with an allow (AuthZEN `options.verity_receipt`). A
   * source that cannot get one for an allow rejects with `ERR_ENFORCE_RECEIPT_UNAVAILABLE`.
   */
  receipt?: boolean;
}

/**
 * A decision. Deny is a value, not an error. A token the PDP refused (forged, expired, revoked,
 * wrong audience) is a deny with reason `unauthenticated`, no decision id and no policy version,
 * and `code` says why (`ERR_TOKEN_*`).
 */
export interface Decision {
  decision: 'allow' | 'deny';
  /** The PDP's decision id (its audit record), or null when the token was refused first. */
  decisionId: string | null;
  /** The policy version that decided, or null when the token was refused first. */
  policyVersion: number | null;
  /** Determining policy ids, or `['unauthenticated']`. */
  reasons: string[];
  /** Why an unauthenticated deny: the PDP's `ERR_TOKEN_*` / `ERR_TXN_TOKEN_INVALID`, or the enforcer's own `ERR_ENFORCE_*`. */
  code?: string;
  /**
   * On an allow asked with `receipt`: the PDP's signed receipt (a compact JWS, `typ`
   * `verity-receipt+jwt`) for the data tier, to bind to a transaction (`withReceipt` in
   * `@verity/data-tier`). A credential for the data tier: never log it.
   */
  receipt?: string;
  /** When `receipt` expires, in epoch milliseconds (its `exp` claim). */
  receiptExpiresAt?: number;
  /**
   * The PDP's `context.verity_cache_until` (epoch ms): the risk signals this decision read change
   * by themselves then (an authentication ageing past a threshold, a device patch ageing out),
   * so it is not reused past it. Absent: only the cache's TTL and the change stream bound it.
   */
  cacheUntil?: number;
  /**
   * On a deny a stronger authentication would lift: the PDP's `context.step_up` (RFC 9470 §3
   * `acr_values`, and `max_age` in seconds). The enforcer answers it with 401 and a
   * `WWW-Authenticate: Bearer error="insufficient_user_authentication"` challenge.
   */
  stepUp?: StepUp;
}

/** What a step-up challenge asks for (RFC 9470 §3): authentication context class values, and the most seconds since authentication. */
export interface StepUp {
  acrValues: string;
  maxAge?: number;
}

/**
 * Where decisions come from: the remote PDP now, an in-process engine on the tenant's policy
 * bundle later. A source resolves to a decision, or rejects with an `EnforceError` when it
 * cannot decide (the enforcer then fails closed).
 */
export interface DecisionSource {
  decide(request: DecisionRequest): Promise<Decision>;
  /** Release connections and timers. */
  close?(): Promise<void>;
}
