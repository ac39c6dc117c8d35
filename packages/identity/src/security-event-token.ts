/**
 * Security Event Tokens (RFC 8417) for Shared Signals: verifying a pushed SET against a tenant's
 * registered transmitters (the signature, asymmetric only; `typ`, `iss`, `aud`, `iat` within a
 * bounded window, `jti` and `events` present; replay is checked by the caller, it needs the
 * store), and signing Verity's own.
 */
import { randomUUID } from 'node:crypto';
import { VerityError, isPlainObject, type ErrorCode } from '@verity/core';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ASYMMETRIC_ALGORITHMS } from './identity-source.js';
import { jwtErrorCode } from './jwt-errors.js';
import type { KeyResolver } from './key-resolver.js';
import type { ActiveSigningKey } from './signing-keys.js';

/** A transmitter as the verifier needs it: the `iss` of its SETs, its public keys, the audience. */
export interface SetTransmitter {
  id: string;
  issuer: string;
  /** Its public keys inline, or null when `jwksUri` names them. */
  jwks: { keys: Array<Record<string, unknown>> } | null;
  /** Where its JWKS is fetched (through {@link VerifySetOptions.resolver}), or null. */
  jwksUri: string | null;
  /** The `aud` its SETs must carry. */
  audience: string;
}

/** A verified SET: who sent it, its id and times, and its events (type URI → payload). */
export interface VerifiedSet {
  transmitter: string;
  issuer: string;
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  /** SSF 1.0 `toe` (time of event, seconds), when given. */
  toe: number | null;
  /** SSF 1.0 top-level subject (RFC 9493 subject identifier), when given. */
  subId: Record<string, unknown> | null;
  events: Record<string, Record<string, unknown>>;
}

/** Bounds of {@link verifySecurityEventToken}. */
export interface VerifySetOptions {
  /** Now, ms since the epoch. */
  nowMs: number;
  /** Oldest `iat` accepted, seconds before now (a SET is not an access token: no `exp` is required, RFC 8417 §2.2). */
  maxAgeSec: number;
  /** How far a transmitter's clock may run ahead (an `iat` up to this far in the future), seconds. */
  clockSkewSec: number;
  /** Fetches and caches the JWKS of a transmitter registered by `jwksUri` (the guarded fetch). */
  resolver?: Pick<KeyResolver, 'keysForUri'>;
}

/** RFC 8417 §2.3: the media type of a SET, as `typ` (jose compares it without `application/`). */
export const SET_TYP = 'secevent+jwt';

const MAX_SET_CHARS = 64 * 1024;

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  ERR_SSF_SET_INVALID: 'the body is not a valid Security Event Token',
  ERR_SSF_SET_KEY: 'the SET is not signed by a key of its transmitter',
  ERR_SSF_SET_ISSUER: 'the SET issuer is not a registered transmitter of this tenant',
  ERR_SSF_SET_AUDIENCE: 'the SET audience is not this receiver',
};

/** A refusal with a message that never quotes the SET. */
export function setError(code: ErrorCode, detail?: string): VerityError {
  return new VerityError(code, detail ?? MESSAGES[code] ?? 'the SET was refused');
}

/** jose's refusal as a Shared Signals code (RFC 8935 §2.3 maps each to an `err`). */
function setErrorCode(error: unknown): ErrorCode {
  const code = jwtErrorCode(error);
  if (code === 'ERR_TOKEN_ISSUER') return 'ERR_SSF_SET_ISSUER';
  if (code === 'ERR_TOKEN_AUDIENCE') return 'ERR_SSF_SET_AUDIENCE';
  if (code === 'ERR_TOKEN_SIGNATURE' || code === 'ERR_TOKEN_UNKNOWN_KEY' || code === 'ERR_TOKEN_ALGORITHM' || code === 'ERR_IDENTITY_SOURCE_UNAVAILABLE') return 'ERR_SSF_SET_KEY';
  if (code === 'ERR_INTERNAL') return 'ERR_INTERNAL';
  return 'ERR_SSF_SET_INVALID';
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * Verify `token` (the compact SET, as pushed) against `transmitters` (the tenant's): the one
 * whose `issuer` is the SET's `iss` verifies it, with its own keys and audience.
 *
 * @throws VerityError ERR_SSF_SET_INVALID (not a SET, wrong `typ`, missing claims, `iat` out of
 *   the window), ERR_SSF_SET_KEY (`alg: none`, HMAC, a signature that does not verify),
 *   ERR_SSF_SET_ISSUER, ERR_SSF_SET_AUDIENCE. Messages never quote the token.
 */
export async function verifySecurityEventToken(token: string, transmitters: readonly SetTransmitter[], options: VerifySetOptions): Promise<VerifiedSet> {
  if (token.length === 0 || token.length > MAX_SET_CHARS) throw setError('ERR_SSF_SET_INVALID');
  let alg: unknown;
  let iss: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
    iss = decodeJwt(token).iss;
  } catch {
    throw setError('ERR_SSF_SET_INVALID');
  }
  // RFC 8935 §2.2 needs the SET signed; an HMAC key would be a secret shared with us, which a
  // registered JWKS of public keys cannot be. Refused before any key is looked at.
  if (typeof alg !== 'string' || !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) throw setError('ERR_SSF_SET_KEY', 'the SET must be signed with an asymmetric algorithm');
  const transmitter = typeof iss === 'string' ? transmitters.find((candidate) => candidate.issuer === iss) : undefined;
  if (transmitter === undefined) throw setError('ERR_SSF_SET_ISSUER');

  let keys: JWTVerifyGetKey;
  if (transmitter.jwks !== null) keys = createLocalJWKSet(transmitter.jwks as JSONWebKeySet);
  else if (transmitter.jwksUri !== null && options.resolver !== undefined) keys = options.resolver.keysForUri(transmitter.jwksUri);
  else throw new TypeError('verifySecurityEventToken: a transmitter with a jwksUri needs options.resolver');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      issuer: transmitter.issuer,
      audience: transmitter.audience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      typ: SET_TYP,
      currentDate: new Date(options.nowMs),
      clockTolerance: options.clockSkewSec,
    }));
  } catch (error) {
    // The transmitter's JWKS URL did not answer: not the SET's fault, so a 503 the transmitter retries.
    if (transmitter.jwksUri !== null && error instanceof VerityError && error.code === 'ERR_IDENTITY_SOURCE_UNAVAILABLE') throw error;
    const code = setErrorCode(error);
    if (code === 'ERR_INTERNAL') throw new VerityError('ERR_INTERNAL', 'SET verification failed unexpectedly', { cause: error });
    throw setError(code);
  }

  const { jti, iat, toe, events, sub_id: subId } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw setError('ERR_SSF_SET_INVALID', 'the SET needs a jti of 1–256 characters');
  if (!isNumericDate(iat)) throw setError('ERR_SSF_SET_INVALID', 'the SET needs an iat');
  const nowSec = options.nowMs / 1000;
  if (iat > nowSec + options.clockSkewSec) throw setError('ERR_SSF_SET_INVALID', 'the SET iat is in the future');
  if (iat < nowSec - options.maxAgeSec) throw setError('ERR_SSF_SET_INVALID', `the SET is older than ${options.maxAgeSec} s`);
  if (toe !== undefined && !isNumericDate(toe)) throw setError('ERR_SSF_SET_INVALID', 'the SET toe must be a NumericDate');
  if (subId !== undefined && !isPlainObject(subId)) throw setError('ERR_SSF_SET_INVALID', 'the SET sub_id must be an object');
  // RFC 8417 §2.2: `events` is a JSON object of event type URI → event payload object.
  if (!isPlainObject(events) || Object.keys(events).length === 0 || !Object.values(events).every(isPlainObject)) {
    throw setError('ERR_SSF_SET_INVALID', 'the SET needs an events object of event type → object');
  }
  return {
    transmitter: transmitter.id,
    issuer: transmitter.issuer,
    jti,
    iat,
    toe: toe ?? null,
    subId: subId ?? null,
    events: events as Record<string, Record<string, unknown>>,
  };
}

/** What {@link signSecurityEventToken} puts in a SET besides `iss`, `aud`, `iat` and a fresh `jti`. */
export interface SignSetOptions {
  key: ActiveSigningKey;
  issuer: string;
  audience: string;
  /** Seconds since the epoch. */
  iatSec: number;
  /** SSF 1.0 §3 subject of the events. */
  subId: Record<string, unknown>;
  /** Event type URI → payload (RFC 8417 §2.2). */
  events: Record<string, Record<string, unknown>>;
}

/**
 * Sign a SET (RFC 8417: `typ: secevent+jwt`, a fresh `jti`) with `key` (its `kid` in the header).
 *
 * @example
 * const set = await signSecurityEventToken({ key: await ring.current(), issuer, audience, iatSec, subId: { format: 'opaque', id: 'alice' }, events });
 */
export function signSecurityEventToken(options: SignSetOptions): Promise<string> {
  return new SignJWT({ sub_id: options.subId, events: options.events })
    .setProtectedHeader({ alg: options.key.alg, kid: options.key.kid, typ: SET_TYP })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(options.iatSec)
    .setJti(randomUUID())
    .sign(options.key.key);
}
