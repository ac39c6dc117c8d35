/** SET verification and signing (RFC 8417, RFC 8935): real jose keys, a frozen clock, every refusal by code. */
import { beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { VerityError } from '@verity/core';
import { SET_TYP, signSecurityEventToken, verifySecurityEventToken, type SetTransmitter } from './security-event-token.js';
import type { ActiveSigningKey } from './signing-keys.js';

const NOW_MS = Date.UTC(2026, 11, 1, 12);
const NOW = NOW_MS / 1000;
const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'https://verity.example.com/ssf/v1/tenants/acme';
const OPTIONS = { nowMs: NOW_MS, maxAgeSec: 3600, clockSkewSec: 60 };
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const EVENTS = { [SESSION_REVOKED]: { event_timestamp: NOW - 5 } };

let privateKey: CryptoKey;
let otherKey: CryptoKey;
let transmitter: SetTransmitter;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  transmitter = { id: 'idp', issuer: ISSUER, jwks: { keys: [jwk as Record<string, unknown>] }, jwksUri: null, audience: AUDIENCE };
});

interface SetParts {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
}

/** A SET signed as given: defaults are a valid session-revoked SET for `alice`. */
function makeSet(parts: SetParts = {}): Promise<string> {
  const claims = { iss: ISSUER, aud: AUDIENCE, iat: NOW - 10, jti: 'set-1', sub_id: { format: 'opaque', id: 'alice' }, events: EVENTS, ...parts.claims };
  const defined = Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
  return new SignJWT(defined)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: SET_TYP, ...parts.header } as { alg: string })
    .sign(parts.key ?? privateKey);
}

/** `alg: none`, unsigned (jose will not make one). */
function unsigned(): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: SET_TYP })}.${part({ iss: ISSUER, aud: AUDIENCE, iat: NOW, jti: 'x', events: EVENTS })}.`;
}

async function refusal(token: string | Promise<string>): Promise<string> {
  try {
    await verifySecurityEventToken(await token, [transmitter], OPTIONS);
  } catch (error) {
    expect(error).toBeInstanceOf(VerityError);
    expect((error as VerityError).message).not.toContain(await token);
    return (error as VerityError).code;
  }
  throw new Error('the SET was accepted');
}

describe('verifySecurityEventToken', () => {
  it('accepts a SET signed by the transmitter, with its issuer, audience, typ and a fresh iat', async () => {
    const set = await verifySecurityEventToken(await makeSet(), [transmitter], OPTIONS);
    expect(set).toEqual({ transmitter: 'idp', issuer: ISSUER, jti: 'set-1', iat: NOW - 10, toe: null, subId: { format: 'opaque', id: 'alice' }, events: EVENTS });
  });

  it('refuses an unsigned SET (alg none) and an HMAC-signed one as invalid_key', async () => {
    expect(await refusal(unsigned())).toBe('ERR_SSF_SET_KEY');
    expect(await refusal(makeSet({ header: { alg: 'HS256' }, key: new Uint8Array(32).fill(7) }))).toBe('ERR_SSF_SET_KEY');
  });

  it('refuses a SET signed by another key (same kid) and one naming a kid the transmitter lacks', async () => {
    expect(await refusal(makeSet({ key: otherKey }))).toBe('ERR_SSF_SET_KEY');
    expect(await refusal(makeSet({ header: { kid: 'k2' } }))).toBe('ERR_SSF_SET_KEY');
  });

  it('refuses an unregistered issuer, or none', async () => {
    expect(await refusal(makeSet({ claims: { iss: 'https://evil.example.com' } }))).toBe('ERR_SSF_SET_ISSUER');
    expect(await refusal(makeSet({ claims: { iss: undefined } }))).toBe('ERR_SSF_SET_ISSUER');
  });

  it('refuses another audience', async () => {
    expect(await refusal(makeSet({ claims: { aud: 'https://verity.example.com/ssf/v1/tenants/globex' } }))).toBe('ERR_SSF_SET_AUDIENCE');
  });

  it('refuses a JWT that is not a SET: wrong or no typ, no events, no jti, no iat', async () => {
    expect(await refusal(makeSet({ header: { typ: 'JWT' } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ header: { typ: undefined } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ claims: { events: undefined } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ claims: { events: { [SESSION_REVOKED]: 'revoked' } } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ claims: { jti: undefined } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ claims: { iat: undefined } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal('not.a.jwt')).toBe('ERR_SSF_SET_INVALID');
  });

  it('refuses a stale iat (older than the window), an iat in the future beyond the skew, and an expired exp', async () => {
    expect(await refusal(makeSet({ claims: { iat: NOW - 3601 } }))).toBe('ERR_SSF_SET_INVALID');
    await expect(verifySecurityEventToken(await makeSet({ claims: { iat: NOW - 3599 } }), [transmitter], OPTIONS)).resolves.toMatchObject({ jti: 'set-1' });
    expect(await refusal(makeSet({ claims: { iat: NOW + 61 } }))).toBe('ERR_SSF_SET_INVALID');
    expect(await refusal(makeSet({ claims: { exp: NOW - 120 } }))).toBe('ERR_SSF_SET_INVALID');
  });

  it('verifies what signSecurityEventToken signs (typ secevent+jwt, kid, a fresh jti each time)', async () => {
    const key: ActiveSigningKey = { kid: 'k1', alg: 'ES256', key: privateKey };
    const options = { key, issuer: ISSUER, audience: AUDIENCE, iatSec: NOW, subId: { format: 'opaque', id: 'alice' }, events: EVENTS };
    const first = await verifySecurityEventToken(await signSecurityEventToken(options), [transmitter], OPTIONS);
    const second = await verifySecurityEventToken(await signSecurityEventToken(options), [transmitter], OPTIONS);
    expect(first).toMatchObject({ issuer: ISSUER, iat: NOW, subId: { format: 'opaque', id: 'alice' }, events: EVENTS });
    expect(first.jti).not.toBe(second.jti);
  });
});
