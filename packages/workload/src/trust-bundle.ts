/**
 * Trust bundles: the roots and JWT keys a trust domain's relying parties trust, and their SPIFFE
 * bundle JSON form (SPIFFE Trust Domain and Bundle §4: a JWK Set with `use` x509-svid / jwt-svid).
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { isPlainObject, VerityError } from '@verity/core';
import { assertTrustDomain } from './spiffe-id.js';
import { fromBase64Der, toPem } from './x509-provider.js';

/**
 * What a relying party trusts for one trust domain. Treat a value as immutable: verifiers cache
 * what they parse from it per object, so a change is a new object (with a higher `sequence`).
 */
export interface TrustBundle {
  trustDomain: string;
  /** Root CA certificates, PEM, every root currently trusted (two during a CA rotation). */
  x509Authorities: string[];
  /** JWT-SVID / Txn-Token verification keys: public JWKs with kid, alg, use 'jwt-svid'. */
  jwtAuthorities: Array<Record<string, unknown>>;
  /** Increases with every change (the PDP's bundle sequence). */
  sequence: number;
  /** Seconds; how often to refresh (SPIFFE bundle `spiffe_refresh_hint`). */
  refreshHintSec: number;
}

/** `spiffe_refresh_hint` assumed when a bundle JSON has none (seconds). */
export const DEFAULT_REFRESH_HINT_SEC = 300;
/** Most keys a bundle JSON may hold; a real one has a few (roots and JWT keys, two of each in a rotation). */
const MAX_BUNDLE_KEYS = 64;
/** Members of a public JWK we copy; anything else (and above all private members) is dropped or refused. */
const PUBLIC_JWK_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg'] as const;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function publicParams(jwk: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const member of PUBLIC_JWK_MEMBERS) if (jwk[member] !== undefined) out[member] = jwk[member];
  return out;
}

/**
 * The SPIFFE bundle JSON of `bundle` (SPIFFE Trust Domain and Bundle §4): `keys` holds one JWK per
 * root (`use: "x509-svid"`, the root's public key and `x5c: [base64 DER]`) and one per JWT key
 * (`use: "jwt-svid"`, public members and `kid`), plus `spiffe_sequence` and `spiffe_refresh_hint`.
 */
export function toSpiffeBundleJson(b: TrustBundle): Record<string, unknown> {
  const x509Keys = b.x509Authorities.map((pem) => {
    const cert = new X509Certificate(pem);
    const jwk = cert.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    return { ...publicParams(jwk), use: 'x509-svid', x5c: [cert.raw.toString('base64')] };
  });
  const jwtKeys = b.jwtAuthorities.map((jwk) => ({ ...publicParams(jwk), use: 'jwt-svid' }));
  return { keys: [...x509Keys, ...jwtKeys], spiffe_sequence: b.sequence, spiffe_refresh_hint: b.refreshHintSec };
}

function invalid(why: string): VerityError {
  return new VerityError('ERR_SVID_INVALID', `invalid trust bundle: ${why}`);
}

function sameKey(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return ['kty', 'crv', 'x', 'y', 'n', 'e'].every((m) => a[m] === b[m]);
}

function parseX509Key(key: Record<string, unknown>): string {
  const x5c = key.x5c;
  // §4.2.1: an x509-svid entry carries exactly one certificate, the root itself.
  if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== 'string') throw invalid('an x509-svid key needs x5c with one certificate');
  const der = fromBase64Der(x5c[0]);
  if (der === null) throw invalid('x5c is not base64 DER');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw invalid('x5c is not a certificate');
  }
  if (!cert.ca) throw invalid('an x509-svid authority must be a CA certificate');
  // The JWK's own key members must describe the certificate's key (§4.2.1).
  if (!sameKey(key, cert.publicKey.export({ format: 'jwk' }) as Record<string, unknown>)) throw invalid('x5c does not match the key');
  return toPem(der, 'CERTIFICATE');
}

function parseJwtKey(key: Record<string, unknown>): Record<string, unknown> {
  if (typeof key.kid !== 'string' || key.kid === '' || key.kid.length > 256) throw invalid('a jwt-svid key needs a kid'); // §4.2.2
  if (PRIVATE_JWK_MEMBERS.some((m) => key[m] !== undefined)) throw invalid('a jwt-svid key holds private members');
  if (key.kty !== 'EC' && key.kty !== 'RSA') throw invalid('a jwt-svid key must be EC or RSA');
  try {
    createPublicKey({ key: publicParams(key) as never, format: 'jwk' });
  } catch {
    throw invalid('a jwt-svid key is not a valid public key');
  }
  return { ...publicParams(key), use: 'jwt-svid' };
}

/**
 * Read a SPIFFE bundle JSON (SPIFFE Trust Domain and Bundle §4) for `trustDomain`. Keys with
 * another or no `use` are ignored (§4.1); an x509-svid key must carry exactly one CA certificate
 * whose key matches the JWK; a jwt-svid key must have a unique `kid` and no private members.
 * @throws VerityError `ERR_TRUST_DOMAIN_INVALID` for a bad name, `ERR_SVID_INVALID` for a bad document.
 */
export function parseSpiffeBundleJson(trustDomain: string, json: unknown): TrustBundle {
  assertTrustDomain(trustDomain);
  if (!isPlainObject(json)) throw invalid('not a JSON object');
  const keys = json.keys;
  if (!Array.isArray(keys) || keys.length > MAX_BUNDLE_KEYS) throw invalid('keys must be an array');
  const x509Authorities: string[] = [];
  const jwtAuthorities: Array<Record<string, unknown>> = [];
  for (const key of keys) {
    if (!isPlainObject(key)) throw invalid('a key is not an object');
    if (key.use === 'x509-svid') x509Authorities.push(parseX509Key(key));
    else if (key.use === 'jwt-svid') jwtAuthorities.push(parseJwtKey(key));
  }
  if (new Set(jwtAuthorities.map((k) => k.kid)).size !== jwtAuthorities.length) throw invalid('two jwt-svid keys share a kid');
  const sequence = json.spiffe_sequence ?? 0;
  const refreshHintSec = json.spiffe_refresh_hint ?? DEFAULT_REFRESH_HINT_SEC;
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 0) throw invalid('spiffe_sequence must be a non-negative integer');
  if (!Number.isSafeInteger(refreshHintSec) || (refreshHintSec as number) < 1) throw invalid('spiffe_refresh_hint must be a positive integer');
  return { trustDomain, x509Authorities, jwtAuthorities, sequence: sequence as number, refreshHintSec: refreshHintSec as number };
}
