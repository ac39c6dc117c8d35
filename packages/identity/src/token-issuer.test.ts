import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { createTokenIssuer } from './token-issuer.js';

const T0 = Date.UTC(2030, 0, 1);
const ISSUER = 'https://sts.example.com/t/acme';

function setup(start = T0) {
  let t = start;
  const now = () => t;
  const keyRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now });
  const issuer = createTokenIssuer({ issuer: ISSUER, keyRing, now });
  return { issuer, keyRing, set: (ms: number) => (t = ms) };
}

describe('createTokenIssuer', () => {
  it('issues an RFC 9068 access token that verifies against the published JWKS', async () => {
    const { issuer, keyRing } = setup();
    const { token, claims } = await issuer.issue({ subject: 'alice', audience: 'https://orders.example.com', scopes: ['orders:read', 'orders:write'], clientId: 'web', act: { sub: 'svc-a' }, extraClaims: { tenant: 'acme' } });
    const iat = T0 / 1000;
    expect(claims).toEqual({
      iss: ISSUER,
      sub: 'alice',
      aud: 'https://orders.example.com',
      iat,
      nbf: iat,
      exp: iat + 300,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      scope: 'orders:read orders:write',
      client_id: 'web',
      act: { sub: 'svc-a' },
      tenant: 'acme',
    });
    const header = decodeProtectedHeader(token);
    expect(header).toEqual({ alg: 'ES256', kid: (await keyRing.current()).kid, typ: 'at+jwt' });
    const verified = await jwtVerify(token, createLocalJWKSet(await keyRing.jwks()), { issuer: ISSUER, audience: 'https://orders.example.com', typ: 'at+jwt', currentDate: new Date(T0) });
    expect(verified.payload).toEqual(claims);
  });

  it('gives every token a fresh jti and omits client_id/act when not given', async () => {
    const { issuer } = setup();
    const a = await issuer.issue({ subject: 'alice', audience: 'x', scopes: [] });
    const b = await issuer.issue({ subject: 'alice', audience: 'x', scopes: [] });
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect(a.claims).not.toHaveProperty('client_id');
    expect(a.claims).not.toHaveProperty('act');
  });

  it('honours ttlSec and caps exp at notAfter', async () => {
    const { issuer } = setup();
    const iat = T0 / 1000;
    expect((await issuer.issue({ subject: 's', audience: 'x', scopes: [], ttlSec: 60 })).claims.exp).toBe(iat + 60);
    expect((await issuer.issue({ subject: 's', audience: 'x', scopes: [], notAfter: iat + 42 })).claims.exp).toBe(iat + 42);
    expect((await issuer.issue({ subject: 's', audience: 'x', scopes: [], notAfter: iat + 9999 })).claims.exp).toBe(iat + 300);
    await expect(issuer.issue({ subject: 's', audience: 'x', scopes: [], notAfter: iat })).rejects.toMatchObject({ code: 'ERR_STS_INVALID_GRANT' });
  });

  it('refuses lifetimes beyond what the key overlap covers, and registered claims in extraClaims', async () => {
    const { issuer, keyRing } = setup();
    await expect(issuer.issue({ subject: 's', audience: 'x', scopes: [], ttlSec: 301 })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: 's', audience: 'x', scopes: [], extraClaims: { exp: 1 } })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: '', audience: 'x', scopes: [] })).rejects.toThrow(TypeError);
    expect(() => createTokenIssuer({ issuer: ISSUER, keyRing, defaultTtlSec: 3600 })).toThrow(TypeError);
    expect(() => createTokenIssuer({ issuer: 'https://sts.example.com/?t=1', keyRing })).toThrow(TypeError);
    expect(() => createTokenIssuer({ issuer: 'not a url', keyRing })).toThrow(TypeError);
    expect(() => createTokenIssuer({ issuer: ISSUER, keyRing, ttl: 1 } as never)).toThrow(/unknown/);
  });

  it('signs with the new key after rotation while old tokens still verify', async () => {
    const { issuer, keyRing, set } = setup();
    const before = await issuer.issue({ subject: 's', audience: 'x', scopes: [] });
    set(T0 + 24 * 3600 * 1000);
    const after = await issuer.issue({ subject: 's', audience: 'x', scopes: [] });
    expect(decodeProtectedHeader(after.token).kid).not.toBe(decodeProtectedHeader(before.token).kid);
    const jwks = createLocalJWKSet(await keyRing.jwks());
    await expect(jwtVerify(after.token, jwks, { currentDate: new Date(T0 + 24 * 3600 * 1000) })).resolves.toBeDefined();
    await expect(jwtVerify(before.token, jwks, { currentDate: new Date(T0) })).resolves.toBeDefined();
  });

  it('describes itself for discovery', () => {
    const { issuer } = setup();
    const metadata = issuer.discoveryMetadata('https://sts.example.com/t/acme/');
    expect(metadata).toMatchObject({
      issuer: ISSUER,
      jwks_uri: 'https://sts.example.com/t/acme/.well-known/jwks.json',
      token_endpoint: 'https://sts.example.com/t/acme/oauth2/token',
      revocation_endpoint: 'https://sts.example.com/t/acme/oauth2/revoke',
      id_token_signing_alg_values_supported: ['ES256'],
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
    expect(metadata.token_endpoint_auth_signing_alg_values_supported).not.toContain('HS256');
    expect(() => issuer.discoveryMetadata('/relative')).toThrow(TypeError);
  });
});
