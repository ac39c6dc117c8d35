/**
 * SVID proofs: a short compact JWS a workload signs with its current X.509-SVID key to ask the
 * PDP for a renewal or a JWT-SVID. The header carries the chain (`x5c`, RFC 7515 §4.1.6), so the
 * PDP checks chain and signature without any stored state; it must also refuse a reused `jti`.
 */
import { createHash, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, errors, importPKCS8, jwtVerify, SignJWT } from 'jose';
import { VerityError } from '@verity/core';
import type { X509Svid } from './svid-source.js';
import type { TrustBundle } from './trust-bundle.js';
import { verifyX509Svid } from './x509-svid.js';
import { fromBase64Der, fromPem } from './x509-provider.js';

/** JOSE `typ` of a proof: never mistaken for an access token, JWT-SVID or receipt. */
export const SVID_PROOF_TYPE = 'verity-svid-proof+jwt';
/** Default and largest proof lifetime, seconds (`exp - iat`). */
export const DEFAULT_PROOF_MAX_AGE_SEC = 60;
/** Allowed clock skew for a proof's `iat` in the future, seconds. */
export const PROOF_CLOCK_SKEW_SEC = 5;
/** Largest proof accepted (characters): a chain of three certificates fits several times over. */
const MAX_PROOF_CHARS = 32 * 1024;
const MAX_JTI_CHARS = 128;

/** Options of {@link createSvidProof}. */
export interface CreateSvidProofOptions {
  svid: X509Svid;
  /** Exact URL of the endpoint the proof is for, e.g. `https://pdp/workload/v1/tenants/t/renew`. */
  audience: string;
  /** DER of the CSR sent with a renewal; its SHA-256 goes into `csr_sha256` (base64url). */
  csrDer?: Uint8Array;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** The `csr_sha256` value of a CSR: base64url (no padding) of the SHA-256 of its DER. */
export function csrSha256(csrDer: Uint8Array): string {
  return createHash('sha256').update(csrDer).digest('base64url');
}

/**
 * Sign a proof with the SVID's key: header `{alg: ES256 (RS256 for an RSA key), typ, x5c}`, claims
 * `aud`, `iat`, `exp = iat + 60`, a random `jti` and, with `csrDer`, `csr_sha256`.
 */
export async function createSvidProof(options: CreateSvidProofOptions): Promise<string> {
  const { svid, audience } = options;
  if (typeof audience !== 'string' || audience === '') throw new TypeError('createSvidProof: audience must be a non-empty string');
  const x5c = svid.certChainPem.map((pem) => {
    const der = fromPem(pem, 'CERTIFICATE');
    if (der === null) throw new TypeError('createSvidProof: certChainPem must hold one PEM certificate per element');
    return Buffer.from(der).toString('base64');
  });
  const keyObject = createPublicKey(svid.privateKeyPem);
  const alg = keyObject.asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256';
  const key = await importPKCS8(svid.privateKeyPem, alg);
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const claims: Record<string, unknown> = { jti: randomBytes(16).toString('base64url') };
  if (options.csrDer !== undefined) claims.csr_sha256 = csrSha256(options.csrDer);
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: SVID_PROOF_TYPE, x5c })
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + DEFAULT_PROOF_MAX_AGE_SEC)
    .sign(key);
}

/** Options of {@link verifySvidProof}. */
export interface VerifySvidProofOptions {
  /** The tenant's bundle; the chain must verify against it. */
  bundle: TrustBundle;
  /** The exact `aud` expected (this endpoint's URL). */
  audience: string;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Largest `exp - iat`, seconds. Default 60. */
  maxAgeSec?: number;
}

function proofInvalid(why: string): VerityError {
  return new VerityError('ERR_SVID_INVALID', `SVID proof refused: ${why}`);
}

/**
 * Verify a proof: header `typ` exactly {@link SVID_PROOF_TYPE}, `alg` ES256 or RS256, `x5c` the
 * chain (1–3 base64 DER, leaf first) verified by {@link verifyX509Svid} against `bundle`; the
 * signature by the leaf's key; `aud` exactly `audience` (a string, or an array of that one
 * string); `iat` at most 5 s ahead; `exp` not past and at most `iat + maxAgeSec`; `jti` a string
 * of 1–128 characters. Replay (`jti` seen before) is the caller's check.
 * @returns the SVID's SPIFFE id, serial and expiry, the `jti`, and `csr_sha256` when present.
 * @throws VerityError `ERR_SVID_INVALID` (proof), or the chain's `ERR_SVID_INVALID` / `ERR_SVID_UNTRUSTED` / `ERR_SVID_EXPIRED`.
 */
export async function verifySvidProof(
  proof: unknown,
  options: VerifySvidProofOptions,
): Promise<{ spiffeId: string; serial: string; expiresAtMs: number; jti: string; csrSha256?: string }> {
  const maxAgeSec = options.maxAgeSec ?? DEFAULT_PROOF_MAX_AGE_SEC;
  if (!Number.isSafeInteger(maxAgeSec) || maxAgeSec < 1) throw new TypeError('verifySvidProof: maxAgeSec must be a positive integer');
  if (typeof options.audience !== 'string' || options.audience === '') throw new TypeError('verifySvidProof: audience must be a non-empty string');
  if (typeof proof !== 'string' || proof.length === 0 || proof.length > MAX_PROOF_CHARS) throw proofInvalid('not a compact JWS of a sane size');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw proofInvalid('malformed');
  }
  if (header.alg !== 'ES256' && header.alg !== 'RS256') throw proofInvalid('alg must be ES256 or RS256');
  const x5c = header.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0) throw proofInvalid('x5c is missing');
  const chain = x5c.map(fromBase64Der);
  if (chain.some((der) => der === null)) throw proofInvalid('x5c is not base64 DER');

  const nowMs = (options.now ?? Date.now)();
  const svid = verifyX509Svid(chain as Uint8Array[], options.bundle, { now: () => nowMs });

  let payload: Record<string, unknown>;
  try {
    const leafKey = new X509Certificate(chain[0] as Uint8Array).publicKey;
    ({ payload } = await jwtVerify(proof, leafKey, {
      algorithms: [header.alg],
      typ: SVID_PROOF_TYPE,
      audience: options.audience,
      currentDate: new Date(nowMs),
      requiredClaims: ['aud', 'iat', 'exp', 'jti'],
    }));
  } catch (error) {
    throw proofInvalid(error instanceof errors.JWTExpired ? 'expired' : error instanceof errors.JOSEError ? error.code : 'does not verify');
  }
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
  if (aud !== options.audience) throw proofInvalid('wrong aud');
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  if (iat * 1000 > nowMs + PROOF_CLOCK_SKEW_SEC * 1000) throw proofInvalid('iat is in the future');
  if (exp - iat > maxAgeSec) throw proofInvalid('lives too long');
  if (exp * 1000 <= nowMs) throw proofInvalid('expired');
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) throw proofInvalid('jti must be a string of 1 to 128 characters');
  const csr = payload.csr_sha256;
  if (csr !== undefined && (typeof csr !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(csr))) throw proofInvalid('csr_sha256 is malformed');
  return csr === undefined ? { ...svid, jti } : { ...svid, jti, csrSha256: csr };
}
