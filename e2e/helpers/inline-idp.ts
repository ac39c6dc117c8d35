/**
 * A test identity provider with one ES256 key (kid `k1`), trusted through an inline JWKS: the
 * identity source body that registers it, and user tokens it signs (subject `alice`, issued
 * now, valid 5 minutes, `aud` the given audience). For the e2e tests that need a verified user
 * token and nothing of OIDC discovery (that is `oidc-issuer.ts`).
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export interface InlineIdp {
  /** The body of `PUT /admin/v1/tenants/T/identity-sources/ID` trusting this provider, with `claims` (default `{principalType: 'User'}`). */
  source(claims?: Record<string, unknown>): Record<string, unknown>;
  /** A user token with `claims` added (e.g. `acr`, `auth_time`; `sub` defaults to `alice`). */
  token(claims?: Record<string, unknown>): Promise<string>;
}

export async function createInlineIdp(options: { issuer: string; audience: string }): Promise<InlineIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  return {
    source: (claims = { principalType: 'User' }) => ({ issuer: options.issuer, keys: { kind: 'inline', keys: [jwk] }, audiences: [options.audience], claims }),
    token: (claims = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: 'alice', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(options.issuer).setAudience(options.audience).setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
    },
  };
}
