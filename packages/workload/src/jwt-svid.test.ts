import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateJwtAuthority, issueJwtSvid, verifyJwtSvid, type JwtAuthority } from './jwt-svid.js';
import type { TrustBundle } from './trust-bundle.js';

type KeyLike = Parameters<SignJWT['sign']>[0];

const ID = 'spiffe://acme.internal/api';
const AUD = 'https://orders.acme.internal';
let authority: JwtAuthority;
let bundle: TrustBundle;

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
  return undefined;
}

beforeAll(async () => {
  authority = await generateJwtAuthority();
  bundle = { trustDomain: 'acme.internal', x509Authorities: [], jwtAuthorities: [authority.publicJwk], sequence: 1, refreshHintSec: 300 };
});

const t = (): number => Math.floor(Date.now() / 1000);

async function signWith(key: KeyLike, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as never).sign(key);
}

describe('JWT-SVID', () => {
  it('issues and verifies', async () => {
    expect(authority.publicJwk).toMatchObject({ kid: authority.kid, alg: 'ES256', use: 'jwt-svid', kty: 'EC', crv: 'P-256' });
    expect(authority.publicJwk.d).toBeUndefined();
    const now = Date.now();
    const { token, expiresAtMs } = await issueJwtSvid({ authority, spiffeId: ID, audience: [AUD, 'b'], ttlSec: 300, now: () => now });
    expect(expiresAtMs).toBe((Math.floor(now / 1000) + 300) * 1000);
    const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString());
    expect(header).toEqual({ alg: 'ES256', kid: authority.kid, typ: 'JWT' });
    expect(await verifyJwtSvid(token, { bundle, audience: AUD })).toEqual({ spiffeId: ID, audience: [AUD, 'b'], expiresAtMs });
  });

  it('refuses bad issue options', async () => {
    expect(await codeOf(() => issueJwtSvid({ authority, spiffeId: ID, audience: [], ttlSec: 60 }))).toBe('ERR_REQUEST_INVALID');
    expect(await codeOf(() => issueJwtSvid({ authority, spiffeId: ID, audience: [''], ttlSec: 60 }))).toBe('ERR_REQUEST_INVALID');
    expect(await codeOf(() => issueJwtSvid({ authority, spiffeId: 'https://x', audience: [AUD], ttlSec: 60 }))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(await codeOf(() => issueJwtSvid({ authority, spiffeId: ID, audience: [AUD], ttlSec: 3601 }))).toBe('TypeError');
  });

  it('refuses a wrong audience and an expired token', async () => {
    const { token } = await issueJwtSvid({ authority, spiffeId: ID, audience: [AUD], ttlSec: 60 });
    expect(await codeOf(() => verifyJwtSvid(token, { bundle, audience: 'https://other' }))).toBe('ERR_SVID_INVALID');
    expect(await codeOf(() => verifyJwtSvid(token, { bundle, audience: AUD, now: () => Date.now() + 61_000 }))).toBe('ERR_SVID_EXPIRED');
  });

  it('refuses an unknown kid, a key of another bundle, a sub of another trust domain', async () => {
    const other = await generateJwtAuthority();
    const { token } = await issueJwtSvid({ authority: other, spiffeId: ID, audience: [AUD], ttlSec: 60 });
    expect(await codeOf(() => verifyJwtSvid(token, { bundle, audience: AUD }))).toBe('ERR_SVID_UNTRUSTED');
    // the attacker's key under our kid: the signature fails
    const forged = await issueJwtSvid({ authority: { ...other, kid: authority.kid }, spiffeId: ID, audience: [AUD], ttlSec: 60 });
    expect(await codeOf(() => verifyJwtSvid(forged.token, { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
    const foreign = await issueJwtSvid({ authority, spiffeId: 'spiffe://evil.internal/api', audience: [AUD], ttlSec: 60 });
    expect(await codeOf(() => verifyJwtSvid(foreign.token, { bundle, audience: AUD }))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('refuses missing claims, a non-SPIFFE sub, a bad typ, and other algorithms', async () => {
    const key = await importJWK(authority.privateJwk as never, 'ES256');
    const h = { alg: 'ES256', kid: authority.kid };
    const ok = { sub: ID, aud: [AUD], exp: t() + 60, iat: t() };
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['no exp', h, { ...ok, exp: undefined }],
      ['no aud', h, { ...ok, aud: undefined }],
      ['no sub', h, { ...ok, sub: undefined }],
      ['sub not SPIFFE', h, { ...ok, sub: 'user@acme' }],
      ['sub trust domain id', h, { ...ok, sub: 'spiffe://acme.internal' }],
      ['typ at+jwt', { ...h, typ: 'at+jwt' }, ok],
      ['no kid', { alg: 'ES256' }, ok],
    ];
    for (const [name, header, claims] of cases) expect(await codeOf(async () => verifyJwtSvid(await signWith(key, header, claims), { bundle, audience: AUD })), name).toBe('ERR_SVID_INVALID');
    expect(await verifyJwtSvid(await signWith(key, { ...h, typ: 'JOSE' }, ok), { bundle, audience: AUD })).toMatchObject({ spiffeId: ID });
    expect(await verifyJwtSvid(await signWith(key, h, { ...ok, aud: AUD }), { bundle, audience: AUD })).toMatchObject({ audience: [AUD] });
    // HS256 with the public key as secret (algorithm confusion), none, and ES384
    const [, payload] = (await signWith(key, h, ok)).split('.') as [string, string];
    const hs = await signWith(new TextEncoder().encode(JSON.stringify(authority.publicJwk)), { alg: 'HS256', kid: authority.kid }, ok);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: authority.kid })).toString('base64url')}.${payload}.`;
    const es384 = await signWith((await generateKeyPair('ES384')).privateKey, { alg: 'ES384', kid: authority.kid }, ok);
    for (const bad of [hs, none, es384, 'garbage', 7, '']) expect(await codeOf(() => verifyJwtSvid(bad, { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
  });

  it('accepts RS256 from an RSA key of the bundle, and refuses an alg the key does not declare', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const rsaJwk = { ...(await exportJWK(publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'jwt-svid' };
    const withRsa = { ...bundle, jwtAuthorities: [...bundle.jwtAuthorities, rsaJwk] };
    const claims = { sub: ID, aud: [AUD], exp: t() + 60 };
    const token = await signWith(privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims);
    expect((await verifyJwtSvid(token, { bundle: withRsa, audience: AUD })).spiffeId).toBe(ID);
    const mismatch = await signWith(privateKey, { alg: 'RS256', kid: authority.kid }, claims);
    expect(await codeOf(() => verifyJwtSvid(mismatch, { bundle: withRsa, audience: AUD }))).toBe('ERR_SVID_INVALID');
    // the key declares PS256: an RS256 token under it is refused even though the signature is valid
    const declaredPs = { ...bundle, jwtAuthorities: [{ ...rsaJwk, alg: 'PS256' }] };
    expect(await codeOf(() => verifyJwtSvid(token, { bundle: declaredPs, audience: AUD }))).toBe('ERR_SVID_INVALID');
  });

  it('refuses EdDSA even from a key of the bundle (the JWT-SVID spec does not allow it)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const edBundle = { ...bundle, jwtAuthorities: [{ ...(await exportJWK(publicKey)), kid: 'ed-1', use: 'jwt-svid' }] };
    const token = await signWith(privateKey, { alg: 'EdDSA', kid: 'ed-1' }, { sub: ID, aud: [AUD], exp: t() + 60 });
    expect(await codeOf(() => verifyJwtSvid(token, { bundle: edBundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
  });
});
