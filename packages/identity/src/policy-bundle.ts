/**
 * Signed policy bundles: what a PEP needs to decide in-process (a tenant's active policy
 * version, settings, entities, identity sources and revocations), signed by the tenant's
 * token-service key so a PEP can check it came from the PDP and was not altered on the way.
 */
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { parseJson, stringifyJson, VerityError, type Entity, type PolicyStoreContent, type TenantSettings } from '@verity/core';
import type { Revocation } from './types.js';
import type { SigningKeyRing } from './signing-keys.js';

/** The JOSE `typ` of a bundle: never confused with an access token (`at+jwt`). */
export const BUNDLE_TYPE = 'verity-bundle+jwt';
/** The audience every bundle carries. */
export const BUNDLE_AUDIENCE = 'verity:pep';

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
}

export interface SignBundleOptions {
  /** The tenant's issuer URL (`iss`). */
  issuer: string;
  bundle: PolicyBundle;
  /** Seconds the bundle is valid (default 3600); a PEP refreshes it before then. */
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
    .setExpirationTime(nowSec + (options.ttlSec ?? 3600))
    .sign(key.key);
}

export interface VerifyBundleOptions {
  issuer: string;
  tenant: string;
  /** The tenant's JWKS: a document, or its URL (`{issuer}/.well-known/jwks.json`). */
  keys: JSONWebKeySet | URL;
  now?: () => number;
}

/**
 * Verify a bundle's signature, issuer, audience, tenant, type and expiry. Any failure is
 * ERR_TOKEN_SIGNATURE / ERR_TOKEN_CLAIMS (a PEP must then keep its last good bundle or deny).
 */
export async function verifyBundle(token: string, options: VerifyBundleOptions): Promise<PolicyBundle> {
  const keySet = options.keys instanceof URL ? createRemoteJWKSet(options.keys) : createLocalJWKSet(options.keys);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      issuer: options.issuer,
      audience: BUNDLE_AUDIENCE,
      subject: options.tenant,
      typ: BUNDLE_TYPE,
      algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
      currentDate: new Date((options.now ?? Date.now)()),
    }));
  } catch (error) {
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
