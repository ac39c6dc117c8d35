/** Issues the token service's short-lived JWT access tokens (RFC 9068) and describes the service for discovery. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { VerityError } from '@verity/core';
import type { SigningKeyRing } from './signing-keys.js';
import { isJobId, JOB_CLAIM } from './job-id.js';

/** RFC 8693 §4.1 `act`: the current actor, with the prior actor nested inside. */
export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

/** The claims of an issued access token. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  /** Space-separated (RFC 9068 §2.2.3). */
  scope: string;
  client_id?: string;
  act?: ActorClaim;
  /** The job the token was exchanged for (see `job-id.ts`). */
  job?: string;
  [claim: string]: unknown;
}

/** The claim naming the principal's Cedar entity type in tokens the token service issues. */
export const PRINCIPAL_TYPE_CLAIM = 'principal_type';

export interface IssueTokenRequest {
  subject: string;
  /** The subject's Cedar entity type (`principal_type`): a client's registered principal keeps its type. */
  principalType?: string;
  audience: string | string[];
  scopes: string[];
  clientId?: string;
  act?: ActorClaim;
  /** The job the token belongs to (`job` claim): a job revocation ends it. A well-formed job id. */
  job?: string;
  /** Lifetime in seconds (default the issuer's `defaultTtlSec`; at most the key ring's `maxTokenTtlSec`). */
  ttlSec?: number;
  /** Seconds since the epoch the token must not outlive (e.g. the exchanged subject token's `exp`). */
  notAfter?: number;
  /** More claims; they may not replace a registered one. */
  extraClaims?: Record<string, unknown>;
}

export interface IssuedToken {
  token: string;
  claims: AccessTokenClaims;
}

/** OpenID Connect discovery / RFC 8414 metadata for `/.well-known/openid-configuration`. */
export interface DiscoveryMetadata {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  revocation_endpoint: string;
  grant_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  revocation_endpoint_auth_methods_supported: string[];
  id_token_signing_alg_values_supported: string[];
}

export interface TokenIssuer {
  readonly issuer: string;
  issue(request: IssueTokenRequest): Promise<IssuedToken>;
  /** `baseUrl` is where this tenant's token service is served; endpoints are derived from it. */
  discoveryMetadata(baseUrl: string): DiscoveryMetadata;
}

export interface TokenIssuerOptions {
  /** The tenant's issuer URL, exactly as it appears in `iss`. */
  issuer: string;
  keyRing: SigningKeyRing;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Default 300 s: access tokens are short-lived; revocation only has to outlast them. */
  defaultTtlSec?: number;
}

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_TYPE_CLIENT_CREDENTIALS = 'client_credentials';
/** Algorithms accepted on `private_key_jwt` client assertions. */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** Claims the issuer sets itself: `extraClaims` may not name them. */
export const REGISTERED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'scope', 'client_id', 'act', 'principal_type', JOB_CLAIM]);
const OPTION_KEYS: ReadonlySet<string> = new Set(['issuer', 'keyRing', 'now', 'defaultTtlSec']);

/**
 * Creates a tenant's token issuer.
 *
 * @example
 * const issuer = createTokenIssuer({ issuer: 'https://sts.example.com/t/acme', keyRing });
 * const { token } = await issuer.issue({ subject: 'alice', audience: 'https://api.example.com', scopes: ['read'] });
 */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown token issuer option "${key}"`);
  const issuer = checkIssuerUrl(options.issuer);
  const { keyRing } = options;
  if (typeof keyRing?.current !== 'function') throw new TypeError('token issuer: keyRing is required');
  const now = options.now ?? Date.now;
  const defaultTtlSec = checkTtl(options.defaultTtlSec ?? 300, keyRing.maxTokenTtlSec);

  async function issue(request: IssueTokenRequest): Promise<IssuedToken> {
    const ttlSec = request.ttlSec === undefined ? defaultTtlSec : checkTtl(request.ttlSec, keyRing.maxTokenTtlSec);
    if (typeof request.subject !== 'string' || request.subject === '') throw new TypeError('token issuer: subject is required');
    const audience = Array.isArray(request.audience) ? [...request.audience] : request.audience;
    if (audience.length === 0 || (Array.isArray(audience) && audience.some((a) => typeof a !== 'string' || a === ''))) throw new TypeError('token issuer: audience is required');
    const extra = request.extraClaims ?? {};
    for (const name of Object.keys(extra)) if (REGISTERED_CLAIMS.has(name)) throw new TypeError(`token issuer: extraClaims may not set "${name}"`);

    const iat = Math.floor(now() / 1000);
    const exp = request.notAfter === undefined ? iat + ttlSec : Math.min(iat + ttlSec, Math.floor(request.notAfter));
    // Never mint a token that is born expired (e.g. the subject token expired within the verifier's skew).
    if (request.job !== undefined && !isJobId(request.job)) throw new TypeError('token issuer: job must be a job id');
    if (exp <= iat) throw new VerityError('ERR_STS_INVALID_GRANT', 'The presented token has expired');

    const claims: AccessTokenClaims = {
      ...extra,
      iss: issuer,
      sub: request.subject,
      aud: audience,
      exp,
      iat,
      nbf: iat,
      jti: randomUUID(),
      scope: request.scopes.join(' '),
      ...(request.clientId === undefined ? {} : { client_id: request.clientId }),
      ...(request.principalType === undefined ? {} : { [PRINCIPAL_TYPE_CLAIM]: request.principalType }),
      ...(request.act === undefined ? {} : { act: request.act }),
      ...(request.job === undefined ? {} : { [JOB_CLAIM]: request.job }),
    };
    const signingKey = await keyRing.current();
    // RFC 9068 §2.1: `typ: at+jwt` keeps access tokens from being confused with ID tokens.
    const token = await new SignJWT(claims).setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'at+jwt' }).sign(signingKey.key);
    return { token, claims };
  }

  function discoveryMetadata(baseUrl: string): DiscoveryMetadata {
    let base: URL;
    try {
      base = new URL(baseUrl);
    } catch {
      throw new TypeError('discoveryMetadata: baseUrl must be an absolute URL');
    }
    const root = base.href.replace(/\/+$/, '');
    const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
    return {
      issuer,
      jwks_uri: `${root}/.well-known/jwks.json`,
      token_endpoint: `${root}/oauth2/token`,
      revocation_endpoint: `${root}/oauth2/revoke`,
      grant_types_supported: [GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: authMethods,
      token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGORITHMS],
      revocation_endpoint_auth_methods_supported: authMethods,
      id_token_signing_alg_values_supported: [keyRing.algorithm],
    };
  }

  return Object.freeze({ issuer, issue, discoveryMetadata });
}

/** RFC 8414 §2: the issuer is an http(s) URL without query or fragment. */
function checkIssuerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('token issuer: issuer must be an absolute URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '' || value.includes('#') || value.includes('?')) {
    throw new TypeError('token issuer: issuer must be an http(s) URL without query or fragment');
  }
  return value;
}

function checkTtl(ttlSec: number, maxTtlSec: number): number {
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) throw new TypeError('token issuer: ttlSec must be a positive integer');
  // Longer tokens would outlive their signing key's publication in the JWKS.
  if (ttlSec > maxTtlSec) throw new TypeError(`token issuer: ttlSec must not exceed the key ring's maxTokenTtlSec (${maxTtlSec})`);
  return ttlSec;
}
