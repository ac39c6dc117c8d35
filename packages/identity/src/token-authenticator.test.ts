import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRevocationList } from './revocation-list.js';
import { createTokenAuthenticator } from './token-authenticator.js';
import { createTokenVerifier } from './token-verifier.js';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { issueTxnToken, txnTokenRefusalReason } from './txn-token.js';
import { createTestKey, NOW, NOW_MS, signToken, startTestIssuer, testSource, type TestIssuer, type TestKey } from './verify-test-helpers.js';

const now = () => NOW_MS;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: { code: string }) => error.code,
  );
}

describe('token authenticator', () => {
  let key: TestKey;
  let idp: TestIssuer;
  beforeAll(async () => {
    key = await createTestKey('ES256', 'ec-1');
    idp = await startTestIssuer([key]);
  });
  afterAll(() => idp.close());

  it('verifies, then refuses a token revoked after it was verified and cached', async () => {
    const revocations = createRevocationList({ now });
    const tokens = createTokenAuthenticator({ verifier: createTokenVerifier({ now, allowInsecureSources: true }), revocations });
    const sources = [testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri })];
    const token = await signToken(key, idp.issuer, { jti: 'tok-1' });
    expect((await tokens.authenticate(token, { tenant: 'acme', sources })).principal.uid).toEqual({ type: 'User', id: 'alice' });
    // Another tenant's revocation does not touch it; this tenant's does, though the verification is cached.
    revocations.add({ kind: 'subject', tenant: 'globex', subject: 'alice', issuedBefore: NOW });
    expect(await codeOf(tokens.authenticate(token, { tenant: 'acme', sources }))).toBe('resolved');
    revocations.add({ kind: 'token', tenant: 'acme', tokenId: 'tok-1', expiresAt: NOW + 300 });
    expect(await codeOf(tokens.authenticate(token, { tenant: 'acme', sources }))).toBe('ERR_TOKEN_REVOKED');
  });

  it('revokes a subject token minted before the revocation by an issuer whose clock runs ahead', async () => {
    const revocations = createRevocationList({ now });
    const tokens = createTokenAuthenticator({ verifier: createTokenVerifier({ now, allowInsecureSources: true }), revocations });
    const sources = [testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri })];
    const skewed = await signToken(key, idp.issuer, { iat: NOW + 20 });
    expect(await codeOf(tokens.authenticate(skewed, { tenant: 'acme', sources }))).toBe('resolved');
    revocations.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    expect(await codeOf(tokens.authenticate(skewed, { tenant: 'acme', sources }))).toBe('ERR_TOKEN_REVOKED');
  });

  it('matches a subject revocation against the principal id the source maps, not the raw sub', async () => {
    const revocations = createRevocationList({ now });
    const tokens = createTokenAuthenticator({ verifier: createTokenVerifier({ now, allowInsecureSources: true }), revocations });
    const claims = { principalType: 'User', idClaim: 'email' };
    const sources = [testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri }, { claims })];
    const token = await signToken(key, idp.issuer, { sub: 'u-123', email: 'alice@example.com', iat: NOW - 5 });
    expect((await tokens.authenticate(token, { tenant: 'acme', sources })).principal.uid.id).toBe('alice@example.com');
    revocations.add({ kind: 'subject', tenant: 'acme', subject: 'u-123', issuedBefore: NOW });
    expect(await codeOf(tokens.authenticate(token, { tenant: 'acme', sources }))).toBe('resolved');
    revocations.add({ kind: 'subject', tenant: 'acme', subject: 'alice@example.com', issuedBefore: NOW });
    expect(await codeOf(tokens.authenticate(token, { tenant: 'acme', sources }))).toBe('ERR_TOKEN_REVOKED');
  });

  it('is ERR_TOKEN_MISSING without a token, and passes on the verifier refusals', async () => {
    const tokens = createTokenAuthenticator({ verifier: createTokenVerifier({ now, allowInsecureSources: true }), revocations: createRevocationList({ now }) });
    const sources = [testSource(idp.issuer, { kind: 'jwks', jwksUri: idp.jwksUri })];
    for (const missing of [undefined, '', 42, null]) expect(await codeOf(tokens.authenticate(missing, { tenant: 'acme', sources }))).toBe('ERR_TOKEN_MISSING');
    expect(await codeOf(tokens.authenticate('not.a.jwt', { tenant: 'acme', sources }))).toBe('ERR_TOKEN_MALFORMED');
    const token = await signToken(key, idp.issuer, { aud: 'api://other' });
    expect(await codeOf(tokens.authenticate(token, { tenant: 'acme', sources, audience: 'api://verity' }))).toBe('ERR_TOKEN_AUDIENCE');
  });

  it('refuses a Txn-Token whose subject was revoked after it was issued, in its tenant only', async () => {
    const revocations = createRevocationList({ now });
    const tokens = createTokenAuthenticator({ verifier: createTokenVerifier({ now }), revocations });
    const keyRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now });
    const issuer = 'https://pdp.example.com/tenants/acme';
    const { token } = await issueTxnToken({ keyRing, issuer, trustDomain: 'acme.internal', subject: 'alice', scopes: ['read'], requestingWorkload: 'spiffe://acme.internal/gw', now: () => NOW_MS - 60_000 });
    const options = { tenant: 'acme', keys: await keyRing.jwks(), issuer, trustDomain: 'acme.internal', now };
    expect((await tokens.authenticateTxnToken(token, options)).sub).toBe('alice');
    revocations.add({ kind: 'subject', tenant: 'globex', subject: 'alice', issuedBefore: NOW });
    expect((await tokens.authenticateTxnToken(token, options)).sub).toBe('alice');
    revocations.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    const refused = await tokens.authenticateTxnToken(token, options).catch((error: { code: string }) => error);
    expect(refused).toMatchObject({ code: 'ERR_TXN_TOKEN_INVALID' });
    expect(txnTokenRefusalReason(refused)).toBe('ERR_TOKEN_REVOKED');
  });
});
