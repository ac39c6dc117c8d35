/**
 * The Txn-Token Request (draft-ietf-oauth-transaction-tokens §7, an RFC 8693 profile): a
 * mutually authenticated workload trades a user's access token, or a Txn-Token (replacement),
 * for a Txn-Token of the tenant's trust domain. Scope only narrows, lifetime never extends, and
 * a replacement keeps the transaction, its subject and its context.
 */
import { randomUUID } from 'node:crypto';
import { canonicalJson, isPlainObject, VerityError } from '@verity/core';
import { readFormParam, type StsForm } from './client-auth.js';
import { grantScopes, parseScope } from './scope.js';
import type { SigningKeyRing } from './signing-keys.js';
import { TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from './token-exchange.js';
import { GRANT_TYPE_TOKEN_EXCHANGE } from './token-issuer.js';
import { issueTxnToken, MAX_TXN_CALL_CHAIN, TOKEN_TYPE_TXN_TOKEN, type VerifiedTxnToken } from './txn-token.js';
import type { VerifiedToken } from './types.js';

/** `request_context` and `request_details` are each at most this many characters of JSON (a Txn-Token travels in a header). */
export const MAX_TXN_CONTEXT_LENGTH = 2048;

/** What the issuance decision is asked: may this workload get a Txn-Token for this subject? */
export interface TxnTokenAuthorizationRequest {
  /** The requesting workload, as its JWT-SVID proved it. */
  principal: { type: 'Workload'; id: string };
  action: 'txn_token';
  resource: { trustDomain: string };
  /** The transaction id the Txn-Token will carry (new, or the replaced token's): the decision's audit join key. */
  txn: string;
  context: {
    /** The transaction's principal (the subject token's principal id). */
    subject: string;
    /** The scopes the Txn-Token would carry. */
    scopes: string[];
    /** Whether a Txn-Token is being replaced (its `txn` kept). */
    replacement: boolean;
  };
}

/** The Txn-Token Response (draft §7.4). */
export interface TxnTokenResponse {
  access_token: string;
  issued_token_type: typeof TOKEN_TYPE_TXN_TOKEN;
  /** RFC 8693 §2.2.1: the issued token is not an OAuth access token. */
  token_type: 'N_A';
  expires_in: number;
  scope: string;
}

/** A Txn-Token Request's form, checked before any token in it is verified. */
export interface TxnTokenRequest {
  /** What `subject_token` is: a user's token, or a Txn-Token to replace. */
  subject: 'token' | 'txn_token';
  scopes?: string[];
  /** `request_details`, the source of `tctx`. */
  details?: Record<string, unknown>;
  /** `request_context`, the source of `rctx`. */
  context?: Record<string, unknown>;
}

export interface IssueTxnTokenForRequestOptions {
  request: TxnTokenRequest;
  /** The SPIFFE id of the authenticated requesting workload. */
  requester: string;
  /** The verified subject: a user token (checked against revocation), or the Txn-Token being replaced. */
  subject: { token: VerifiedToken } | { txnToken: VerifiedTxnToken };
  keyRing: SigningKeyRing;
  issuer: string;
  trustDomain: string;
  /** The tenant's Cedar decision: may this workload have this Txn-Token? */
  authorize: (request: TxnTokenAuthorizationRequest) => Promise<boolean>;
  ttlSec?: number;
  now?: () => number;
}

/**
 * Whether a token-endpoint form asks for a Txn-Token (`requested_token_type` is the Txn-Token
 * URN): such a request is answered only to a workload authenticated by its JWT-SVID.
 */
export function isTxnTokenRequest(form: StsForm): boolean {
  try {
    return readFormParam(form, 'grant_type') === GRANT_TYPE_TOKEN_EXCHANGE && readFormParam(form, 'requested_token_type') === TOKEN_TYPE_TXN_TOKEN;
  } catch {
    return false;
  }
}

/**
 * Check a Txn-Token Request's form (draft §7.1): the token-exchange grant, the Txn-Token type,
 * `audience` exactly the trust domain, a subject token of a supported type, a well-formed scope,
 * and `request_context` / `request_details` as JSON objects.
 *
 * @throws VerityError `ERR_STS_INVALID_REQUEST`, `ERR_STS_INVALID_TARGET` (another audience),
 *   `ERR_STS_INVALID_SCOPE` (malformed), `ERR_STS_UNSUPPORTED_GRANT_TYPE`.
 */
export function parseTxnTokenRequest(form: StsForm, trustDomain: string): TxnTokenRequest {
  const param = (name: string): string | undefined => readFormParam(form, name);
  const grantType = param('grant_type');
  if (grantType === undefined) throw invalidRequest('grant_type is required');
  if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) throw new VerityError('ERR_STS_UNSUPPORTED_GRANT_TYPE', 'A Txn-Token is requested with the token-exchange grant');
  if (param('requested_token_type') !== TOKEN_TYPE_TXN_TOKEN) throw invalidRequest('requested_token_type must be the Txn-Token type');
  const audience = param('audience');
  if (audience === undefined) throw invalidRequest('audience (the trust domain) is required');
  if (param('resource') !== undefined) throw invalidRequest('a Txn-Token is requested for an audience, not a resource');
  // draft §5.2: a Txn-Token is valid in exactly one trust domain, the one this service serves.
  if (audience !== trustDomain) throw new VerityError('ERR_STS_INVALID_TARGET', 'The audience must be this tenant\'s trust domain');
  if (param('actor_token') !== undefined || param('actor_token_type') !== undefined) throw invalidRequest('a Txn-Token request has no actor token: the requesting workload is the client');
  if (param('subject_token') === undefined) throw invalidRequest('subject_token is required');
  const type = param('subject_token_type');
  let subject: TxnTokenRequest['subject'];
  if (type === TOKEN_TYPE_ACCESS_TOKEN || type === TOKEN_TYPE_JWT) subject = 'token';
  else if (type === TOKEN_TYPE_TXN_TOKEN) subject = 'txn_token';
  else throw invalidRequest('subject_token_type is missing or unsupported');
  const scopes = parseScope(param('scope'));
  const details = jsonObjectParam(param('request_details'), 'request_details');
  if (details !== undefined) checkDecisionDetails(details);
  const context = jsonObjectParam(param('request_context'), 'request_context');
  return { subject, ...(scopes === undefined ? {} : { scopes }), ...(details === undefined ? {} : { details }), ...(context === undefined ? {} : { context }) };
}

/**
 * Issue the Txn-Token a checked request asks for. From a user token: a new `txn`, the token's
 * principal as `sub`, scopes within the token's (default all of them), `tctx`/`rctx` from the
 * request, never outliving the token. From a Txn-Token (a replacement, draft §10.10): the same
 * `txn`, `sub` and `aud`, scopes within the old token's, `tctx`/`rctx` kept (a request may add
 * entries, never change one), the old requester appended to `req_wl_chain`, never outliving it.
 *
 * @throws VerityError `ERR_STS_INVALID_SCOPE` (wider than the subject's, or none),
 *   `ERR_STS_INVALID_REQUEST` (a replacement changing context), `ERR_STS_INVALID_SUBJECT_TOKEN`
 *   (expired, or a call chain already at its limit), `ERR_STS_EXCHANGE_DENIED` (the Cedar decision).
 *
 * @example
 * const request = parseTxnTokenRequest(form, 'acme.internal');
 * const response = await issueTxnTokenForRequest({ request, requester, subject: { token: verified }, keyRing, issuer, trustDomain: 'acme.internal', authorize });
 */
export async function issueTxnTokenForRequest(options: IssueTxnTokenForRequestOptions): Promise<TxnTokenResponse> {
  const { request, requester, subject } = options;
  const replaced = 'txnToken' in subject ? subject.txnToken : undefined;
  if ((replaced !== undefined) !== (request.subject === 'txn_token')) throw new TypeError('issueTxnTokenForRequest: the verified subject does not match subject_token_type');
  let fields: { sub: string; scopes: string[]; notAfter: number; txn: string; previous: string[]; tctx?: Record<string, unknown>; rctx?: Record<string, unknown> };
  if (replaced === undefined) {
    const token = (subject as { token: VerifiedToken }).token;
    // draft §10.8: scopes never exceed the subject token's; a token without any grants none.
    // The transaction id is made here, so the issuance decision is audited under it too.
    fields = { sub: token.principal.uid.id, txn: randomUUID(), scopes: grantScopes(request.scopes, [token.scopes]), notAfter: token.expiresAt, previous: [], ...withContext(request) };
  } else {
    if (replaced.callChain.length >= MAX_TXN_CALL_CHAIN) throw invalidSubject('the Txn-Token has been replaced too often');
    fields = {
      sub: replaced.sub,
      txn: replaced.txn,
      scopes: grantScopes(request.scopes, [replaced.scope]),
      notAfter: replaced.exp,
      previous: replaced.callChain,
      ...extended('tctx', replaced.tctx, request.details),
      ...extended('rctx', replaced.rctx, request.context),
    };
  }

  const allowed = await options.authorize({
    principal: { type: 'Workload', id: requester },
    action: 'txn_token',
    resource: { trustDomain: options.trustDomain },
    txn: fields.txn,
    context: { subject: fields.sub, scopes: fields.scopes, replacement: replaced !== undefined },
  });
  if (allowed !== true) throw new VerityError('ERR_STS_EXCHANGE_DENIED', 'The Txn-Token request is not permitted');

  const { token, claims } = await issueTxnToken({
    keyRing: options.keyRing,
    issuer: options.issuer,
    trustDomain: options.trustDomain,
    subject: fields.sub,
    scopes: fields.scopes,
    requestingWorkload: requester,
    previousWorkloads: fields.previous,
    notAfter: fields.notAfter,
    txn: fields.txn,
    ...(fields.tctx === undefined ? {} : { tctx: fields.tctx }),
    ...(fields.rctx === undefined ? {} : { rctx: fields.rctx }),
    ...(options.ttlSec === undefined ? {} : { ttlSec: options.ttlSec }),
    ...(options.now === undefined ? {} : { now: options.now }),
  }).catch((error: unknown) => {
    if (error instanceof VerityError && error.code === 'ERR_STS_INVALID_GRANT') throw invalidSubject('it has expired');
    throw error;
  });
  return { access_token: token, issued_token_type: TOKEN_TYPE_TXN_TOKEN, token_type: 'N_A', expires_in: claims.exp - claims.iat, scope: claims.scope };
}

function withContext(request: TxnTokenRequest): { tctx?: Record<string, unknown>; rctx?: Record<string, unknown> } {
  return { ...(request.details === undefined ? {} : { tctx: request.details }), ...(request.context === undefined ? {} : { rctx: request.context }) };
}

/** A replacement's context: the old entries unchanged, the request's new ones added (draft §10.10). */
function extended(claim: 'tctx' | 'rctx', old: Record<string, unknown>, added: Record<string, unknown> | undefined): Partial<Record<'tctx' | 'rctx', Record<string, unknown>>> {
  const entries = Object.entries(added ?? {});
  for (const [key, value] of entries) {
    if (Object.hasOwn(old, key) && canonicalJson(old[key]) !== canonicalJson(value)) throw invalidRequest(`a replacement Txn-Token keeps ${claim}: its entries may not change`);
  }
  // fromEntries defines own properties: a `__proto__` key stays a key.
  const merged = Object.fromEntries([...Object.entries(old), ...entries]);
  if (JSON.stringify(merged).length > MAX_TXN_CONTEXT_LENGTH) throw invalidRequest(`${claim} would be larger than ${MAX_TXN_CONTEXT_LENGTH} characters`);
  return Object.keys(merged).length === 0 ? {} : { [claim]: merged };
}

/** draft §7.1: the parameter is a JSON object (form-encoded like every parameter). */
function jsonObjectParam(value: string | undefined, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value.length > MAX_TXN_CONTEXT_LENGTH) throw invalidRequest(`${name} is larger than ${MAX_TXN_CONTEXT_LENGTH} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalidRequest(`${name} must be a JSON object`);
  }
  if (!isPlainObject(parsed)) throw invalidRequest(`${name} must be a JSON object`);
  // Signed into every Txn-Token of the chain and merged by every tier: no key that means
  // something to a JavaScript object (prototype pollution in a consumer that merges naively).
  if (hasPrototypeKey(parsed)) throw invalidRequest(`${name} may not use the keys __proto__, constructor or prototype`);
  return parsed;
}

function hasPrototypeKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasPrototypeKey);
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).some((key) => key === '__proto__' || key === 'constructor' || key === 'prototype' || hasPrototypeKey((value as Record<string, unknown>)[key]));
}

/** The gateway's decision, when `request_details` names it: its id and the policy version that made it. */
function checkDecisionDetails(details: Record<string, unknown>): void {
  const { decision_id: id, policy_version: version } = details;
  if (id !== undefined && (typeof id !== 'string' || id === '' || id.length > 128)) throw invalidRequest('request_details.decision_id must be a decision id');
  if (version !== undefined && (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)) throw invalidRequest('request_details.policy_version must be a policy version (a positive integer)');
}

function invalidSubject(message: string): VerityError {
  return new VerityError('ERR_STS_INVALID_SUBJECT_TOKEN', `The subject token is not acceptable: ${message}`);
}

function invalidRequest(message: string): VerityError {
  return new VerityError('ERR_STS_INVALID_REQUEST', message);
}
