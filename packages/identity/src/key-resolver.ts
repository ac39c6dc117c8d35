/** Resolves an identity source's verification keys: OIDC discovery, a JWKS URL, or inline JWKs. */
import { VerityError } from '@verity/core';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { validateSourceUrl } from './identity-source.js';
import { createSourceFetch, MAX_SOURCE_RESPONSE_BYTES, type FetchFunction } from './source-fetch.js';
import type { IdentitySource } from './types.js';

export type { FetchFunction } from './source-fetch.js';

/** Options for {@link createKeyResolver}. */
export interface KeyResolverOptions {
  /**
   * Injected fetch, for proxies and tests; it replaces the guard, so it must apply its own
   * (default: {@link createSourceFetch}: https to public addresses only, bounded).
   */
  fetch?: FetchFunction;
  /** With the default fetch: allow http and non-public addresses (development only; default false). */
  allowInsecureSources?: boolean;
  /** Clock in milliseconds (default `Date.now`); ages the discovery cache. */
  now?: () => number;
  /**
   * Minimum time between two JWKS fetches triggered by an unknown `kid` (default 30 s). Bounds
   * how often a stream of forged kids can make Verity call the issuer. jose measures it with the
   * system clock, not `now`.
   */
  jwksCooldownMs?: number;
  /** Timeout of each discovery and JWKS request (default 5 s). */
  timeoutMs?: number;
}

/** Fetches counted since creation, for stats. */
export interface KeyResolverStats {
  discoveryFetches: number;
  jwksFetches: number;
}

/** Hands out one jose key function per key source, sharing fetches and caches between calls. */
export interface KeyResolver {
  /** The key function for `jwtVerify`. Fetch failures surface as `ERR_IDENTITY_SOURCE_UNAVAILABLE`. */
  keysFor(source: IdentitySource): JWTVerifyGetKey;
  /** The key function of a JWKS URL (a Shared Signals transmitter's `jwks_uri`), cached like a source's. */
  keysForUri(jwksUri: string): JWTVerifyGetKey;
  stats(): KeyResolverStats;
}

/** Re-read the discovery document this often; its jwks_uri rarely changes. */
const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;
/** A discovery document is a few KiB; anything far larger is not one. */
const MAX_DISCOVERY_BYTES = 64 * 1024;
/** Key sets are read up to the guarded fetch's limit whatever fetch is injected. */
const MAX_JWKS_BYTES = MAX_SOURCE_RESPONSE_BYTES;
/** Key sources remembered at once (across tenants); the oldest is forgotten beyond this. */
const MAX_KEY_SOURCES = 1024;

type KeyFunction = JWTVerifyGetKey;

interface DiscoveryState {
  jwksUri?: string;
  keys?: KeyFunction;
  fetchedAt: number;
  /** Failures are remembered for a cooldown so an unreachable issuer is not hammered. */
  failedAt?: number;
  pending?: Promise<KeyFunction>;
}

function unavailable(message: string, cause?: unknown): VerityError {
  return new VerityError('ERR_IDENTITY_SOURCE_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

/**
 * The body, read as a stream and abandoned past `maxBytes` (never buffered whole first).
 * The caller's message stays generic: a remote status or body never reaches an API caller.
 */
async function readBounded(response: Response, maxBytes: number): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw unavailable('the identity source answer is too large', new Error(`more than ${maxBytes} bytes`));
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** Errors that are the token's fault (its kid or alg), as opposed to the issuer being unreachable. */
function isTokenFault(error: unknown): boolean {
  return error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys || error instanceof errors.JOSENotSupported;
}

/** OIDC Discovery §4: the issuer without a trailing slash, then the well-known path. */
function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/**
 * Create a key resolver. Remote sets use jose's `createRemoteJWKSet` with `cooldownDuration`, so
 * an unknown kid causes at most one refetch per cooldown, and rotation at the issuer is picked
 * up without a restart. Header-supplied keys (`jku`, `x5u`, `x5c`, `jwk`) are never consulted.
 */
export function createKeyResolver(options: KeyResolverOptions = {}): KeyResolver {
  const now = options.now ?? Date.now;
  const cooldownMs = options.jwksCooldownMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const fetchImpl: FetchFunction = options.fetch ?? createSourceFetch({ allowInsecure: options.allowInsecureSources ?? false, timeoutMs });
  if (!Number.isFinite(cooldownMs) || cooldownMs < 0) throw new TypeError('jwksCooldownMs must be a non-negative number');
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer');
  const counts: KeyResolverStats = { discoveryFetches: 0, jwksFetches: 0 };
  const bySource = new WeakMap<IdentitySource, KeyFunction>();
  const byKey = new Map<string, KeyFunction>();
  const discoveries = new Map<string, DiscoveryState>();

  const remember = <V>(map: Map<string, V>, key: string, value: V): V => {
    map.set(key, value);
    if (map.size > MAX_KEY_SOURCES) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
    return value;
  };

  const remoteSet = (jwksUri: string): KeyFunction => {
    const cached = byKey.get(`jwks ${jwksUri}`);
    if (cached) return cached;
    const jwks = createRemoteJWKSet(new URL(jwksUri), {
      cooldownDuration: cooldownMs,
      timeoutDuration: timeoutMs,
      [customFetch]: async (url, init) => {
        counts.jwksFetches += 1;
        const response = await fetchImpl(url, init);
        if (response.status !== 200) {
          await response.body?.cancel().catch(() => {});
          throw unavailable('the identity source JWKS could not be fetched', new Error(`HTTP ${response.status}`));
        }
        // jose reads the body whole: hand it one already bounded, whatever fetch was injected.
        return new Response(await readBounded(response, MAX_JWKS_BYTES), { status: response.status, headers: response.headers });
      },
    });
    const keys: KeyFunction = async (header, token) => {
      try {
        return await jwks(header, token);
      } catch (error) {
        if (isTokenFault(error)) throw error;
        throw unavailable('the identity source JWKS could not be fetched', error);
      }
    };
    return remember(byKey, `jwks ${jwksUri}`, keys);
  };

  const fetchDiscovery = async (issuer: string): Promise<string> => {
    counts.discoveryFetches += 1;
    let document: unknown;
    try {
      const response = await fetchImpl(discoveryUrl(issuer), {
        method: 'GET',
        redirect: 'manual',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {});
        throw unavailable('the discovery document could not be fetched', new Error(`HTTP ${response.status}`));
      }
      document = JSON.parse(new TextDecoder().decode(await readBounded(response, MAX_DISCOVERY_BYTES)));
    } catch (error) {
      throw error instanceof VerityError ? error : unavailable('the discovery document could not be fetched', error);
    }
    const fields = typeof document === 'object' && document !== null ? (document as Record<string, unknown>) : {};
    // OIDC Discovery §4.3: the document must name exactly the issuer it was fetched for.
    if (fields.issuer !== issuer) throw unavailable('the discovery document names a different issuer');
    try {
      return validateSourceUrl(fields.jwks_uri, 'jwks_uri');
    } catch {
      throw unavailable('the discovery document has no usable jwks_uri');
    }
  };

  const discovered = async (issuer: string): Promise<KeyFunction> => {
    const state = discoveries.get(issuer) ?? remember(discoveries, issuer, { fetchedAt: 0 });
    const time = now();
    if (state.keys && time - state.fetchedAt < DISCOVERY_MAX_AGE_MS) return state.keys;
    if (state.failedAt !== undefined && time - state.failedAt < cooldownMs) {
      if (state.keys) return state.keys;
      throw unavailable('the discovery document could not be fetched recently');
    }
    state.pending ??= fetchDiscovery(issuer)
      .then((jwksUri) => {
        state.keys = jwksUri === state.jwksUri && state.keys ? state.keys : remoteSet(jwksUri);
        state.jwksUri = jwksUri;
        state.fetchedAt = now();
        delete state.failedAt;
        return state.keys;
      })
      .catch((error: unknown) => {
        state.failedAt = now();
        // A stale jwks_uri beats none while the issuer's discovery endpoint is down.
        if (state.keys) return state.keys;
        throw error;
      })
      .finally(() => {
        delete state.pending;
      });
    return state.pending;
  };

  const build = (source: IdentitySource): KeyFunction => {
    const keySource = source.keys;
    switch (keySource.kind) {
      case 'jwks':
        return remoteSet(keySource.jwksUri);
      case 'discovery': {
        const issuer = source.issuer;
        return async (header, token) => (await discovered(issuer))(header, token);
      }
      case 'inline': {
        const id = `inline ${JSON.stringify(keySource.keys)}`;
        const cached = byKey.get(id);
        if (cached) return cached;
        // parseIdentitySource has checked these keys, so this cannot throw for a parsed source.
        return remember(byKey, id, createLocalJWKSet({ keys: keySource.keys } as JSONWebKeySet));
      }
    }
  };

  return {
    keysFor(source) {
      let keys = bySource.get(source);
      if (!keys) {
        keys = build(source);
        bySource.set(source, keys);
      }
      return keys;
    },
    keysForUri: remoteSet,
    stats: () => ({ ...counts }),
  };
}
