/**
 * Transaction Tokens (draft-ietf-oauth-transaction-tokens): the short-lived JWT that carries a
 * call chain's user, scope and context from workload to workload inside one trust domain. Issued
 * by the tenant's token service (ES256, its signing-key ring), verified by the PDP and PEPs.
 */
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { isPlainObject, VerityError, type ErrorCode } from '@verity/core';
import { jwtErrorCode } from './jwt-errors.js';
import type { SigningKeyRing } from './signing-keys.js';

/** The token type URN of a Txn-Token (draft §7.1, RFC 8693 §3). */
export const TOKEN_TYPE_TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
/** The JWT `typ` header of a Txn-Token (draft §5.1). */
export const TXN_TOKEN_TYPE = 'txntoken+jwt';
/** The HTTP header a Txn-Token travels in between workloads (draft §9.1). */
export const TXN_TOKEN_HEADER = 'txn-token';
/** Signature algorithms accepted on a Txn-Token; `none`, HMAC and the rest never are. */
export const TXN_TOKEN_ALGORITHMS = ['ES256', 'RS256'] as const;
/**
 * Most requesting workloads one transaction records (the first requester and every replacement's).
 * Replacing a Txn-Token once more than this is refused: it bounds how often one can be replaced.
 */
export const MAX_TXN_CALL_CHAIN = 8;
/** Txn-Tokens above this many characters are refused before any parsing (they travel in a header). */
export const MAX_TXN_TOKEN_LENGTH = 8 * 1024;
/** Default lifetime: draft §6 asks for minutes or less. */
export const DEFAULT_TXN_TOKEN_TTL_SEC = 300;

/** The claims of a Txn-Token as Verity issues it (draft §5.2). */
export interface TxnTokenClaims {
  /** The tenant's token-service issuer URL. */
  iss: string;
  iat: number;
  exp: number;
  /** The trust domain the token is valid in, and only there. */
  aud: string;
  /** The transaction id: one per call chain, kept by every replacement (RFC 8417 §2.2). */
  txn: string;
  /** The principal of the transaction (the subject token's principal id). */
  sub: string;
  /** Space-separated scopes, never wider than the subject token's. */
  scope: string;
  /** The SPIFFE id of the workload that requested this token. */
  req_wl: string;
  /**
   * The workloads that requested the Txn-Tokens this one replaced, oldest first: the call chain
   * a replacement must keep (draft §10.10). Absent on a first Txn-Token.
   */
  req_wl_chain?: string[];
  /** Transaction context: immutable details of the transaction (e.g. `decision_id`, `policy_version`). */
  tctx?: Record<string, unknown>;
  /** Request context: the environment of the originating request (e.g. `req_ip`). */
  rctx?: Record<string, unknown>;
}

/** What a verified Txn-Token says. */
export interface VerifiedTxnToken {
  txn: string;
  sub: string;
  scope: string[];
  /** The workload that requested this token (`req_wl`). */
  reqWl: string;
  /** Every requesting workload of the transaction, oldest first, ending with `reqWl`. */
  callChain: string[];
  tctx: Record<string, unknown>;
  rctx: Record<string, unknown>;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export interface IssueTxnTokenOptions {
  keyRing: SigningKeyRing;
  /** The tenant's token-service issuer URL (`iss`). */
  issuer: string;
  /** The trust domain (`aud`). */
  trustDomain: string;
  subject: string;
  scopes: readonly string[];
  /** The SPIFFE id of the requesting workload (`req_wl`). */
  requestingWorkload: string;
  /** The transaction id; a replacement passes the replaced token's. Default: a new random UUID. */
  txn?: string;
  /** Earlier requesting workloads, oldest first (a replacement's `req_wl_chain`). */
  previousWorkloads?: readonly string[];
  tctx?: Record<string, unknown>;
  rctx?: Record<string, unknown>;
  /** Lifetime in seconds (default 300; at most the key ring's `maxTokenTtlSec`). */
  ttlSec?: number;
  /** Seconds since the epoch the token must not outlive (the subject token's `exp`). */
  notAfter?: number;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
}

export interface VerifyTxnTokenOptions {
  /** The token service's public keys: a JWKS, or a key function (e.g. a `KeyResolver`'s). */
  keys: JSONWebKeySet | JWTVerifyGetKey;
  /** The token service's issuer URL: `iss` must be exactly this. */
  issuer: string;
  /** The trust domain this verifier is in: `aud` must be exactly this. */
  trustDomain: string;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Seconds of clock skew tolerated on `exp` and `iat` (default 30). */
  clockToleranceSec?: number;
}

/** Why a Txn-Token was refused, for logs and the audit (the error's `cause.reason`); callers see one code. */
export type TxnTokenRefusal = ErrorCode;

const REASONS: Partial<Record<ErrorCode, string>> = {
  ERR_TOKEN_MISSING: 'no Txn-Token was given',
  ERR_TOKEN_TOO_LARGE: 'the Txn-Token is too large',
  ERR_TOKEN_MALFORMED: 'the Txn-Token is not a well-formed JWT',
  ERR_TOKEN_HEADER: 'the Txn-Token header is not acceptable (typ must be txntoken+jwt)',
  ERR_TOKEN_ALGORITHM: 'the Txn-Token algorithm is not allowed',
  ERR_TOKEN_SIGNATURE: 'the Txn-Token signature is invalid',
  ERR_TOKEN_UNKNOWN_KEY: 'the Txn-Token was signed by a key the token service does not publish',
  ERR_TOKEN_EXPIRED: 'the Txn-Token has expired',
  ERR_TOKEN_NOT_YET_VALID: 'the Txn-Token was issued in the future',
  ERR_TOKEN_ISSUER: 'the Txn-Token was not issued by this token service',
  ERR_TOKEN_AUDIENCE: 'the Txn-Token is for another trust domain',
  ERR_TOKEN_CLAIMS: 'the Txn-Token claims are invalid',
  ERR_TOKEN_REVOKED: 'the Txn-Token subject has been revoked',
  ERR_IDENTITY_SOURCE_UNAVAILABLE: 'the token service keys could not be read',
};

/**
 * The one error of a refused Txn-Token: `ERR_TXN_TOKEN_INVALID` (401), its reason (an
 * `ERR_TOKEN_*` code) on `cause` for logs and the audit, and a message that never holds the token.
 */
export function txnTokenError(reason: ErrorCode, cause?: unknown): VerityError {
  return new VerityError('ERR_TXN_TOKEN_INVALID', REASONS[reason] ?? 'the Txn-Token was refused', { cause: { reason, ...(cause === undefined ? {} : { error: cause }) } });
}

/** The refusal reason of a `txnTokenError` (`ERR_TOKEN_*`), or the error's own code. */
export function txnTokenRefusalReason(error: unknown): string {
  const cause = error instanceof VerityError ? (error.cause as { reason?: unknown } | undefined) : undefined;
  if (typeof cause?.reason === 'string') return cause.reason;
  return error instanceof VerityError ? error.code : 'ERR_INTERNAL';
}

/**
 * Sign a Txn-Token with the token service's current key (ES256 by default; the ring must use
 * ES256 or RS256, the algorithms verifiers accept).
 *
 * @example
 * const { token } = await issueTxnToken({ keyRing, issuer, trustDomain: 'acme.internal', subject: 'alice', scopes: ['orders:read'], requestingWorkload: 'spiffe://acme.internal/gateway' });
 */
export async function issueTxnToken(options: IssueTxnTokenOptions): Promise<{ token: string; claims: TxnTokenClaims }> {
  const { keyRing } = options;
  if (!(TXN_TOKEN_ALGORITHMS as readonly string[]).includes(keyRing.algorithm)) throw new TypeError('issueTxnToken: the key ring must sign with ES256 or RS256');
  const ttlSec = options.ttlSec ?? DEFAULT_TXN_TOKEN_TTL_SEC;
  if (!Number.isInteger(ttlSec) || ttlSec <= 0 || ttlSec > keyRing.maxTokenTtlSec) throw new TypeError(`issueTxnToken: ttlSec must be a positive integer of at most ${keyRing.maxTokenTtlSec}`);
  for (const [name, value] of [['issuer', options.issuer], ['trustDomain', options.trustDomain], ['subject', options.subject], ['requestingWorkload', options.requestingWorkload]] as const) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`issueTxnToken: ${name} is required`);
  }
  if (options.scopes.length === 0) throw new TypeError('issueTxnToken: scopes must not be empty');
  const previous = options.previousWorkloads ?? [];
  if (previous.length + 1 > MAX_TXN_CALL_CHAIN) throw new TypeError(`issueTxnToken: a call chain holds at most ${MAX_TXN_CALL_CHAIN} workloads`);

  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const exp = options.notAfter === undefined ? iat + ttlSec : Math.min(iat + ttlSec, Math.floor(options.notAfter));
  // Never mint a token that is born expired (the subject token expired within the verifier's skew).
  if (exp <= iat) throw new VerityError('ERR_STS_INVALID_GRANT', 'The presented token has expired');
  const claims: TxnTokenClaims = {
    iss: options.issuer,
    iat,
    exp,
    aud: options.trustDomain,
    txn: options.txn ?? randomUUID(),
    sub: options.subject,
    scope: options.scopes.join(' '),
    req_wl: options.requestingWorkload,
    ...(previous.length === 0 ? {} : { req_wl_chain: [...previous] }),
    ...(options.tctx === undefined ? {} : { tctx: options.tctx }),
    ...(options.rctx === undefined ? {} : { rctx: options.rctx }),
  };
  const key = await keyRing.current();
  const token = await new SignJWT(claims as unknown as JWTPayload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: TXN_TOKEN_TYPE }).sign(key.key);
  return { token, claims };
}

/**
 * Verify a Txn-Token (draft §9.2): its signature by the token service's keys, `typ`
 * `txntoken+jwt`, `alg` ES256 or RS256, `iss` the token service, `aud` exactly this trust domain,
 * not expired, and every claim of the right type.
 *
 * @throws VerityError `ERR_TXN_TOKEN_INVALID` (401) whatever the reason; the reason (an
 *   `ERR_TOKEN_*` code) is on `cause.reason` (see {@link txnTokenRefusalReason}).
 *
 * @example
 * const txn = await verifyTxnToken(request.headers['txn-token'], { keys: jwks, issuer, trustDomain: 'acme.internal' });
 * // txn.sub, txn.scope, txn.reqWl, txn.tctx
 */
export async function verifyTxnToken(token: unknown, options: VerifyTxnTokenOptions): Promise<VerifiedTxnToken> {
  if (typeof token !== 'string' || token === '') throw txnTokenError('ERR_TOKEN_MISSING');
  if (token.length > MAX_TXN_TOKEN_LENGTH) throw txnTokenError('ERR_TOKEN_TOO_LARGE');
  checkHeader(token);
  const nowMs = (options.now ?? Date.now)();
  const tolerance = options.clockToleranceSec ?? 30;
  const keys = typeof options.keys === 'function' ? options.keys : createLocalJWKSet(options.keys);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: [...TXN_TOKEN_ALGORITHMS],
      typ: TXN_TOKEN_TYPE,
      issuer: options.issuer,
      audience: options.trustDomain,
      requiredClaims: ['iss', 'iat', 'exp', 'aud', 'txn', 'sub', 'scope', 'req_wl'],
      currentDate: new Date(nowMs),
      clockTolerance: tolerance,
    }));
  } catch (error) {
    const reason = jwtErrorCode(error);
    // jose's claim errors carry the whole payload: only the reason is kept.
    throw txnTokenError(reason === 'ERR_INTERNAL' ? 'ERR_TOKEN_MALFORMED' : reason, reason === 'ERR_IDENTITY_SOURCE_UNAVAILABLE' ? error : undefined);
  }
  return toVerified(payload, options.trustDomain, nowMs / 1000 + tolerance);
}

/** Header checks before any key is looked up: the type, an allowed algorithm, no `crit`. */
function checkHeader(token: string): void {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw txnTokenError('ERR_TOKEN_MALFORMED');
  }
  if (typeof header.alg !== 'string' || !(TXN_TOKEN_ALGORITHMS as readonly string[]).includes(header.alg)) throw txnTokenError('ERR_TOKEN_ALGORITHM');
  // RFC 8725 §3.11: the explicit type keeps an access token or ID token from passing as a Txn-Token.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (typ !== TXN_TOKEN_TYPE || header.crit !== undefined) throw txnTokenError('ERR_TOKEN_HEADER');
}

function text(value: unknown, max = 2048): value is string {
  return typeof value === 'string' && value !== '' && value.length <= max;
}

function toVerified(payload: JWTPayload, trustDomain: string, latestIat: number): VerifiedTxnToken {
  const claims = payload as Record<string, unknown>;
  // draft §5.2: the token names exactly one trust domain, and is accepted only there.
  const aud = Array.isArray(payload.aud) ? (payload.aud.length === 1 ? payload.aud[0] : undefined) : payload.aud;
  if (aud !== trustDomain) throw txnTokenError('ERR_TOKEN_AUDIENCE');
  if (typeof payload.iat !== 'number' || payload.iat > latestIat) throw txnTokenError('ERR_TOKEN_NOT_YET_VALID');
  const { txn, sub, scope, req_wl: reqWl, req_wl_chain: chain, tctx, rctx } = claims;
  if (!text(txn, 256) || !text(sub) || !text(scope, 4096) || !text(reqWl)) throw txnTokenError('ERR_TOKEN_CLAIMS');
  if (chain !== undefined && (!Array.isArray(chain) || chain.length === 0 || chain.length >= MAX_TXN_CALL_CHAIN || !chain.every((item) => text(item)))) throw txnTokenError('ERR_TOKEN_CLAIMS');
  if ((tctx !== undefined && !isPlainObject(tctx)) || (rctx !== undefined && !isPlainObject(rctx))) throw txnTokenError('ERR_TOKEN_CLAIMS');
  const scopes = scope.split(' ');
  if (scopes.some((item) => item === '')) throw txnTokenError('ERR_TOKEN_CLAIMS');
  return {
    txn,
    sub,
    scope: scopes,
    reqWl,
    callChain: [...((chain as string[] | undefined) ?? []), reqWl],
    tctx: (tctx as Record<string, unknown> | undefined) ?? {},
    rctx: (rctx as Record<string, unknown> | undefined) ?? {},
    iat: payload.iat,
    exp: payload.exp as number,
  };
}
