/**
 * A real, external OpenID provider for tests: `oidc-provider` (not written here) on a loopback
 * port, issuing JWT access tokens by client credentials. We generate its signing key, so tests
 * can also forge tokens "from the issuer" for the attack cases.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export const API_AUDIENCE = 'https://api.example';

export interface TestIssuer {
  issuer: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  /** A real access token from the provider for client `app` (sub = "app"), with these groups. */
  accessToken(scope?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIssuer(options: { groups?: string[] } = {}): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = 'issuer-key-1';
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'app', client_secret: 'app-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    jwks: { keys: [jwk] },
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_AUDIENCE,
        getResourceServerInfo: () => ({ scope: 'todos:read todos:write', audience: API_AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } }),
        useGrantedResource: () => true,
      },
    },
    extraTokenClaims: () => ({ groups: options.groups ?? ['editors'] }),
  });
  server.on('request', provider.callback());
  return {
    issuer,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256' },
    kid,
    async accessToken(scope = 'todos:read') {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('app:app-secret').toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: API_AUDIENCE }).toString(),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`the test issuer refused: ${response.status}`);
      return body.access_token;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
