/** Parses an identity source configuration from untrusted JSON into a validated, frozen IdentitySource. */
import { isPlainObject, VerityError } from '@verity/core';
import { createPublicKey, type JsonWebKeyInput, type KeyObject } from 'node:crypto';
import { createLocalJWKSet } from 'jose';
import type { AsymmetricAlgorithm, ClaimMapping, IdentitySource, KeySource } from './types.js';

/** Every algorithm a source may list. HMAC and `none` are absent on purpose: a shared secret is not an identity. */
export const ASYMMETRIC_ALGORITHMS: readonly AsymmetricAlgorithm[] = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
]);

// Conservative defaults, in one place.
/** Widely deployed asymmetric algorithms; everything else must be opted into. */
const DEFAULT_ALGORITHMS: readonly AsymmetricAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];
/** Enough for ordinary clock skew; larger values extend the life of expired tokens. */
const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
/** A skew beyond five minutes is a broken clock, not a tolerance. */
const MAX_CLOCK_TOLERANCE_SEC = 300;
const DEFAULT_ID_CLAIM = 'sub';
const DEFAULT_GROUP_TYPE = 'Group';
/** A client's own token is a machine: never a `User` unless a source says so. */
const DEFAULT_CLIENT_PRINCIPAL_TYPE = 'Client';
/** Bounds on lists in untrusted config, so one source cannot bloat every verification. */
const MAX_AUDIENCES = 32;
const MAX_INLINE_KEYS = 32;
const MAX_MAPPINGS = 64;
const MAX_STRING = 512;

const ENTITY_TYPE = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;
const IDENTITY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** JWK members that only private or symmetric keys have: a key Verity is given to verify with must be public. */
export const PRIVATE_JWK_MEMBERS: readonly string[] = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The smallest RSA modulus a verification key may have (jose refuses RSA keys below it). */
const MIN_RSA_BITS = 2048;

/**
 * Why a JWK cannot verify signatures here, or null when it can: it must be a public key (no
 * private or symmetric members) that Node's crypto imports (an EC point on its curve, a known
 * OKP curve, well-formed RSA members), and an RSA key has at least 2048 bits. Registration checks
 * every key with this, so an unusable key is a 400 when it is given, never a 500 at each use.
 */
export function publicJwkProblem(jwk: Record<string, unknown>): string | null {
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) return 'it has private or symmetric key members: give the public key only';
  let imported: KeyObject;
  try {
    imported = createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' });
  } catch {
    return 'it is not a usable public key (an EC point off its curve, an unknown curve, malformed members)';
  }
  const bits = imported.asymmetricKeyDetails?.modulusLength;
  if (imported.asymmetricKeyType === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS)) return `an RSA key needs at least ${MIN_RSA_BITS} bits`;
  return null;
}

/**
 * Whether `value` is an identity source or token-service client id: 1-128 letters, digits,
 * `.`, `_` or `-`, starting with a letter or digit.
 *
 * @example
 * isIdentityId('corp-okta'); // true
 */
export function isIdentityId(value: unknown): value is string {
  return typeof value === 'string' && IDENTITY_ID.test(value);
}
const PUBLIC_KEY_TYPES = new Set(['RSA', 'EC', 'OKP']);

function invalid(message: string): VerityError {
  return new VerityError('ERR_IDENTITY_SOURCE_INVALID', `identity source: ${message}`);
}


function record(value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(`${path} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(`${path} has an unknown key ${JSON.stringify(key.slice(0, 64))}`);
  }
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_STRING) {
    throw invalid(`${path} must be a non-empty string of at most ${MAX_STRING} characters`);
  }
  return value;
}

function stringMap(value: unknown, path: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalid(`${path} must be an object of strings`);
  const entries = Object.entries(value);
  if (entries.length > MAX_MAPPINGS) throw invalid(`${path} has more than ${MAX_MAPPINGS} entries`);
  return Object.fromEntries(entries.map(([key, claim]) => [string(key, `${path} key`), string(claim, `${path}.${key}`)]));
}

/**
 * Validate a URL an identity source will fetch from or name as issuer: https, or http only on
 * loopback (for tests and local development); never credentials or a fragment.
 */
export function validateSourceUrl(value: unknown, path: string): string {
  const text = string(value, path);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${path} must be an absolute URL`);
  }
  const loopback = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !loopback) throw invalid(`${path} must use https`);
  if (url.username !== '' || url.password !== '') throw invalid(`${path} must not contain credentials`);
  if (url.hash !== '' || text.includes('#')) throw invalid(`${path} must not contain a fragment`);
  return text;
}

function parseAlgorithms(value: unknown): AsymmetricAlgorithm[] {
  if (value === undefined) return [...DEFAULT_ALGORITHMS];
  if (!Array.isArray(value) || value.length === 0) throw invalid('algorithms must be a non-empty array');
  const out: AsymmetricAlgorithm[] = [];
  for (const alg of value) {
    if (!ASYMMETRIC_ALGORITHMS.includes(alg as AsymmetricAlgorithm)) {
      // `none` and HS* land here: a source must name asymmetric algorithms only.
      throw invalid(`algorithms may only contain ${ASYMMETRIC_ALGORITHMS.join(', ')}`);
    }
    if (!out.includes(alg as AsymmetricAlgorithm)) out.push(alg as AsymmetricAlgorithm);
  }
  return out;
}

function parseInlineKeys(value: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_INLINE_KEYS) {
    throw invalid(`keys.keys must be an array of 1 to ${MAX_INLINE_KEYS} JWKs`);
  }
  const keys = value.map((jwk, i) => {
    if (!isPlainObject(jwk)) throw invalid(`keys.keys[${i}] must be a JWK object`);
    if (typeof jwk.kty !== 'string' || !PUBLIC_KEY_TYPES.has(jwk.kty)) throw invalid(`keys.keys[${i}].kty must be RSA, EC or OKP`);
    if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw invalid(`keys.keys[${i}] must be a public key`);
    const problem = publicJwkProblem(jwk);
    if (problem !== null) throw invalid(`keys.keys[${i}]: ${problem}`);
    if (jwk.kid !== undefined && typeof jwk.kid !== 'string') throw invalid(`keys.keys[${i}].kid must be a string`);
    return structuredClone(jwk);
  });
  try {
    createLocalJWKSet({ keys: keys as never });
  } catch {
    throw invalid('keys.keys is not a valid JSON Web Key Set');
  }
  return keys;
}

function parseKeySource(value: unknown): KeySource {
  if (!isPlainObject(value)) throw invalid('keys must be an object');
  switch (value.kind) {
    case 'discovery':
      record(value, 'keys', ['kind']);
      return { kind: 'discovery' };
    case 'jwks': {
      const keys = record(value, 'keys', ['kind', 'jwksUri']);
      return { kind: 'jwks', jwksUri: validateSourceUrl(keys.jwksUri, 'keys.jwksUri') };
    }
    case 'inline': {
      const keys = record(value, 'keys', ['kind', 'keys']);
      return { kind: 'inline', keys: parseInlineKeys(keys.keys) };
    }
    default:
      throw invalid('keys.kind must be "discovery", "jwks" or "inline"');
  }
}

/** Context entries only verified credentials set: `txn` (a Txn-Token), `caller` and `caller_forged` (the PEP's peer). */
const VERIFIED_CONTEXT_KEYS: ReadonlySet<string> = new Set(['txn', 'caller', 'caller_forged']);

function parseClaimMapping(value: unknown): ClaimMapping {
  const claims = record(value, 'claims', ['principalType', 'clientPrincipalType', 'principalTypeClaim', 'idClaim', 'groupsClaim', 'groupType', 'attributes', 'context']);
  const principalType = string(claims.principalType, 'claims.principalType');
  if (!ENTITY_TYPE.test(principalType)) throw invalid('claims.principalType must be a Cedar entity type');
  const clientPrincipalType = claims.clientPrincipalType === undefined ? DEFAULT_CLIENT_PRINCIPAL_TYPE : string(claims.clientPrincipalType, 'claims.clientPrincipalType');
  if (!ENTITY_TYPE.test(clientPrincipalType)) throw invalid('claims.clientPrincipalType must be a Cedar entity type');
  const groupType = claims.groupType === undefined ? DEFAULT_GROUP_TYPE : string(claims.groupType, 'claims.groupType');
  if (!ENTITY_TYPE.test(groupType)) throw invalid('claims.groupType must be a Cedar entity type');
  const mapping: ClaimMapping = {
    principalType,
    clientPrincipalType,
    idClaim: claims.idClaim === undefined ? DEFAULT_ID_CLAIM : string(claims.idClaim, 'claims.idClaim'),
    groupType,
    attributes: stringMap(claims.attributes, 'claims.attributes'),
    context: stringMap(claims.context, 'claims.context'),
  };
  // Entries verified by the PDP or the PEP (a Txn-Token's claims, the calling workload): a claim
  // of the user's token must never stand in for them (token entries win over the request's).
  for (const key of Object.keys(mapping.context)) {
    if (VERIFIED_CONTEXT_KEYS.has(key)) throw invalid(`claims.context may not map onto "${key}": the PDP sets it from what it verified`);
  }
  if (claims.groupsClaim !== undefined) mapping.groupsClaim = string(claims.groupsClaim, 'claims.groupsClaim');
  if (claims.principalTypeClaim !== undefined) mapping.principalTypeClaim = string(claims.principalTypeClaim, 'claims.principalTypeClaim');
  return mapping;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parse and validate an identity source from untrusted JSON. Unknown keys are errors; defaults
 * are RS256/ES256/EdDSA, 30 s clock tolerance, id claim `sub` and group type `Group`.
 * The result is deeply frozen.
 *
 * @throws VerityError `ERR_IDENTITY_SOURCE_INVALID` naming the offending field (never its value).
 * @example
 * const source = parseIdentitySource({
 *   id: 'corp', tenant: 'acme', issuer: 'https://idp.example.com',
 *   keys: { kind: 'discovery' }, audiences: ['api://verity'],
 *   claims: { principalType: 'User', groupsClaim: 'groups' },
 * });
 */
export function parseIdentitySource(input: unknown): IdentitySource {
  const config = record(input, 'identity source', [
    'id', 'tenant', 'issuer', 'keys', 'audiences', 'algorithms', 'clockToleranceSec', 'claims',
  ]);
  const id = string(config.id, 'id');
  if (!isIdentityId(id)) throw invalid('id must be 1-128 letters, digits, ".", "_" or "-"');
  const issuer = validateSourceUrl(config.issuer, 'issuer');
  if (new URL(issuer).search !== '') throw invalid('issuer must not contain a query');
  const audiences = config.audiences;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.length > MAX_AUDIENCES) {
    // Without audiences a source would accept tokens minted for any other relying party.
    throw invalid(`audiences must be an array of 1 to ${MAX_AUDIENCES} strings`);
  }
  const tolerance = config.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  if (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SEC) {
    throw invalid(`clockToleranceSec must be an integer from 0 to ${MAX_CLOCK_TOLERANCE_SEC}`);
  }
  return deepFreeze({
    id,
    tenant: string(config.tenant, 'tenant'),
    issuer,
    keys: parseKeySource(config.keys),
    audiences: [...new Set(audiences.map((aud, i) => string(aud, `audiences[${i}]`)))],
    algorithms: parseAlgorithms(config.algorithms),
    clockToleranceSec: tolerance,
    claims: parseClaimMapping(config.claims),
  });
}
