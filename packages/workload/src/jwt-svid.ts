/**
 * JWT-SVIDs (SPIFFE JWT-SVID specification): short-lived JWTs whose `sub` is a SPIFFE id, signed
 * by the trust domain's JWT key and verified against the `jwt-svid` keys of its bundle.
 */
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { VerityError } from '@verity/core';
import { parseWorkloadSpiffeId } from './spiffe-id.js';
import type { TrustBundle } from './trust-bundle.js';

/** A trust domain's JWT-SVID signing key (ES256). */
export interface JwtAuthority {
  /** The key id: RFC 7638 thumbprint of the public key. */
  kid: string;
  /** Private JWK. A secret: store it encrypted, never log it. */
  privateJwk: Record<string, unknown>;
  /** Public JWK with `kid`, `alg: "ES256"`, `use: "jwt-svid"`: what goes into the bundle. */
  publicJwk: Record<string, unknown>;
  /** Epoch ms. */
  createdAtMs: number;
}

/** Longest JWT-SVID lifetime (seconds), the registration's `jwt_ttl_sec` maximum. */
export const MAX_JWT_SVID_TTL_SEC = 3600;
/** JWT-SVID §3: signature algorithms a verifier accepts (Verity issues ES256; the spec forbids none/HS*). */
export const JWT_SVID_ALGORITHMS = ['ES256', 'RS256'] as const;
const MAX_TOKEN_CHARS = 8 * 1024;
const MAX_AUDIENCES = 16;

/** A new ES256 JWT-SVID key (P-256), its kid the public key's RFC 7638 thumbprint. */
export async function generateJwtAuthority(options: { now?: () => number } = {}): Promise<JwtAuthority> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    publicJwk: { ...pub, kid, alg: 'ES256', use: 'jwt-svid' },
    createdAtMs: (options.now ?? Date.now)(),
  };
}

/** Options of {@link issueJwtSvid}. */
export interface IssueJwtSvidOptions {
  authority: JwtAuthority;
  /** The workload's SPIFFE id (with a path). */
  spiffeId: string;
  /** 1–16 non-empty audience strings (JWT-SVID §3: `aud` is required). */
  audience: string[];
  /** Lifetime, seconds: an integer from 1 to 3600. */
  ttlSec: number;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Issue a JWT-SVID (JWT-SVID §§2–3): header `{alg: "ES256", kid, typ: "JWT"}`, claims `sub`,
 * `aud` (always an array), `iat`, `exp = iat + ttlSec`.
 * @throws VerityError `ERR_SPIFFE_ID_INVALID`, `ERR_REQUEST_INVALID` (bad audience); TypeError (bad ttlSec).
 */
export async function issueJwtSvid(options: IssueJwtSvidOptions): Promise<{ token: string; expiresAtMs: number }> {
  const { authority, audience, ttlSec } = options;
  if (!Number.isSafeInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_JWT_SVID_TTL_SEC) {
    throw new TypeError(`issueJwtSvid: ttlSec must be an integer from 1 to ${MAX_JWT_SVID_TTL_SEC}`);
  }
  const id = parseWorkloadSpiffeId(options.spiffeId);
  if (!Array.isArray(audience) || audience.length === 0 || audience.length > MAX_AUDIENCES || audience.some((a) => typeof a !== 'string' || a === '' || a.length > 512)) {
    throw new VerityError('ERR_REQUEST_INVALID', `audience must be 1 to ${MAX_AUDIENCES} non-empty strings`);
  }
  const key = await importJWK(authority.privateJwk as JWK, 'ES256');
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const exp = iat + ttlSec;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: authority.kid, typ: 'JWT' })
    .setSubject(id.id)
    .setAudience([...audience])
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return { token, expiresAtMs: exp * 1000 };
}

/** Options of {@link verifyJwtSvid}. */
export interface VerifyJwtSvidOptions {
  bundle: TrustBundle;
  /** The audience this verifier answers to; `aud` must contain it. */
  audience: string;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

function jwtInvalid(why: string): VerityError {
  return new VerityError('ERR_SVID_INVALID', `JWT-SVID refused: ${why}`);
}

/**
 * Verify a JWT-SVID (JWT-SVID §§3–4): `alg` ES256 or RS256, `typ` absent, `JWT` or `JOSE`, `kid`
 * naming a `jwt-svid` key of `bundle` whose own `alg` (when set) matches, a valid signature, `sub`
 * a workload SPIFFE id of the bundle's trust domain, `aud` containing `audience`, `exp` present
 * and not past (no clock tolerance).
 * @throws VerityError `ERR_SVID_INVALID`, `ERR_SVID_EXPIRED`, `ERR_SVID_UNTRUSTED` (unknown kid, other trust domain).
 */
export async function verifyJwtSvid(token: unknown, options: VerifyJwtSvidOptions): Promise<{ spiffeId: string; audience: string[]; expiresAtMs: number }> {
  if (typeof options.audience !== 'string' || options.audience === '') throw new TypeError('verifyJwtSvid: audience must be a non-empty string');
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) throw jwtInvalid('not a compact JWS of a sane size');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw jwtInvalid('malformed');
  }
  const alg = header.alg;
  if (alg !== 'ES256' && alg !== 'RS256') throw jwtInvalid('alg must be ES256 or RS256');
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') throw jwtInvalid('typ must be JWT or JOSE');
  if (typeof header.kid !== 'string' || header.kid === '') throw jwtInvalid('kid is missing');
  const jwk = options.bundle.jwtAuthorities.find((k) => k.kid === header.kid && (k.use === undefined || k.use === 'jwt-svid'));
  if (jwk === undefined) throw new VerityError('ERR_SVID_UNTRUSTED', 'JWT-SVID refused: kid is not a key of the trust bundle');
  if (jwk.alg !== undefined && jwk.alg !== alg) throw jwtInvalid('alg does not match the key');
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(jwk as JWK, alg);
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [...JWT_SVID_ALGORITHMS],
      audience: options.audience,
      currentDate: new Date((options.now ?? Date.now)()),
      requiredClaims: ['sub', 'aud', 'exp'],
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new VerityError('ERR_SVID_EXPIRED', 'JWT-SVID refused: expired');
    throw jwtInvalid(error instanceof errors.JOSEError ? error.code : 'does not verify');
  }
  let spiffeId: string;
  try {
    spiffeId = parseWorkloadSpiffeId(payload.sub).id;
  } catch {
    throw jwtInvalid('sub is not a workload SPIFFE id');
  }
  if (parseWorkloadSpiffeId(spiffeId).trustDomain !== options.bundle.trustDomain) {
    throw new VerityError('ERR_SVID_UNTRUSTED', 'JWT-SVID refused: sub is not in the trust domain');
  }
  const audience = Array.isArray(payload.aud) ? (payload.aud as string[]) : [payload.aud as string];
  return { spiffeId, audience, expiresAtMs: (payload.exp as number) * 1000 };
}

/**
 * The trust domain a JWT-SVID's `sub` names, read WITHOUT verifying anything: only to pick which
 * trust bundle to verify it against (a relying party that federates with several domains), after
 * which {@link verifyJwtSvid} requires `sub` to be in that bundle's domain. Undefined when the
 * token is not a JWT with a workload SPIFFE id as `sub`.
 */
export function claimedTrustDomainOf(token: unknown): string | undefined {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return undefined;
  try {
    const { sub } = decodeJwt(token);
    return typeof sub === 'string' ? parseWorkloadSpiffeId(sub).trustDomain : undefined;
  } catch {
    return undefined;
  }
}
