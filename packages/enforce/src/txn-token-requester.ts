/**
 * The edge's half of Transaction Tokens (draft-ietf-oauth-transaction-tokens §7): a workload
 * (typically the gateway) trades the caller's access token for a Txn-Token of the tenant's
 * trust domain, authenticating with its JWT-SVID as an RFC 7523 client assertion, and sends it
 * on in the `Txn-Token` header (`downstreamHeaders({ txnToken })`). A deeper tier may replace
 * one (draft §10.10), never widening its scope.
 */
import { checkTokenRequestOptions, postTokenRequest, tokenRequestError, type TokenExchangeError } from './token-request.js';

export interface TxnTokenRequesterOptions {
  /** The PDP's base URL; the token service is `{url}/tenants/{tenant}/oauth2/token`. */
  url: string;
  tenant: string;
  /** The tenant's trust domain: the Txn-Token's audience (`<tenant>.verity.internal` unless the tenant sets `trust_domain`). */
  trustDomain: string;
  /**
   * This workload's JWT-SVID for `audience` (the token endpoint URL), e.g.
   * `async (audience) => (await workloadApi.jwtSvid([audience])).token`. Called per request.
   */
  jwtSvid: (audience: string) => Promise<string>;
  fetch?: typeof globalThis.fetch;
  /** The whole budget for one request, retries included, in ms (default 5000). */
  timeoutMs?: number;
  /** Further attempts after a 5xx or a network error, with full jitter (default 2). A 4xx is never retried. */
  retries?: number;
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Sent as `X-Verity-Tier`: the tier label of the token service's issuance decision in the audit (default none). */
  tier?: string;
}

export interface TxnTokenRequest {
  /** Scopes, a subset of the subject token's (default: all of them). */
  scope?: string;
  /** `request_details` → `tctx`; `decision_id` and `policy_version` name the edge's own decision. */
  details?: Record<string, unknown>;
  /** `request_context` → `rctx` (e.g. `{ req_ip }`). */
  context?: Record<string, unknown>;
  /** `subject_token` is a Txn-Token to replace (its `txn`, `sub` and context kept), not an access token. */
  replace?: boolean;
  /** Sent as `X-Request-ID`, so the token service's decision is audited under the caller's request. */
  requestId?: string;
}

export interface TxnTokenRequester {
  /** The token endpoint this requester asks (the JWT-SVID's audience). */
  readonly endpoint: string;
  /**
   * A Txn-Token for `subjectToken` (the caller's access token, or a Txn-Token with `replace`).
   * Never cached: every transaction gets its own `txn`. Throws a {@link TokenExchangeError} with
   * the token service's code (`ERR_STS_INVALID_CLIENT` for a refused SVID, `ERR_STS_INVALID_SCOPE`,
   * `ERR_STS_EXCHANGE_DENIED`, `ERR_STS_INVALID_SUBJECT_TOKEN`, …), `ERR_ENFORCE_PDP_TIMEOUT` /
   * `ERR_ENFORCE_PDP_UNREACHABLE`, `ERR_ENFORCE_PDP_RESPONSE` (a redirect, which is never
   * followed, or an answer that is not a Txn-Token), `ERR_ENFORCE_SVID_UNAVAILABLE` (`jwtSvid` failed).
   */
  request(subjectToken: string, request?: TxnTokenRequest): Promise<string>;
}

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** draft-ietf-oauth-transaction-tokens §7.4: the answer is a Txn-Token, not an access token to pass on. */
function checkTxnTokenResponse(body: Record<string, unknown>): string | undefined {
  if (body.issued_token_type !== TXN_TOKEN) return 'issued_token_type is not the Txn-Token type';
  if (body.token_type !== 'N_A') return 'token_type is not N_A';
  return undefined;
}

/**
 * @example
 * ```ts
 * const txnTokens = createTxnTokenRequester({ url, tenant: 'acme', trustDomain: 'acme.verity.internal',
 *   jwtSvid: async (audience) => (await workloadApi.jwtSvid([audience])).token });
 * const txnToken = await txnTokens.request(userToken, { details: { decision_id: result.decision.decisionId } });
 * await fetch(upstream, { headers: downstreamHeaders({ token: userToken, txnToken, requestId }) });
 * ```
 */
export function createTxnTokenRequester(options: TxnTokenRequesterOptions): TxnTokenRequester {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const retries = options.retries ?? 2;
  const random = options.random ?? Math.random;
  checkTokenRequestOptions('createTxnTokenRequester', timeoutMs, retries);
  if (typeof options.trustDomain !== 'string' || options.trustDomain === '') throw new TypeError('createTxnTokenRequester: trustDomain is required');
  const endpoint = `${options.url.replace(/\/$/, '')}/tenants/${encodeURIComponent(options.tenant)}/oauth2/token`;
  return {
    endpoint,
    async request(subjectToken, request = {}) {
      if (request.requestId !== undefined && !/^[\x21-\x7e]{1,200}$/.test(request.requestId)) throw new TypeError('createTxnTokenRequester: requestId must be 1–200 visible ASCII characters');
      let assertion: string;
      try {
        assertion = await options.jwtSvid(endpoint);
      } catch (error) {
        throw Object.assign(tokenRequestError('this workload\'s JWT-SVID could not be had', 'ERR_ENFORCE_SVID_UNAVAILABLE', 503), { cause: error });
      }
      const form = new URLSearchParams({
        grant_type: EXCHANGE,
        requested_token_type: TXN_TOKEN,
        audience: options.trustDomain,
        subject_token: subjectToken,
        subject_token_type: request.replace === true ? TXN_TOKEN : ACCESS_TOKEN,
        client_assertion_type: JWT_BEARER,
        client_assertion: assertion,
        ...(request.scope === undefined ? {} : { scope: request.scope }),
        ...(request.details === undefined ? {} : { request_details: JSON.stringify(request.details) }),
        ...(request.context === undefined ? {} : { request_context: JSON.stringify(request.context) }),
      }).toString();
      const headers = { ...(request.requestId === undefined ? {} : { 'x-request-id': request.requestId }), ...(options.tier === undefined ? {} : { 'x-verity-tier': options.tier }) };
      return postTokenRequest(endpoint, headers, form, 'Txn-Token request', { fetch: fetchImpl, timeoutMs, retries, random, check: checkTxnTokenResponse });
    },
  };
}

export type { TokenExchangeError };
