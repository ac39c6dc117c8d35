/** Token-endpoint client authentication: client_secret_basic, client_secret_post and private_key_jwt (RFC 6749 §2.3, RFC 7523). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { isStorableText, VerityError } from '@verity/core';
import type { StsClient } from './types.js';
import { CLIENT_ASSERTION_ALGORITHMS } from './token-issuer.js';

/** A parsed `application/x-www-form-urlencoded` body; a parameter given twice is rejected (RFC 6749 §3.2). */
export type StsForm = URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface ClientAuthRequest {
  /** Header names in any case. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  form: StsForm;
}

/** Remembers assertion `jti`s until they expire. `addIfAbsent` is atomic: false means the key was already seen (a replay). */
export interface SeenJtiSet {
  addIfAbsent(key: string, expiresAtSec: number): boolean | Promise<boolean>;
}

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface AuthenticatedClient {
  client: StsClient;
  method: ClientAuthMethod;
}

export interface AuthenticateClientOptions {
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** The exact `aud` a client assertion must carry. */
  tokenEndpointUrl: string;
  seenJti: SeenJtiSet;
  /** Skew tolerated on assertion `exp`/`nbf`/`iat` (default 30 s). */
  clockToleranceSec?: number;
}

/** Why authentication failed, for logs only (on the error's `cause`); clients see one generic message. */
export type ClientAuthFailureReason =
  | 'no_credentials'
  | 'multiple_methods'
  | 'malformed'
  | 'unknown_client'
  | 'wrong_secret'
  | 'method_not_registered'
  | 'assertion_invalid'
  | 'assertion_lifetime'
  | 'jti_replayed';

export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** RFC 7523 §3 lets the server bound an assertion's lifetime; ours must expire within 5 minutes. */
const MAX_ASSERTION_LIFETIME_SEC = 300;
const MAX_ASSERTION_LENGTH = 16 * 1024;
// Compared against when the client is unknown, so the response time does not reveal which ids exist.
const DUMMY_HASH = createHash('sha256').update('verity: no such client').digest('hex');

/**
 * Authenticates the client calling the token endpoint. Exactly one method must be used
 * (RFC 6749 §2.3). Any failure is `ERR_STS_INVALID_CLIENT` with a generic message.
 *
 * @example
 * const { client } = await authenticateClient({ headers, form }, (id) => clients.get(id), { tokenEndpointUrl, seenJti });
 */
export async function authenticateClient(
  request: ClientAuthRequest,
  lookup: (clientId: string) => Promise<StsClient | null>,
  options: AuthenticateClientOptions,
): Promise<AuthenticatedClient> {
  const authorization = headerValue(request.headers, 'authorization');
  const form = (name: string): string | undefined => {
    try {
      return readFormParam(request.form, name);
    } catch {
      throw fail('malformed');
    }
  };
  const secret = form('client_secret');
  const assertion = form('client_assertion');
  const assertionType = form('client_assertion_type');
  const formClientId = form('client_id');
  const usesBasic = authorization !== undefined && /^basic /i.test(authorization);
  const usesJwt = assertion !== undefined || assertionType !== undefined;
  const methods = [usesBasic, secret !== undefined, usesJwt].filter(Boolean).length;
  if (methods === 0) throw fail('no_credentials');
  if (methods > 1) throw fail('multiple_methods');

  if (usesJwt) {
    if (assertion === undefined || assertionType !== CLIENT_ASSERTION_TYPE_JWT_BEARER) throw fail('malformed');
    const client = await authenticateAssertion(assertion, formClientId, lookup, options);
    return { client, method: 'private_key_jwt' };
  }
  if (usesBasic) {
    const [clientId, basicSecret] = parseBasic(authorization);
    // A client_id in the body must name the same client as the header.
    if (formClientId !== undefined && formClientId !== clientId) throw fail('malformed');
    return { client: await checkSecret(clientId, basicSecret, lookup), method: 'client_secret_basic' };
  }
  if (formClientId === undefined || secret === undefined) throw fail('malformed');
  return { client: await checkSecret(formClientId, secret, lookup), method: 'client_secret_post' };
}

/**
 * Reads one form parameter. Absent or empty → `undefined` (RFC 6749 §3.1); repeated → throws
 * `ERR_STS_INVALID_REQUEST` (RFC 6749 §3.2).
 */
export function readFormParam(form: StsForm, name: string): string | undefined {
  const values = form instanceof URLSearchParams ? form.getAll(name) : toList(Object.hasOwn(form, name) ? form[name] : undefined);
  if (values.length > 1) throw new VerityError('ERR_STS_INVALID_REQUEST', `The parameter "${safeName(name)}" must not be repeated`);
  const value = values[0];
  return value === undefined || value === '' ? undefined : value;
}

/** An in-memory `SeenJtiSet`; expired entries are swept as new ones arrive. */
export function createMemorySeenJtiSet(options: { now?: () => number } = {}): SeenJtiSet {
  const now = options.now ?? Date.now;
  const seen = new Map<string, number>();
  let nextSweep = 0;
  return {
    addIfAbsent(key, expiresAtSec) {
      const at = now() / 1000;
      if (at >= nextSweep) {
        for (const [k, exp] of seen) if (exp < at) seen.delete(k);
        nextSweep = at + 60;
      }
      const known = seen.get(key);
      if (known !== undefined && known >= at) return false;
      seen.set(key, expiresAtSec);
      return true;
    },
  };
}

async function checkSecret(clientId: string, secret: string, lookup: (clientId: string) => Promise<StsClient | null>): Promise<StsClient> {
  const client = await lookup(clientId);
  const presented = createHash('sha256').update(secret, 'utf8').digest('hex');
  const stored = client?.secretHash?.toLowerCase() ?? null;
  const expected = stored !== null && /^[0-9a-f]{64}$/.test(stored) ? stored : DUMMY_HASH;
  const equal = timingSafeEqual(Buffer.from(presented, 'utf8'), Buffer.from(expected, 'utf8'));
  if (client === null) throw fail('unknown_client');
  if (stored === null) throw fail('method_not_registered');
  if (!equal || expected === DUMMY_HASH) throw fail('wrong_secret');
  return client;
}

async function authenticateAssertion(
  assertion: string,
  formClientId: string | undefined,
  lookup: (clientId: string) => Promise<StsClient | null>,
  options: AuthenticateClientOptions,
): Promise<StsClient> {
  if (assertion.length > MAX_ASSERTION_LENGTH) throw fail('malformed');
  let unverifiedIssuer: unknown;
  try {
    unverifiedIssuer = decodeJwt(assertion).iss;
  } catch {
    throw fail('malformed');
  }
  // The unverified `iss` only picks whose keys to try; jwtVerify then checks it and `sub` (RFC 7523 §3).
  if (typeof unverifiedIssuer !== 'string' || unverifiedIssuer === '') throw fail('malformed');
  const clientId = unverifiedIssuer;
  if (formClientId !== undefined && formClientId !== clientId) throw fail('malformed');
  const client = await lookup(clientId);
  if (client === null) throw fail('unknown_client');
  if (client.jwks === null || client.jwks.length === 0) throw fail('method_not_registered');

  const nowMs = (options.now ?? Date.now)();
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet({ keys: client.jwks } as JSONWebKeySet), {
      issuer: clientId,
      subject: clientId,
      audience: options.tokenEndpointUrl,
      algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
      requiredClaims: ['exp', 'jti', 'iss', 'sub', 'aud'],
      currentDate: new Date(nowMs),
      clockTolerance: options.clockToleranceSec ?? 30,
    }));
  } catch {
    throw fail('assertion_invalid');
  }
  // One audience only: an assertion also valid elsewhere could be replayed there.
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw fail('assertion_invalid');
  const exp = payload.exp as number;
  if (typeof payload.jti !== 'string' || payload.jti === '') throw fail('assertion_invalid');
  if (exp - nowMs / 1000 > MAX_ASSERTION_LIFETIME_SEC || (typeof payload.iat === 'number' && exp - payload.iat > MAX_ASSERTION_LIFETIME_SEC)) throw fail('assertion_lifetime');
  // jti is unique per issuer (RFC 7519 §4.1.7), so the replay key is scoped by client.
  if (!(await options.seenJti.addIfAbsent(`${client.tenant}\u0000${clientId}\u0000${payload.jti}`, exp))) throw fail('jti_replayed');
  return client;
}

/** RFC 6749 §2.3.1: base64 of `urlencoded(id):urlencoded(secret)`. */
function parseBasic(header: string): [string, string] {
  const encoded = header.slice('basic '.length).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw fail('malformed');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw fail('malformed');
  try {
    const id = formDecode(decoded.slice(0, colon));
    const secret = formDecode(decoded.slice(colon + 1));
    // A NUL or an unpaired surrogate names no client the store can hold.
    if (id === '' || secret === '' || !isStorableText(id) || !isStorableText(secret)) throw fail('malformed');
    return [id, secret];
  } catch {
    throw fail('malformed');
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function headerValue(headers: ClientAuthRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const list = toList(value);
    if (list.length > 1) throw fail('malformed');
    return list[0];
  }
  return undefined;
}

function toList(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

/** Parameter names come from our own code, but keep messages printable and short regardless. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
}

function fail(reason: ClientAuthFailureReason): VerityError {
  return new VerityError('ERR_STS_INVALID_CLIENT', 'Client authentication failed', { cause: { reason } });
}
