/** Shared Signals registrations as an admin sends them (transmitters, receivers), checked once here. */
import { isIP } from 'node:net';
import { isPlainObject, VerityError, type ErrorCode } from '@verity/core';
import { isPublicAddress, PRIVATE_JWK_MEMBERS, publicJwkProblem } from '@verity/identity';

/** A transmitter registration: `{issuer, jwks: {keys} | jwks_uri, audience?}`. */
export interface TransmitterConfig {
  issuer: string;
  /** Exactly one of `jwks` and `jwksUri` is set. */
  jwks: { keys: Array<Record<string, unknown>> } | null;
  jwksUri: string | null;
  /** Absent: the tenant's default receiver audience. */
  audience: string | null;
}

/** A receiver registration: `{endpoint, audience}`. */
export interface ReceiverConfig {
  endpoint: string;
  audience: string;
}

/** An SSF registration id: 1–128 letters, digits, `.`, `_`, `-`. */
const SSF_ID = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_KEYS = 16;
const KEY_TYPES = new Set(['EC', 'RSA', 'OKP']);
const TRANSMITTER_KEYS = new Set(['issuer', 'jwks', 'jwks_uri', 'audience']);
const RECEIVER_KEYS = new Set(['endpoint', 'audience']);

/** Whether `value` is an SSF transmitter or receiver id. */
export function isSsfId(value: unknown): value is string {
  return typeof value === 'string' && SSF_ID.test(value);
}

const text = (value: unknown, max = 1024): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;

function checkKeys(body: unknown, allowed: ReadonlySet<string>, code: ErrorCode, what: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw new VerityError(code, `the ${what} must be a JSON object`);
  const unknown = Object.keys(body).filter((key) => !allowed.has(key));
  if (unknown.length > 0) throw new VerityError(code, `unknown ${what} keys: ${unknown.slice(0, 5).map((key) => key.slice(0, 40)).join(', ')}`);
  return body;
}

function isUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * A URL Verity will call (a receiver's endpoint, a transmitter's `jwks_uri`): https to a public
 * host; plain http, `localhost` and loopback or private address literals only when
 * `allowInsecure` (a name that resolves to one is refused by the guarded fetch when calling).
 */
function outboundUrl(value: unknown, allowInsecure: boolean, invalid: (message: string) => VerityError, path: string): string {
  if (!text(value) || !isUrl(value)) throw invalid(`${path} must be an absolute URL`);
  const url = new URL(value);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const local = host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && !isPublicAddress(host));
  if (url.username !== '' || url.password !== '') throw invalid(`${path} must not carry credentials`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`${path} must be an http(s) URL`);
  if (!allowInsecure && (url.protocol !== 'https:' || local)) {
    throw invalid(`${path} must be an https URL of a public host (loopback and private addresses need the server's --allow-insecure-identity-sources)`);
  }
  return value;
}

/**
 * A transmitter registration from untrusted JSON: its keys inline (`jwks`: public asymmetric
 * JWKs, EC, RSA or OKP, at most 16; a private member or a symmetric `oct` key is refused, so
 * nothing secret is ever stored or shown) or by URL (`jwks_uri`, fetched like a receiver's
 * endpoint is called). Throws ERR_SSF_TRANSMITTER_INVALID.
 */
export function parseTransmitterConfig(body: unknown, allowInsecure: boolean): TransmitterConfig {
  const invalid = (message: string) => new VerityError('ERR_SSF_TRANSMITTER_INVALID', message);
  const { issuer, jwks, jwks_uri: jwksUri, audience } = checkKeys(body, TRANSMITTER_KEYS, 'ERR_SSF_TRANSMITTER_INVALID', 'transmitter');
  if (!text(issuer) || !isUrl(issuer)) throw invalid('issuer must be the URL its SETs carry as iss');
  if (audience !== undefined && audience !== null && !text(audience)) throw invalid('audience must be a non-empty string');
  const config = { issuer, audience: typeof audience === 'string' ? audience : null };
  if ((jwks === undefined) === (jwksUri === undefined)) throw invalid('send exactly one of jwks and jwks_uri');
  if (jwksUri !== undefined) return { ...config, jwks: null, jwksUri: outboundUrl(jwksUri, allowInsecure, invalid, 'jwks_uri') };
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0 || jwks.keys.length > MAX_KEYS) throw invalid(`jwks must be {keys: [...]} with 1–${MAX_KEYS} keys`);
  const keys = jwks.keys.map((key: unknown, index) => {
    if (!isPlainObject(key) || typeof key.kty !== 'string' || !KEY_TYPES.has(key.kty)) throw invalid(`jwks.keys[${index}] must be an EC, RSA or OKP public key`);
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) throw invalid(`jwks.keys[${index}] has private key members: send the public key only`);
    const problem = publicJwkProblem(key);
    if (problem !== null) throw invalid(`jwks.keys[${index}]: ${problem}`);
    return { ...key };
  });
  return { ...config, jwks: { keys }, jwksUri: null };
}

/** A receiver registration from untrusted JSON (`endpoint` as {@link outboundUrl} allows). Throws ERR_SSF_RECEIVER_INVALID. */
export function parseReceiverConfig(body: unknown, allowInsecure: boolean): ReceiverConfig {
  const invalid = (message: string) => new VerityError('ERR_SSF_RECEIVER_INVALID', message);
  const { endpoint, audience } = checkKeys(body, RECEIVER_KEYS, 'ERR_SSF_RECEIVER_INVALID', 'receiver');
  const checked = outboundUrl(endpoint, allowInsecure, invalid, 'endpoint');
  if (!text(audience)) throw invalid('audience must be a non-empty string (the aud the receiver expects)');
  return { endpoint: checked, audience };
}
