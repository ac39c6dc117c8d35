import { describe, expect, it } from 'vitest';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing, type SigningKeyStore, type StoredSigningKey } from './signing-keys.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const MIN = 60 * 1000;
const T0 = Date.UTC(2030, 0, 1);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function clock(start = T0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms) };
}

async function signWith(ring: ReturnType<typeof createSigningKeyRing>, nowMs: number) {
  const key = await ring.current();
  const iat = Math.floor(nowMs / 1000);
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: key.alg, kid: key.kid }).setIssuedAt(iat).setExpirationTime(iat + 300).sign(key.key);
  return { token, kid: key.kid };
}

function verifyAt(token: string, jwks: { keys: object[] }, nowMs: number) {
  return jwtVerify(token, createLocalJWKSet(jwks as never), { currentDate: new Date(nowMs) });
}

describe('createSigningKeyRing', () => {
  it('publishes one public ES256 key with an RFC 7638 kid and use sig', async () => {
    const c = clock();
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: c.now });
    const { keys } = await ring.jwks();
    expect(keys).toHaveLength(1);
    const [jwk] = keys;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwk!.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk!.x!, y: jwk!.y! }, 'sha256'));
    expect(Object.keys(jwk!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect((await ring.current()).kid).toBe(jwk!.kid);
  });

  it.each(['RS256', 'PS256', 'EdDSA', 'ES384'] as const)('never publishes private members for %s keys', async (algorithm) => {
    const store = createMemorySigningKeyStore();
    const ring = createSigningKeyRing({ store, algorithm });
    const { keys } = await ring.jwks();
    const stored = await store.load();
    // The store does hold the private key, so the whitelist is what keeps it out of the JWKS.
    expect(stored[0]!.privateJwk.d).toEqual(expect.any(String));
    for (const jwk of keys) for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    expect(JSON.stringify(keys)).not.toContain(stored[0]!.privateJwk.d);
    expect(keys[0]!.alg).toBe(algorithm);
  });

  it('signs with a non-extractable key', async () => {
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const { key } = await ring.current();
    expect(key.extractable).toBe(false);
    expect(key.type).toBe('private');
  });

  it('rotates on schedule and keeps the old key published only during the overlap', async () => {
    const c = clock();
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: c.now });
    const first = await ring.current();

    c.set(T0 + DAY - 1000);
    const old = await signWith(ring, c.now());
    expect(old.kid).toBe(first.kid);

    c.set(T0 + DAY);
    const second = await ring.current();
    expect(second.kid).not.toBe(first.kid);
    // Default overlap = 300 s token lifetime + 5 min.
    c.set(T0 + DAY + 4 * MIN);
    let jwks = await ring.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    await expect(verifyAt(old.token, jwks, c.now())).resolves.toMatchObject({ payload: { sub: 'alice' } });

    c.set(T0 + DAY + 10 * MIN);
    jwks = await ring.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([second.kid]);
    // The token itself is expired by now; check the key lookup failure at a time it would still be valid.
    await expect(verifyAt(old.token, jwks, T0 + DAY)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('prunes keys past their overlap from the store on rotation', async () => {
    const c = clock();
    const store = createMemorySigningKeyStore();
    const ring = createSigningKeyRing({ store, now: c.now, rotateEveryMs: HOUR, overlapMs: 10 * MIN });
    const kids = [(await ring.current()).kid];
    for (let i = 1; i <= 3; i++) {
      c.set(T0 + i * HOUR);
      kids.push((await ring.current()).kid);
    }
    expect(new Set(kids).size).toBe(4);
    // The last rotation left only the newest and its immediate predecessor (still in overlap).
    expect((await store.load()).map((k) => k.kid)).toEqual([kids[3], kids[2]]);
  });

  it('generates one key when many callers need a rotation at once', async () => {
    const store = createMemorySigningKeyStore();
    const ring = createSigningKeyRing({ store });
    const results = await Promise.all(Array.from({ length: 10 }, () => ring.current()));
    expect(new Set(results.map((r) => r.kid)).size).toBe(1);
    expect(await store.load()).toHaveLength(1);
  });

  it('reuses keys from the store across instances', async () => {
    const c = clock();
    const store = createMemorySigningKeyStore();
    const a = await createSigningKeyRing({ store, now: c.now }).current();
    c.advance(HOUR);
    const b = await createSigningKeyRing({ store, now: c.now }).current();
    expect(b.kid).toBe(a.kid);
  });

  it('instances sharing a store that create the first key at once all take the one saved (found with verity serve --workers)', async () => {
    const store = createMemorySigningKeyStore();
    // Every instance loads the empty ring before any saves: each makes a key, one save wins.
    let loads = 0;
    let release!: () => void;
    const allLoaded = new Promise<void>((resolve) => (release = resolve));
    const racing: SigningKeyStore = {
      load: async () => {
        const keys = await store.load();
        if (++loads === 4) release();
        if (loads <= 4) await allLoaded;
        return keys;
      },
      save: (keys, replacing) => store.save(keys, replacing),
    };
    const rings = Array.from({ length: 4 }, () => createSigningKeyRing({ store: racing }));
    const current = await Promise.all(rings.map((ring) => ring.current()));
    const stored = await store.load();
    expect(stored).toHaveLength(1);
    expect(new Set(current.map((key) => key.kid))).toEqual(new Set([stored[0]?.kid]));
    const published = await Promise.all(rings.map((ring) => ring.jwks()));
    expect(new Set(published.map((jwks) => JSON.stringify(jwks))).size).toBe(1);
  });

  it('rotate() retires the current key at once, keeping it published for the overlap', async () => {
    const c = clock();
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: c.now });
    const first = await ring.current();
    c.advance(MIN);
    const second = await ring.rotate();
    expect(second.kid).not.toBe(first.kid);
    expect((await ring.current()).kid).toBe(second.kid);
    expect((await ring.jwks()).keys.map((k) => k.kid)).toContain(first.kid);
  });

  it('ignores a stored key created in the future', async () => {
    const c = clock();
    const store = createMemorySigningKeyStore();
    const early = await createSigningKeyRing({ store, now: () => T0 + HOUR }).current();
    const ring = createSigningKeyRing({ store, now: c.now });
    const current = await ring.current();
    expect(current.kid).not.toBe(early.kid);
    expect((await ring.jwks()).keys.map((k) => k.kid)).toEqual([current.kid]);
  });

  it('surfaces store failures', async () => {
    const store: SigningKeyStore = { load: async () => [] as StoredSigningKey[], save: async () => Promise.reject(new Error('disk full')) };
    const ring = createSigningKeyRing({ store });
    await expect(ring.current()).rejects.toThrow('disk full');
  });

  it('rejects bad options at construction', () => {
    const store = createMemorySigningKeyStore();
    expect(() => createSigningKeyRing({ store, overlapMs: 1000 })).toThrow(TypeError);
    expect(() => createSigningKeyRing({ store, rotateEveryMs: 0 })).toThrow(TypeError);
    expect(() => createSigningKeyRing({ store, algorithm: 'HS256' as never })).toThrow(TypeError);
    expect(() => createSigningKeyRing({ store, rotateEvery: 5 } as never)).toThrow(/unknown/);
  });
});
