import { exportJWK, exportSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IdentitySource } from './types.js';
import { createTokenVerifier, type TokenVerifier } from './token-verifier.js';
import {
  base64url, createTestKey, NOW, NOW_MS, signToken, startTestIssuer, testSource, type TestIssuer, type TestKey,
} from './verify-test-helpers.js';

/** The JWT attack suite: every case asserts the exact code, and that the message never quotes the token. */
describe('token verifier attacks', () => {
  let issuerKey: TestKey;
  let attackerKey: TestKey;
  let idp: TestIssuer;
  let attacker: TestIssuer;
  let source: IdentitySource;
  let verifier: TokenVerifier;

  beforeAll(async () => {
    issuerKey = await createTestKey('RS256', 'issuer-1');
    attackerKey = await createTestKey('RS256', 'issuer-1'); // same kid as the issuer's key, on purpose
    idp = await startTestIssuer([issuerKey]);
    attacker = await startTestIssuer([attackerKey]);
    source = testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri });
  });
  afterAll(async () => {
    await idp.close();
    await attacker.close();
  });
  beforeEach(() => {
    verifier = createTokenVerifier({ now: () => NOW_MS, allowInsecureSources: true });
  });

  async function expectRejected(token: string, code: string, options: { audience?: string } = {}) {
    let caught: unknown;
    try {
      await verifier.verify(token, [source], options);
    } catch (error) {
      caught = error;
    }
    expect(caught, 'the token must be rejected').toBeDefined();
    const error = caught as { code: string; message: string; toJSON(): unknown };
    expect(error.code).toBe(code);
    expect(error.message).not.toContain(token);
    const body = JSON.stringify(error.toJSON());
    for (const part of token.split('.').filter((segment) => segment.length >= 16)) expect(body).not.toContain(part);
  }

  it('accepts the unmodified control token', async () => {
    expect((await verifier.verify(await signToken(issuerKey, idp.issuer), [source])).subject).toBe('alice');
  });

  it('rejects alg none', async () => {
    const payload = { iss: idp.issuer, sub: 'alice', aud: 'api://verity', exp: NOW + 300 };
    await expectRejected(`${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`, 'ERR_TOKEN_ALGORITHM');
    await expectRejected(`${base64url({ alg: 'none', kid: 'issuer-1' })}.${base64url(payload)}.c2ln`, 'ERR_TOKEN_ALGORITHM');
  });

  it('rejects HS256 signed with the issuer public key as the HMAC secret', async () => {
    const pem = await exportSPKI(issuerKey.publicKey);
    const jwkBytes = JSON.stringify(await exportJWK(issuerKey.publicKey));
    for (const secret of [pem, jwkBytes, JSON.stringify(issuerKey.jwk)]) {
      const token = await new SignJWT({ sub: 'alice', aud: 'api://verity', exp: NOW + 300, iss: idp.issuer })
        .setProtectedHeader({ alg: 'HS256', kid: 'issuer-1' })
        .sign(new TextEncoder().encode(secret));
      await expectRejected(token, 'ERR_TOKEN_ALGORITHM');
    }
  });

  it('rejects an algorithm the source does not list', async () => {
    const es = await createTestKey('ES256', 'issuer-1');
    const rsOnly = testSource(idp.issuer, { kind: 'inline', keys: [issuerKey.jwk] }, { algorithms: ['RS256'] });
    await expect(verifier.verify(await signToken(es, idp.issuer), [rsOnly])).rejects.toMatchObject({ code: 'ERR_TOKEN_ALGORITHM' });
  });

  it('rejects an expired token, beyond the clock tolerance only', async () => {
    await expectRejected(await signToken(issuerKey, idp.issuer, { exp: NOW - 31 }), 'ERR_TOKEN_EXPIRED');
    expect((await verifier.verify(await signToken(issuerKey, idp.issuer, { exp: NOW - 29 }), [source])).expiresAt).toBe(NOW - 29);
  });

  it('rejects nbf in the future', async () => {
    await expectRejected(await signToken(issuerKey, idp.issuer, { nbf: NOW + 120 }), 'ERR_TOKEN_NOT_YET_VALID');
  });

  it('rejects a wrong issuer', async () => {
    await expectRejected(await signToken(issuerKey, 'https://evil.example'), 'ERR_TOKEN_ISSUER');
    await expectRejected(await signToken(issuerKey, `${idp.issuer}/`), 'ERR_TOKEN_ISSUER');
  });

  it('rejects a wrong audience, and an audience the source does not accept', async () => {
    await expectRejected(await signToken(issuerKey, idp.issuer, { aud: 'api://someone-else' }), 'ERR_TOKEN_AUDIENCE');
    await expectRejected(await signToken(issuerKey, idp.issuer, { aud: ['a', 'b'] }), 'ERR_TOKEN_AUDIENCE');
    await expectRejected(await signToken(issuerKey, idp.issuer), 'ERR_TOKEN_AUDIENCE', { audience: 'api://other' });
  });

  it('rejects missing exp, sub, aud or iss', async () => {
    await expectRejected(await signToken(issuerKey, idp.issuer, { exp: undefined }), 'ERR_TOKEN_CLAIMS');
    await expectRejected(await signToken(issuerKey, idp.issuer, { sub: undefined }), 'ERR_TOKEN_CLAIMS');
    await expectRejected(await signToken(issuerKey, idp.issuer, { aud: undefined }), 'ERR_TOKEN_CLAIMS');
    await expectRejected(await signToken(issuerKey, idp.issuer, { iss: undefined }), 'ERR_TOKEN_CLAIMS');
    await expectRejected(await signToken(issuerKey, idp.issuer, { exp: 'tomorrow' }), 'ERR_TOKEN_CLAIMS');
  });

  it('rejects an unknown kid, and kids with path or SQL characters, as unknown keys', async () => {
    for (const kid of ['nope', '../../etc/passwd', "' OR 1=1 --"]) {
      await expectRejected(await signToken(issuerKey, idp.issuer, {}, { kid }), 'ERR_TOKEN_UNKNOWN_KEY');
    }
    expect(idp.requests.has('/etc/passwd')).toBe(false);
  });

  it('never fetches or uses jku, x5u, x5c or embedded jwk keys', async () => {
    const spki = (await exportSPKI(attackerKey.publicKey)).replace(/-----[^-]+-----|\s/g, '');
    const headers = [
      { jku: attacker.jwksUri },
      { x5u: `${attacker.issuer}/cert.pem` },
      { x5c: [spki] },
      { jwk: attackerKey.jwk },
      { jku: attacker.jwksUri, x5u: `${attacker.issuer}/cert.pem`, jwk: attackerKey.jwk, kid: undefined },
    ];
    for (const header of headers) {
      await expectRejected(await signToken(attackerKey, idp.issuer, {}, header), 'ERR_TOKEN_SIGNATURE');
    }
    expect(attacker.count()).toBe(0);
  });

  it('rejects an unknown critical header', async () => {
    const token = await signToken(issuerKey, idp.issuer, {}, { crit: ['exp-ext'], 'exp-ext': true }, { 'exp-ext': true });
    await expectRejected(token, 'ERR_TOKEN_HEADER');
    await expectRejected(await signToken(issuerKey, idp.issuer, {}, { crit: ['b64'], b64: true }, { b64: true }), 'ERR_TOKEN_HEADER');
  });

  it('rejects a typ other than JWT or at+jwt', async () => {
    await expectRejected(await signToken(issuerKey, idp.issuer, {}, { typ: 'dpop+jwt' }), 'ERR_TOKEN_HEADER');
    expect((await verifier.verify(await signToken(issuerKey, idp.issuer, {}, { typ: 'JWT' }), [source])).subject).toBe('alice');
  });

  it('rejects a tampered payload or signature', async () => {
    const [header, payload, signature] = (await signToken(issuerKey, idp.issuer)).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    await expectRejected(`${header}.${base64url({ ...claims, sub: 'admin' })}.${signature}`, 'ERR_TOKEN_SIGNATURE');
    const middle = Math.floor(signature.length / 2);
    const flipped = signature.slice(0, middle) + (signature[middle] === 'A' ? 'B' : 'A') + signature.slice(middle + 1);
    await expectRejected(`${header}.${payload}.${flipped}`, 'ERR_TOKEN_SIGNATURE');
  });

  it('rejects truncated and garbage tokens as malformed', async () => {
    const token = await signToken(issuerKey, idp.issuer);
    await expectRejected(token.slice(0, token.indexOf('.') + 20), 'ERR_TOKEN_MALFORMED');
    for (const garbage of ['abc', 'a.b.c', '..', `${base64url('[1]')}.${base64url('[]')}.x`]) {
      await expectRejected(garbage, 'ERR_TOKEN_MALFORMED');
    }
  });

  it('rejects an oversized token before parsing it', async () => {
    const token = await signToken(issuerKey, idp.issuer, { padding: 'x'.repeat(17 * 1024) });
    idp.requests.clear();
    await expectRejected(token, 'ERR_TOKEN_TOO_LARGE');
    await expectRejected('%'.repeat(17 * 1024), 'ERR_TOKEN_TOO_LARGE');
    expect(idp.count()).toBe(0);
  });

  it('rejects a valid token from an issuer that is not among the sources', async () => {
    const other = await startTestIssuer([attackerKey]);
    try {
      const token = await signToken(attackerKey, other.issuer);
      expect((await verifier.verify(token, [testSource(other.issuer, { kind: 'jwks', jwksUri: other.jwksUri })])).subject).toBe('alice');
      other.requests.clear();
      await expectRejected(token, 'ERR_TOKEN_ISSUER');
      expect(other.count()).toBe(0);
    } finally {
      await other.close();
    }
  });
});
