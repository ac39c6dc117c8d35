/** Verifies access tokens from a tenant's identity sources and maps them to Cedar, caching the result until exp. */
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { mapClaims } from './claim-mapping.js';
import { tokenError, toTokenError } from './jwt-errors.js';
import { createKeyResolver, type FetchFunction } from './key-resolver.js';
import type { AuthenticationFacts } from '@verity/core';
import type { IdentitySource, VerifiedToken } from './types.js';
import { createVerifiedTokenCache, tokenCacheKey, type VerifiedTokenCacheStats } from './verified-token-cache.js';
import { STS_SOURCE_ID } from './sts-source.js';
import { isJobId, JOB_CLAIM } from './job-id.js';

/** Tokens above this many characters are refused before any parsing (a JWT is ASCII, so also bytes). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Options for {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /**
   * Injected fetch for discovery and JWKS requests; it replaces the guard (default: the guarded
   * source fetch, https to public addresses only, bounded in size and time).
   */
  fetch?: FetchFunction;
  /** With the default fetch: allow http and loopback/private addresses (development and tests only). */
  allowInsecureSources?: boolean;
  /** Clock in milliseconds (default `Date.now`): token times and cache expiry use it. */
  now?: () => number;
  /** Verified tokens kept at most (default 10 000; 0 disables the cache). */
  cacheSize?: number;
  /** Minimum time between JWKS refetches caused by an unknown kid (default 30 s). */
  jwksCooldownMs?: number;
}

/** Options for one {@link TokenVerifier.verify} call. */
export interface VerifyTokenOptions {
  /** The audience this caller is; it must also be one the source accepts. Default: any of the source's. */
  audience?: string;
}

/** Counters since creation. */
export interface TokenVerifierStats {
  cache: VerifiedTokenCacheStats;
  verified: number;
  rejected: number;
  discoveryFetches: number;
  jwksFetches: number;
}

/** Verifies tokens; see {@link createTokenVerifier}. */
export interface TokenVerifier {
  /**
   * Verify `token` against `sources` (one tenant's) and map it to Cedar. Revocation is not checked
   * here: the caller checks it on every use, cached or not.
   *
   * @throws VerityError with an `ERR_TOKEN_*` code, or `ERR_IDENTITY_SOURCE_UNAVAILABLE`.
   */
  verify(token: string, sources: readonly IdentitySource[], options?: VerifyTokenOptions): Promise<VerifiedToken>;
  /** Drop cached verifications matching `match` (after a revocation); returns how many. */
  purge(match: (token: VerifiedToken) => boolean): number;
  stats(): TokenVerifierStats;
}

/** RFC 9068 §2.1 `at+jwt`, and plain `JWT`; with or without the `application/` prefix. */
const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);
const REQUIRED_CLAIMS = ['exp', 'iss', 'sub', 'aud'];

function decode(token: string): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw tokenError('ERR_TOKEN_MALFORMED');
  }
}

/**
 * Route by the UNVERIFIED `iss`: it only chooses which source verifies the token. With several
 * sources for one issuer, prefer one whose audiences the token names.
 */
function selectSource(claims: JWTPayload, sources: readonly IdentitySource[], audience: string | undefined): IdentitySource {
  if (typeof claims.iss !== 'string') throw tokenError('ERR_TOKEN_CLAIMS', 'the token has no "iss" claim');
  const byIssuer = sources.filter((source) => source.issuer === claims.iss);
  if (byIssuer.length === 0) throw tokenError('ERR_TOKEN_ISSUER');
  const candidates = audience === undefined ? byIssuer : byIssuer.filter((source) => source.audiences.includes(audience));
  const first = candidates[0];
  if (first === undefined) throw tokenError('ERR_TOKEN_AUDIENCE');
  const tokenAudiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
  return candidates.find((source) => source.audiences.some((aud) => tokenAudiences.includes(aud))) ?? first;
}

/** Header checks jose leaves to the caller, done before any key lookup. */
function checkHeader(header: ProtectedHeaderParameters, source: IdentitySource): void {
  // Refuse `none`, HS* and anything else the source does not list before a key is even chosen.
  if (typeof header.alg !== 'string' || !(source.algorithms as string[]).includes(header.alg)) throw tokenError('ERR_TOKEN_ALGORITHM');
  // RFC 7515 §4.1.11: Verity understands no JWS extension, so any `crit` must be refused.
  if (header.crit !== undefined) throw tokenError('ERR_TOKEN_HEADER', 'the token header has a critical extension Verity does not support');
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCEPTED_TYPES.has(header.typ.toLowerCase()))) {
    throw tokenError('ERR_TOKEN_HEADER', 'the token "typ" header must be JWT or at+jwt');
  }
}

/**
 * jose checks only that `iat` is a number. An `iat` later than now plus the source's clock
 * tolerance is a broken or lying issuer clock, and so is an `auth_time` later than the `iat` (or
 * now); within the tolerance it is the issue time
 * revocation compares with (see RevocationCheck.clockToleranceSec).
 */
function checkIssuedAt(claims: JWTPayload, source: IdentitySource, nowMs: number): void {
  if (typeof claims.iat === 'number' && claims.iat > nowMs / 1000 + source.clockToleranceSec) {
    throw tokenError('ERR_TOKEN_NOT_YET_VALID', 'the token was issued in the future (beyond the clock tolerance)');
  }
  // OIDC Core §2: auth_time is when the user authenticated, which is never after the token was
  // issued, nor after now. One in the future would count as a fresh login for ever.
  const authTime = claims.auth_time;
  if (typeof authTime === 'number') {
    const latest = Math.min(nowMs / 1000, typeof claims.iat === 'number' ? claims.iat : Number.POSITIVE_INFINITY) + source.clockToleranceSec;
    if (authTime > latest) throw tokenError('ERR_TOKEN_CLAIMS', 'the "auth_time" claim is after the token was issued (beyond the clock tolerance)');
  }
}

function optionalString(claims: JWTPayload, claim: string): string | null {
  const value = claims[claim];
  if (value === undefined) return null;
  if (typeof value !== 'string') throw tokenError('ERR_TOKEN_CLAIMS', `the "${claim}" claim must be a string`);
  return value;
}

function toVerifiedToken(claims: JWTPayload, source: IdentitySource): VerifiedToken {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw tokenError('ERR_TOKEN_CLAIMS', 'the "sub" claim must be a non-empty string');
  const mapped = mapClaims(claims, source.claims);
  const clientId = optionalString(claims, 'client_id') ?? optionalString(claims, 'azp');
  const job = jobOf(claims, source);
  return {
    sourceId: source.id,
    issuer: source.issuer,
    subject: claims.sub,
    tokenId: optionalString(claims, 'jti'),
    issuedAt: typeof claims.iat === 'number' ? claims.iat : null,
    clockToleranceSec: source.clockToleranceSec,
    // jwtVerify has required exp and checked it is a number.
    expiresAt: claims.exp as number,
    clientId,
    ...(job === undefined ? {} : { job }),
    scopes: mapped.scopes,
    actors: mapped.actors,
    principal: mapped.principal,
    parents: mapped.parents,
    context: mapped.context,
    authentication: authenticationOf(claims),
    claims,
  };
}

/**
 * The `job` claim of a token the tenant's own token service issued. A malformed one is refused
 * (fail closed: a job revocation could not name it); other issuers' `job` claims are not ours.
 */
function jobOf(claims: JWTPayload, source: IdentitySource): string | undefined {
  if (source.id !== STS_SOURCE_ID || claims[JOB_CLAIM] === undefined) return undefined;
  const job = claims[JOB_CLAIM];
  if (!isJobId(job)) throw tokenError('ERR_TOKEN_CLAIMS', `the "${JOB_CLAIM}" claim is not a job id`);
  return job;
}

/** OIDC Core §2 `auth_time` (a whole number of seconds), `acr` (a string), `amr` (strings); anything else counts as absent. */
export function authenticationOf(claims: JWTPayload): AuthenticationFacts {
  const authTime = claims.auth_time;
  const amr = claims.amr;
  return {
    authTime: typeof authTime === 'number' && Number.isSafeInteger(authTime) && authTime >= 0 ? authTime : null,
    acr: typeof claims.acr === 'string' && claims.acr.length <= 256 ? claims.acr : null,
    amr: Array.isArray(amr) ? amr.filter((value): value is string => typeof value === 'string' && value.length <= 64).slice(0, 16) : [],
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/**
 * Create a token verifier. Keys come only from the chosen source (discovery, JWKS URL or inline),
 * never from the token's `jku`, `x5u`, `x5c` or `jwk` headers. A verified token is cached by its
 * sha256 until its `exp`, so repeated use costs a hash and a map lookup.
 *
 * @example
 * const verifier = createTokenVerifier();
 * const verified = await verifier.verify(bearer, tenantSources, { audience: 'api://orders' });
 * // verified.principal, verified.parents and verified.context go to the engine.
 */
export function createTokenVerifier(options: TokenVerifierOptions = {}): TokenVerifier {
  const now = options.now ?? Date.now;
  const cache = createVerifiedTokenCache(options.cacheSize === undefined ? {} : { maxEntries: options.cacheSize });
  const resolver = createKeyResolver({
    now,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.allowInsecureSources === undefined ? {} : { allowInsecureSources: options.allowInsecureSources }),
    ...(options.jwksCooldownMs === undefined ? {} : { jwksCooldownMs: options.jwksCooldownMs }),
  });
  const fingerprints = new WeakMap<IdentitySource, string>();
  const counts = { verified: 0, rejected: 0 };

  /** A cached verification is reused only for the same source configuration and audience request. */
  const contextOf = (source: IdentitySource, audience: string | undefined): string => {
    let fingerprint = fingerprints.get(source);
    if (fingerprint === undefined) {
      fingerprint = JSON.stringify(source);
      fingerprints.set(source, fingerprint);
    }
    return `${audience ?? ''}\n${fingerprint}`;
  };

  const verifyUncached = async (token: string, sources: readonly IdentitySource[], audience: string | undefined, nowMs: number) => {
    const { header, claims } = decode(token);
    const source = selectSource(claims, sources, audience);
    checkHeader(header, source);
    const { payload } = await jwtVerify(token, resolver.keysFor(source), {
      algorithms: source.algorithms,
      issuer: source.issuer,
      audience: audience ?? source.audiences,
      clockTolerance: source.clockToleranceSec,
      requiredClaims: REQUIRED_CLAIMS,
      currentDate: new Date(nowMs),
    });
    checkIssuedAt(payload, source, nowMs);
    return { source, verified: deepFreeze(toVerifiedToken(payload, source)) };
  };

  return {
    async verify(token, sources, verifyOptions = {}) {
      if (typeof token !== 'string' || token === '') throw tokenError('ERR_TOKEN_MISSING', 'no token was given');
      if (token.length > MAX_TOKEN_LENGTH) throw tokenError('ERR_TOKEN_TOO_LARGE', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
      const nowMs = now();
      const { audience } = verifyOptions;
      const key = tokenCacheKey(token);
      const cached = cache.get(key, Math.floor(nowMs / 1000), (entry) =>
        sources.some((source) => source.id === entry.token.sourceId && contextOf(source, audience) === entry.context),
      );
      if (cached !== undefined) return cached.token;
      try {
        const { source, verified } = await verifyUncached(token, sources, audience, nowMs);
        cache.set(key, { token: verified, context: contextOf(source, audience) });
        counts.verified += 1;
        return verified;
      } catch (error) {
        counts.rejected += 1;
        throw toTokenError(error);
      }
    },
    purge: (match) => cache.purge(match),
    stats: () => ({ cache: cache.stats(), ...counts, ...resolver.stats() }),
  };
}
