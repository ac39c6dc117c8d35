/**
 * Signed policy bundles: what a PEP needs to decide in-process (a tenant's active policy
 * version, settings, entities, identity sources and revocations), signed by the tenant's bundle
 * key so a PEP can check it came from the PDP and was not altered on the way. The PEP trusts
 * only keys it was given out of band (a JWKS, or RFC 7638 thumbprints), never the channel alone.
 */
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { parseJson, stringifyJson, VerityError, type DevicePosture, type Entity, type PolicyStoreContent, type TenantSettings } from '@verity/core';
import type { Revocation } from './types.js';
import type { SigningKeyRing } from './signing-keys.js';

/** The JOSE `typ` of a bundle: never confused with an access token (`at+jwt`). */
export const BUNDLE_TYPE = 'verity-bundle+jwt';
/** The audience every bundle carries. */
export const BUNDLE_AUDIENCE = 'verity:pep';
/** Default bundle lifetime, seconds: a PEP refreshes before then and decides nothing after it. */
export const BUNDLE_TTL_SEC = 600;

export interface PolicyBundle {
  tenant: string;
  version: number;
  hash: string;
  content: PolicyStoreContent;
  settings: TenantSettings;
  entities: Entity[];
  /** Identity source configurations (public: issuers, key locations, audiences, claim mapping). */
  identitySources: Array<Record<string, unknown>>;
  revocations: Revocation[];
  /**
   * The tenant's registered devices and their last reported posture, when its risk engine
   * measures devices (`settings.risk.devices`): a PEP deciding in-process weighs the device as
   * the PDP does. Absent otherwise.
   */
  devices?: Array<{ id: string; posture: DevicePosture }>;
  /**
   * The tenant's imported threat lists (CIDR text, expiry in epoch ms or null), when its risk
   * engine is on: a PEP weighs a client IP's reputation as the PDP does. Absent otherwise.
   */
  threatLists?: Array<{ source: string; entries: string[]; expiresAtMs: number | null }>;
  /**
   * Assurance levels reported for the tenant's subjects after their login (SSF
   * `assurance-level-change`: the principal id, the level, the event time in epoch ms), when its
   * risk engine is on: a later one replaces a token's `acr` here as at the PDP.
   */
  assurance?: Array<{ subject: string; acr: string; atMs: number }>;
  /**
   * The PDP locates client IPs with a database of its own (`--geoip-db`) after the tenant's table:
   * a client IP the table does not locate cannot be weighed locally, so a PEP refuses to decide it.
   */
  pdpLocatesIps?: true;
}

export interface SignBundleOptions {
  /** The tenant's issuer URL (`iss`). */
  issuer: string;
  bundle: PolicyBundle;
  /** Seconds the bundle is valid (default {@link BUNDLE_TTL_SEC}); a PEP refreshes it before then. */
  ttlSec?: number;
  now?: () => number;
}

/**
 * Sign a bundle as a JWT with the tenant's current signing key. The bundle travels as JSON text
 * in the `bundle` claim: a JWT payload is parsed with JSON.parse, which would round the Cedar
 * integers beyond 2^53 an entity may hold.
 */
export async function signBundle(ring: SigningKeyRing, options: SignBundleOptions): Promise<string> {
  const nowSec = Math.floor((options.now ?? Date.now)() / 1000);
  const key = await ring.current();
  return new SignJWT({ bundle: stringifyJson(options.bundle) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: BUNDLE_TYPE })
    .setIssuer(options.issuer)
    .setAudience(BUNDLE_AUDIENCE)
    .setSubject(options.bundle.tenant)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + (options.ttlSec ?? BUNDLE_TTL_SEC))
    .sign(key.key);
}

export interface VerifyBundleOptions {
  issuer: string;
  tenant: string;
  /** Keys the bundle may be signed with (a JWKS document), or only those of them `thumbprints` pins. */
  keys: JSONWebKeySet;
  /**
   * RFC 7638 SHA-256 thumbprints (base64url) of the keys to trust: a key of `keys` whose own
   * thumbprint is not listed is ignored, whatever its `kid` says. Required unless `keys` itself
   * came out of band (configuration), never from the channel that carried the bundle.
   */
  thumbprints?: readonly string[];
  now?: () => number;
}

/** The RFC 7638 SHA-256 thumbprint of each key of `jwks`, in order (what an operator pins). */
export async function bundleKeyThumbprints(jwks: JSONWebKeySet): Promise<string[]> {
  return Promise.all(jwks.keys.map((key) => calculateJwkThumbprint(key as JWK, 'sha256')));
}

/** The keys of `jwks` whose thumbprint is pinned; a key that has none (malformed) is dropped. */
async function pinnedKeys(jwks: JSONWebKeySet, thumbprints: readonly string[]): Promise<JSONWebKeySet> {
  const pinned = new Set(thumbprints);
  const kept = await Promise.all(jwks.keys.map(async (key) => pinned.has(await calculateJwkThumbprint(key as JWK, 'sha256').catch(() => '')) ? [key] : []));
  return { keys: kept.flat() };
}

/**
 * Verify a bundle's signature, issuer, audience, tenant, type and expiry. A bundle signed by no
 * trusted key is ERR_TOKEN_UNKNOWN_KEY; any other failure ERR_TOKEN_SIGNATURE / ERR_TOKEN_CLAIMS
 * (a PEP must then keep its last good bundle or deny).
 */
export async function verifyBundle(token: string, options: VerifyBundleOptions): Promise<PolicyBundle> {
  const keys = options.thumbprints === undefined ? options.keys : await pinnedKeys(options.keys, options.thumbprints);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(keys), {
      issuer: options.issuer,
      audience: BUNDLE_AUDIENCE,
      subject: options.tenant,
      typ: BUNDLE_TYPE,
      algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
      currentDate: new Date((options.now ?? Date.now)()),
    }));
  } catch (error) {
    // jose's JWKSNoMatchingKey: no trusted key has the bundle's `kid` (and algorithm).
    if ((error as { code?: unknown }).code === 'ERR_JWKS_NO_MATCHING_KEY') throw new VerityError('ERR_TOKEN_UNKNOWN_KEY', 'the policy bundle is signed by a key that is not trusted', { cause: error });
    throw new VerityError('ERR_TOKEN_SIGNATURE', 'the policy bundle does not verify', { cause: error });
  }
  let bundle: PolicyBundle | undefined;
  try {
    bundle = typeof payload.bundle === 'string' ? (parseJson(payload.bundle) as PolicyBundle) : undefined;
  } catch {
    bundle = undefined;
  }
  if (!bundle || bundle.tenant !== options.tenant || typeof bundle.version !== 'number' || typeof bundle.content !== 'object') {
    throw new VerityError('ERR_TOKEN_CLAIMS', 'the policy bundle is incomplete');
  }
  return bundle;
}
