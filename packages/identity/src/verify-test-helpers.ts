/** Test helpers for token verification: a real HTTP issuer on 127.0.0.1 and key/token factories. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { parseIdentitySource } from './identity-source.js';
import type { IdentitySource } from './types.js';

/** Frozen test time, in milliseconds, and the same in seconds. */
export const NOW_MS = 1_700_000_000_000;
export const NOW = NOW_MS / 1000;

/** A key pair with its public JWK (kid and alg set). */
export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function createTestKey(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** An issuer served over real HTTP: discovery at /.well-known/openid-configuration, keys at /jwks. */
export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  /** Requests received, by path. */
  requests: Map<string, number>;
  count(path?: string): number;
  /** Replace the published keys (rotation). */
  publish(keys: TestKey[]): void;
  /** Override the discovery document (e.g. a different issuer). */
  discovery: Record<string, unknown> | null;
  close(): Promise<void>;
}

export async function startTestIssuer(keys: TestKey[]): Promise<TestIssuer> {
  let published = keys.map((key) => key.jwk);
  const requests = new Map<string, number>();
  const state = { discovery: null as Record<string, unknown> | null };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const send = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/jwks') return send({ keys: published });
    if (path === '/.well-known/openid-configuration') return send(state.discovery ?? { issuer, jwks_uri: `${issuer}/jwks` });
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    requests,
    count: (path) => (path === undefined ? [...requests.values()].reduce((a, b) => a + b, 0) : (requests.get(path) ?? 0)),
    publish(next) {
      published = next.map((key) => key.jwk);
    },
    get discovery() {
      return state.discovery;
    },
    set discovery(value) {
      state.discovery = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A source for `issuer` with the given key source and the audience `api://verity`. */
export function testSource(issuer: string, keys: unknown, extra: Record<string, unknown> = {}): IdentitySource {
  return parseIdentitySource({
    id: 'corp',
    tenant: 'acme',
    issuer,
    keys,
    audiences: ['api://verity'],
    claims: { principalType: 'User', groupsClaim: 'groups', attributes: { email: 'email' }, context: { scopes: 'scope' } },
    ...extra,
  });
}

/** Sign a token valid at {@link NOW} unless claims override; `undefined` claim values are removed. */
export async function signToken(
  key: TestKey,
  issuer: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  crit?: Record<string, boolean>,
): Promise<string> {
  const payload: JWTPayload = { iss: issuer, sub: 'alice', aud: 'api://verity', iat: NOW, exp: NOW + 300, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header } as JWTHeaderParameters);
  return jwt.sign(key.privateKey, crit === undefined ? undefined : { crit });
}

export function base64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}
