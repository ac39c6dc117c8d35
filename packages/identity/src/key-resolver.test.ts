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

  it('never echoes the remote status or body in its error, and streams a discovery document only up to its limit', async () => {
    const key = await createTestKey('ES256', 'k');
    const [header, payload, signature] = (await signToken(key, ISSUER)).split('.') as [string, string, string];
    const failing = (fetchStub: FetchFunction) =>
      Promise.resolve(createKeyResolver({ fetch: fetchStub }).keysFor(testSource(ISSUER, { kind: 'discovery' }))({ alg: 'ES256', kid: 'k' }, { protected: header, payload, signature })).then(
        () => ({ code: 'resolved', message: '' }),
        (error: { code: string; message: string }) => error,
      );
    const teapot = await failing(async () => new Response('internal-hostname.corp secret page', { status: 418 }));
    expect(teapot.code).toBe('ERR_IDENTITY_SOURCE_UNAVAILABLE');
    expect(teapot.message).not.toMatch(/418|internal-hostname/);
    // An endless body: reading stops at the limit instead of buffering it whole.
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    const huge = await failing(async () => new Response(endless, { status: 200 }));
    expect(huge).toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE', message: 'the identity source answer is too large' });
    expect(pulled).toBeLessThan(10);
  });

  it('bounds a JWKS answer whatever fetch is injected', async () => {
    const key = await createTestKey('ES256', 'k');
    const [header, payload, signature] = (await signToken(key, ISSUER)).split('.') as [string, string, string];
    const endless = new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024).fill(0x20)) });
    const keys = createKeyResolver({ fetch: async () => new Response(endless, { status: 200 }) }).keysFor(testSource(ISSUER, { kind: 'jwks', jwksUri: `${ISSUER}/jwks` }));
    await expect(keys({ alg: 'ES256', kid: 'k' }, { protected: header, payload, signature })).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
  });

  it('checks its options', () => {
    expect(() => createKeyResolver({ jwksCooldownMs: -1 })).toThrow(TypeError);
  });
});
