import { describe, expect, it } from 'vitest';
import { createKeyResolver, type FetchFunction } from './key-resolver.js';
import { createTestKey, signToken, testSource } from './verify-test-helpers.js';

const ISSUER = 'https://idp.example.com';

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

describe('key resolver', () => {
  it('remembers a failed discovery for the cooldown, then retries', async () => {
    let clock = 0;
    const urls: string[] = [];
    const fetchStub: FetchFunction = async (url) => {
      urls.push(url);
      return json({}, 503);
    };
    const resolver = createKeyResolver({ fetch: fetchStub, now: () => clock, jwksCooldownMs: 10_000 });
    const keys = resolver.keysFor(testSource(ISSUER, { kind: 'discovery' }));
    const key = await createTestKey('ES256', 'k');
    const token = await signToken(key, ISSUER);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const call = () => keys({ alg: 'ES256', kid: 'k' }, { protected: header, payload, signature });
    await expect(call()).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
    await expect(call()).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
    expect(urls).toEqual([`${ISSUER}/.well-known/openid-configuration`]);
    clock = 10_001;
    await expect(call()).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
    expect(urls).toHaveLength(2);
  });

  it('keeps using a known jwks_uri when rediscovery fails', async () => {
    let clock = 0;
    let discoveryUp = true;
    const key = await createTestKey('ES256', 'k');
    const fetchStub: FetchFunction = async (url) => {
      if (url.endsWith('/jwks')) return json({ keys: [key.jwk] });
      return discoveryUp ? json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` }) : json({}, 500);
    };
    const resolver = createKeyResolver({ fetch: fetchStub, now: () => clock });
    const keys = resolver.keysFor(testSource(ISSUER, { kind: 'discovery' }));
    const [header, payload, signature] = (await signToken(key, ISSUER)).split('.') as [string, string, string];
    const call = () => keys({ alg: 'ES256', kid: 'k' }, { protected: header, payload, signature });
    await call();
    discoveryUp = false;
    clock = 2 * 60 * 60 * 1000;
    await expect(call()).resolves.toBeDefined();
    expect(resolver.stats()).toEqual({ discoveryFetches: 2, jwksFetches: 1 });
  });

  it('refuses a jwks_uri that is not https', async () => {
    const fetchStub: FetchFunction = async () => json({ issuer: ISSUER, jwks_uri: 'http://attacker.example/jwks' });
    const keys = createKeyResolver({ fetch: fetchStub }).keysFor(testSource(ISSUER, { kind: 'discovery' }));
    await expect(keys({ alg: 'ES256' }, { protected: 'e30', payload: 'e30', signature: '' })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE',
    });
  });

  it('checks its options', () => {
    expect(() => createKeyResolver({ jwksCooldownMs: -1 })).toThrow(TypeError);
  });
});
