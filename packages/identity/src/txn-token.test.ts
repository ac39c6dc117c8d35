import { describe, expect, it } from 'vitest';
import { base64url, CompactSign, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing, type SigningKeyRing } from './signing-keys.js';
import { issueTxnToken, MAX_TXN_CALL_CHAIN, txnTokenRefusalReason, verifyTxnToken, type IssueTxnTokenOptions, type VerifyTxnTokenOptions } from './txn-token.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW = T0 / 1000;
const ISSUER = 'https://pdp.example.com/tenants/acme';
const TD = 'acme.internal';
const GATEWAY = 'spiffe://acme.internal/gateway';

const ring = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0 });
const otherRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0 });

function issue(overrides: Partial<IssueTxnTokenOptions> = {}) {
  return issueTxnToken({ keyRing: ring, issuer: ISSUER, trustDomain: TD, subject: 'alice', scopes: ['orders:read'], requestingWorkload: GATEWAY, now: () => T0, ...overrides });
}

async function verify(token: unknown, overrides: Partial<VerifyTxnTokenOptions> = {}) {
  return verifyTxnToken(token, { keys: await ring.jwks(), issuer: ISSUER, trustDomain: TD, now: () => T0, ...overrides });
}

/** The refusal's reason, or 'verified'; every refusal must be ERR_TXN_TOKEN_INVALID. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'verified',
    (error: { code?: string }) => {
      expect(error.code).toBe('ERR_TXN_TOKEN_INVALID');
      return txnTokenRefusalReason(error);
    },
  );
}

/** A token signed by the ring's current key with any header and payload. */
async function signed(payload: JWTPayload, header: Record<string, unknown> = {}, keyRing: SigningKeyRing = ring): Promise<string> {
  const key = await keyRing.current();
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'txntoken+jwt', ...header }).sign(key.key);
}

const claims = (extra: Record<string, unknown> = {}): JWTPayload => ({ iss: ISSUER, iat: NOW, exp: NOW + 300, aud: TD, txn: 'tx-1', sub: 'alice', scope: 'orders:read', req_wl: GATEWAY, ...extra });

describe('issueTxnToken / verifyTxnToken', () => {
  it('issues an ES256 txntoken+jwt that verifies to its claims', async () => {
    const { token, claims: issued } = await issue({ tctx: { decision_id: 'd-1', policy_version: 3 }, rctx: { req_ip: '203.0.113.9' } });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'txntoken+jwt', kid: expect.any(String) });
    expect(issued).toMatchObject({ iss: ISSUER, aud: TD, sub: 'alice', scope: 'orders:read', req_wl: GATEWAY, iat: NOW, exp: NOW + 300 });
    expect(issued.txn).toMatch(/^[0-9a-f-]{36}$/);
    expect(await verify(token)).toEqual({
      txn: issued.txn, sub: 'alice', scope: ['orders:read'], reqWl: GATEWAY, callChain: [GATEWAY],
      tctx: { decision_id: 'd-1', policy_version: 3 }, rctx: { req_ip: '203.0.113.9' }, iat: NOW, exp: NOW + 300,
    });
  });

  it('never outlives notAfter, and refuses to mint a token born expired', async () => {
    expect((await issue({ notAfter: NOW + 60 })).claims.exp).toBe(NOW + 60);
    await expect(issue({ notAfter: NOW })).rejects.toMatchObject({ code: 'ERR_STS_INVALID_GRANT' });
  });

  it('gives every transaction its own txn', async () => {
    const [a, b] = await Promise.all([issue(), issue()]);
    expect(a.claims.txn).not.toBe(b.claims.txn);
  });

  it('is misuse to issue past the ring, without scopes, or past the call chain limit', async () => {
    await expect(issue({ ttlSec: 3600 })).rejects.toThrow(TypeError);
    await expect(issue({ scopes: [] })).rejects.toThrow(TypeError);
    await expect(issue({ previousWorkloads: Array.from({ length: MAX_TXN_CALL_CHAIN }, (_, i) => `spiffe://acme.internal/w${i}`) })).rejects.toThrow(TypeError);
    const edRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0, algorithm: 'EdDSA' });
    await expect(issue({ keyRing: edRing })).rejects.toThrow(TypeError);
  });

  it('accepts RS256 from an RS256 ring', async () => {
    const rsRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0, algorithm: 'RS256' });
    const { token } = await issue({ keyRing: rsRing });
    expect((await verify(token, { keys: await rsRing.jwks() })).sub).toBe('alice');
  });

  it('refuses another type: an access token, a plain JWT, no typ at all', async () => {
    const key = await ring.current();
    for (const typ of ['at+jwt', 'JWT', 'txn_token']) expect(await refusal(verify(await signed(claims(), { typ })))).toBe('ERR_TOKEN_HEADER');
    const untyped = await new SignJWT(claims()).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.key);
    expect(await refusal(verify(untyped))).toBe('ERR_TOKEN_HEADER');
    expect(await refusal(verify(await signed(claims(), { typ: 'application/txntoken+jwt' })))).toBe('verified');
    // A critical extension Verity does not understand (RFC 7515 §4.1.11).
    const critical = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims())))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'txntoken+jwt', crit: ['x-ext'], 'x-ext': 1 })
      .sign(key.key, { crit: { 'x-ext': true } });
    expect(await refusal(verify(critical))).toBe('ERR_TOKEN_HEADER');
  });

  it('refuses another trust domain, several audiences, another issuer', async () => {
    const { token } = await issue();
    expect(await refusal(verify(token, { trustDomain: 'other.internal' }))).toBe('ERR_TOKEN_AUDIENCE');
    expect(await refusal(verify(await signed(claims({ aud: [TD, 'other.internal'] }))))).toBe('ERR_TOKEN_AUDIENCE');
    expect(await refusal(verify(await signed(claims({ aud: [TD] }))))).toBe('verified');
    expect(await refusal(verify(token, { issuer: 'https://pdp.example.com/tenants/other' }))).toBe('ERR_TOKEN_ISSUER');
  });

  it('refuses an expired token (past the tolerance) and one issued in the future', async () => {
    const { token } = await issue();
    expect(await refusal(verify(token, { now: () => T0 + 329_000 }))).toBe('verified');
    expect(await refusal(verify(token, { now: () => T0 + 331_000 }))).toBe('ERR_TOKEN_EXPIRED');
    expect(await refusal(verify(token, { now: () => T0 + 301_000, clockToleranceSec: 0 }))).toBe('ERR_TOKEN_EXPIRED');
    expect(await refusal(verify(await signed(claims({ iat: NOW + 600, exp: NOW + 900 }))))).toBe('ERR_TOKEN_NOT_YET_VALID');
  });

  it('refuses a token signed by another key', async () => {
    expect(await refusal(verify(await signed(claims(), {}, otherRing)))).toBe('ERR_TOKEN_UNKNOWN_KEY');
    // The same kid, another key: the signature does not verify.
    const forged = await signed(claims(), { kid: (await ring.current()).kid }, otherRing);
    expect(await refusal(verify(forged))).toBe('ERR_TOKEN_SIGNATURE');
  });

  it('refuses alg none and HS256 before any key is looked up', async () => {
    const encode = (value: object) => base64url.encode(JSON.stringify(value));
    const none = `${encode({ alg: 'none', typ: 'txntoken+jwt' })}.${encode(claims())}.`;
    expect(await refusal(verify(none))).toBe('ERR_TOKEN_ALGORITHM');
    // HS256 keyed with the public key's bytes: the classic algorithm-confusion forgery.
    const publicKey = new TextEncoder().encode(JSON.stringify((await ring.jwks()).keys[0]));
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'txntoken+jwt' }).sign(publicKey);
    expect(await refusal(verify(hs))).toBe('ERR_TOKEN_ALGORITHM');
  });

  it('refuses missing or mistyped claims', async () => {
    for (const claim of ['txn', 'sub', 'scope', 'req_wl', 'iat', 'exp']) {
      expect(await refusal(verify(await signed(claims({ [claim]: undefined }))))).toBe('ERR_TOKEN_CLAIMS');
    }
    for (const bad of [{ txn: 7 }, { sub: '' }, { scope: 'a  b' }, { req_wl: ['x'] }, { tctx: [1] }, { rctx: 'x' }, { req_wl_chain: 'x' }, { req_wl_chain: [] }]) {
      expect(await refusal(verify(await signed(claims(bad))))).toBe('ERR_TOKEN_CLAIMS');
    }
  });

  it('refuses what is not a token, without echoing it', async () => {
    for (const value of [undefined, '', 42]) expect(await refusal(verify(value))).toBe('ERR_TOKEN_MISSING');
    expect(await refusal(verify('x'.repeat(9000)))).toBe('ERR_TOKEN_TOO_LARGE');
    const error = await verify('not.a-secret-token.here').catch((e: Error) => e);
    expect(txnTokenRefusalReason(error)).toBe('ERR_TOKEN_MALFORMED');
    expect((error as Error).message).not.toContain('a-secret-token');
  });

  it('reports the call chain of a replaced token, oldest first', async () => {
    const { token } = await issue({ requestingWorkload: 'spiffe://acme.internal/orders', previousWorkloads: [GATEWAY] });
    expect((await verify(token)).callChain).toEqual([GATEWAY, 'spiffe://acme.internal/orders']);
  });
});
