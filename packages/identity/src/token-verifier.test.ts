import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenVerifier } from './token-verifier.js';
import {
  createTestKey, NOW, NOW_MS, signToken, startTestIssuer, testSource, type TestIssuer, type TestKey,
} from './verify-test-helpers.js';

const now = () => NOW_MS;

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('token verifier', () => {
  let rsa: TestKey;
  let ec: TestKey;
  let ed: TestKey;
  let idp: TestIssuer;

  beforeAll(async () => {
    [rsa, ec, ed] = await Promise.all([createTestKey('RS256', 'rsa-1'), createTestKey('ES256', 'ec-1'), createTestKey('EdDSA', 'ed-1')]);
    idp = await startTestIssuer([rsa, ec, ed]);
  });
  afterAll(() => idp.close());
  afterEach(() => {
    vi.useRealTimers();
    idp.requests.clear();
    idp.publish([rsa, ec, ed]);
  });

  describe.each(['RS256', 'ES256', 'EdDSA'] as const)('happy path %s', (alg) => {
    it('verifies a token from a JWKS URL and maps it', async () => {
      const key = { RS256: () => rsa, ES256: () => ec, EdDSA: () => ed }[alg]();
      const verifier = createTokenVerifier({ now, allowInsecureSources: true });
      const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
      const token = await signToken(key, idp.issuer, { jti: 'tok-1', client_id: 'cli', scope: 'read write', email: 'a@example.com' });
      const verified = await verifier.verify(token, [source]);
      expect(verified).toMatchObject({
        sourceId: 'corp', issuer: idp.issuer, subject: 'alice', tokenId: 'tok-1', clientId: 'cli',
        issuedAt: NOW, expiresAt: NOW + 300, scopes: ['read', 'write'], actors: [],
        principal: { uid: { type: 'User', id: 'alice' }, attrs: { email: 'a@example.com' }, parents: [] },
        context: { scopes: ['read', 'write'] },
      });
      expect(idp.count('/jwks')).toBe(1);
    });
  });

  it('finds keys through OIDC discovery and caches the discovery document', async () => {
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'discovery' });
    await verifier.verify(await signToken(rsa, idp.issuer, { sub: 'a' }), [source]);
    await verifier.verify(await signToken(ec, idp.issuer, { sub: 'b' }), [source]);
    expect(idp.count('/.well-known/openid-configuration')).toBe(1);
    expect(idp.count('/jwks')).toBe(1);
    expect(verifier.stats()).toMatchObject({ discoveryFetches: 1, jwksFetches: 1, verified: 2 });
  });

  it('refuses a discovery document naming another issuer', async () => {
    idp.discovery = { issuer: 'https://evil.example', jwks_uri: idp.jwksUri };
    try {
      const verifier = createTokenVerifier({ now, allowInsecureSources: true });
      const error = await rejection(verifier.verify(await signToken(rsa, idp.issuer), [testSource(idp.issuer, { kind: 'discovery' })]));
      expect(error.code).toBe('ERR_IDENTITY_SOURCE_UNAVAILABLE');
      expect(idp.count('/jwks')).toBe(0);
    } finally {
      idp.discovery = null;
    }
  });

  it('verifies with inline keys without any request', async () => {
    const verifier = createTokenVerifier({ now, fetch: () => Promise.reject(new Error('no network expected')) });
    const source = testSource('https://idp.example.com', { kind: 'inline', keys: [ec.jwk, ed.jwk] });
    const verified = await verifier.verify(await signToken(ed, 'https://idp.example.com'), [source]);
    expect(verified.subject).toBe('alice');
    expect(verifier.stats()).toMatchObject({ discoveryFetches: 0, jwksFetches: 0 });
  });

  it('refuses an iat later than now plus the clock tolerance, and accepts one within it', async () => {
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const source = testSource('https://idp.example.com', { kind: 'inline', keys: [ec.jwk] });
    const hourAhead = await signToken(ec, 'https://idp.example.com', { iat: NOW + 3600, exp: NOW + 7200 });
    expect((await rejection(verifier.verify(hourAhead, [source]))).code).toBe('ERR_TOKEN_NOT_YET_VALID');
    const justBeyond = await signToken(ec, 'https://idp.example.com', { iat: NOW + 31 });
    expect((await rejection(verifier.verify(justBeyond, [source]))).code).toBe('ERR_TOKEN_NOT_YET_VALID');
    const skewed = await verifier.verify(await signToken(ec, 'https://idp.example.com', { iat: NOW + 20 }), [source]);
    expect(skewed).toMatchObject({ issuedAt: NOW + 20, clockToleranceSec: 30 });
    const noTolerance = testSource('https://idp.example.com', { kind: 'inline', keys: [ec.jwk] }, { clockToleranceSec: 0 });
    expect((await rejection(verifier.verify(await signToken(ec, 'https://idp.example.com', { iat: NOW + 1 }), [noTolerance]))).code).toBe('ERR_TOKEN_NOT_YET_VALID');
  });

  it('maps id claim, groups, attributes, context, scopes and the act chain', async () => {
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri }, {
      claims: {
        principalType: 'Acme::User', idClaim: 'oid', groupsClaim: 'roles', groupType: 'Acme::Role',
        attributes: { department: 'dept', level: 'lvl' }, context: { scopes: 'scp', mfa: 'amr' },
      },
    });
    const token = await signToken(rsa, idp.issuer, {
      oid: 'u-42', roles: ['admin', 'dev', 'admin'], dept: 'eng', lvl: 3, scp: ['a', 'b'], amr: ['pwd', 'otp'],
      azp: 'web', act: { sub: 'gateway', act: { sub: 'frontend' } },
    });
    const verified = await verifier.verify(token, [source]);
    expect(verified.principal).toEqual({
      uid: { type: 'Acme::User', id: 'u-42' },
      attrs: { department: 'eng', level: 3 },
      parents: [{ type: 'Acme::Role', id: 'admin' }, { type: 'Acme::Role', id: 'dev' }],
    });
    expect(verified.parents.map((parent) => parent.uid.id)).toEqual(['admin', 'dev']);
    expect(verified.context).toEqual({ scopes: ['a', 'b'], mfa: ['pwd', 'otp'] });
    expect(verified.scopes).toEqual(['a', 'b']);
    expect(verified.clientId).toBe('web');
    expect(verified.actors).toEqual(['gateway', 'frontend']);
  });

  it('serves a verified token from the cache without refetching or reverifying, until exp', async () => {
    let clock = NOW_MS;
    const verifier = createTokenVerifier({ now: () => clock, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
    const token = await signToken(rsa, idp.issuer, { exp: NOW + 60 });
    const first = await verifier.verify(token, [source]);
    const second = await verifier.verify(token, [source]);
    expect(second).toBe(first);
    expect(Object.isFrozen(second.principal)).toBe(true);
    expect(idp.count('/jwks')).toBe(1);
    expect(verifier.stats()).toMatchObject({ verified: 1, cache: { hits: 1, entries: 1 } });

    clock = (NOW + 60) * 1000; // at exp the entry is gone, and jose still allows the 30 s tolerance
    const third = await verifier.verify(token, [source]);
    expect(third).not.toBe(first);
    expect(verifier.stats().verified).toBe(2);
    clock = (NOW + 91) * 1000;
    expect((await rejection(verifier.verify(token, [source]))).code).toBe('ERR_TOKEN_EXPIRED');
  });

  it('reuses a cached verification only for the same sources and audience', async () => {
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri }, { audiences: ['api://verity', 'api://other'] });
    const token = await signToken(rsa, idp.issuer);
    await verifier.verify(token, [source]);
    expect((await rejection(verifier.verify(token, []))).code).toBe('ERR_TOKEN_ISSUER');
    expect((await rejection(verifier.verify(token, [source], { audience: 'api://other' }))).code).toBe('ERR_TOKEN_AUDIENCE');
    const otherTenant = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri }, { tenant: 'globex' });
    expect((await verifier.verify(token, [otherTenant])).sourceId).toBe('corp');
    expect(verifier.stats()).toMatchObject({ verified: 2, rejected: 2, cache: { hits: 0, misses: 4 } });
  });

  it('purges cached verifications so the next use reverifies', async () => {
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
    const alice = await signToken(rsa, idp.issuer, { jti: 'a' });
    const bob = await signToken(rsa, idp.issuer, { sub: 'bob', jti: 'b' });
    await verifier.verify(alice, [source]);
    await verifier.verify(bob, [source]);
    expect(verifier.purge((token) => token.subject === 'alice')).toBe(1);
    await verifier.verify(alice, [source]);
    await verifier.verify(bob, [source]);
    expect(verifier.stats()).toMatchObject({ verified: 3, cache: { hits: 1 } });
  });

  it('follows key rotation at the issuer with one refetch', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
    const verifier = createTokenVerifier({ now, jwksCooldownMs: 30_000, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
    await verifier.verify(await signToken(rsa, idp.issuer, { jti: '1' }), [source]);
    const rotated = await createTestKey('RS256', 'rsa-2');
    idp.publish([rotated]);
    vi.setSystemTime(NOW_MS + 31_000); // past the cooldown that followed the first fetch
    const verified = await verifier.verify(await signToken(rotated, idp.issuer, { jti: '2' }), [source]);
    expect(verified.tokenId).toBe('2');
    await verifier.verify(await signToken(rotated, idp.issuer, { jti: '3' }), [source]);
    expect(idp.count('/jwks')).toBe(2);
  });

  it('refetches for unknown kids at most once per cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
    const verifier = createTokenVerifier({ now, jwksCooldownMs: 30_000, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
    await verifier.verify(await signToken(rsa, idp.issuer), [source]);
    const stranger = await createTestKey('RS256', 'unknown');
    for (let i = 0; i < 5; i += 1) {
      const token = await signToken(stranger, idp.issuer, { jti: `x${i}` }, { kid: `unknown-${i}` });
      expect((await rejection(verifier.verify(token, [source]))).code).toBe('ERR_TOKEN_UNKNOWN_KEY');
    }
    expect(idp.count('/jwks')).toBe(1);
    vi.setSystemTime(NOW_MS + 31_000);
    for (let i = 0; i < 5; i += 1) {
      const token = await signToken(stranger, idp.issuer, { jti: `y${i}` }, { kid: `unknown-y${i}` });
      expect((await rejection(verifier.verify(token, [source]))).code).toBe('ERR_TOKEN_UNKNOWN_KEY');
    }
    expect(idp.count('/jwks')).toBe(2);
  });

  it('honours jwksCooldownMs (0 refetches on every unknown kid)', async () => {
    const verifier = createTokenVerifier({ now, jwksCooldownMs: 0, allowInsecureSources: true });
    const source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
    await verifier.verify(await signToken(rsa, idp.issuer), [source]);
    for (let i = 0; i < 3; i += 1) {
      const token = await signToken(rsa, idp.issuer, { jti: `z${i}` }, { kid: `unknown-z${i}` });
      expect((await rejection(verifier.verify(token, [source]))).code).toBe('ERR_TOKEN_UNKNOWN_KEY');
    }
    expect(idp.count('/jwks')).toBe(4);
  });

  it('reports an unreachable JWKS as ERR_IDENTITY_SOURCE_UNAVAILABLE', async () => {
    const down = await startTestIssuer([]);
    await down.close();
    const verifier = createTokenVerifier({ now, allowInsecureSources: true });
    const token = await signToken(rsa, down.issuer);
    for (const keys of [{ kind: 'jwks', jwksUri: down.jwksUri }, { kind: 'discovery' }]) {
      const error = await rejection(verifier.verify(token, [testSource(down.issuer, keys)]));
      expect(error.code).toBe('ERR_IDENTITY_SOURCE_UNAVAILABLE');
      expect(error.message).not.toContain(token);
    }
  });

  it('uses the injected fetch', async () => {
    const seen: string[] = [];
    const verifier = createTokenVerifier({
      now,
      fetch: (url, init) => {
        seen.push(url);
        return fetch(url, init);
      },
    });
    await verifier.verify(await signToken(rsa, idp.issuer), [testSource(idp.issuer, { kind: 'discovery' })]);
    expect(seen).toEqual([`${idp.issuer}/.well-known/openid-configuration`, idp.jwksUri]);
  });
});
