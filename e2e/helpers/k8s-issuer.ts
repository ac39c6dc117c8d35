/**
 * A local stand-in for a Kubernetes API server's service-account token issuer: OIDC discovery at
 * `/.well-known/openid-configuration`, keys at `/openid/v1/jwks`, and projected service-account
 * tokens shaped like the kubelet's (RS256, `kubernetes.io` claim). Keys are generated here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export interface K8sTokenOptions {
  namespace?: string;
  serviceAccount?: string;
  pod?: string;
  audience?: string;
  /** Seconds from now (negative: already expired). */
  expiresInSec?: number;
  /** Override any claim (`sub`, `iss`, `kubernetes.io`…); `undefined` removes it. */
  claims?: Record<string, unknown>;
  /** Sign with another key (a forgery the issuer's JWKS does not hold). */
  signWith?: CryptoKey;
}

export interface K8sIssuer {
  issuer: string;
  /** A projected service-account token. */
  token(options?: K8sTokenOptions): Promise<string>;
  /** Requests the issuer answered (discovery and JWKS). */
  requests(): string[];
  close(): Promise<void>;
}

export async function startK8sIssuer(options: { now?: () => number } = {}): Promise<K8sIssuer> {
  const now = options.now ?? Date.now;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = 'k8s-sa-key-1';
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(request.url ?? '');
    const body = request.url === '/.well-known/openid-configuration' ? { issuer, jwks_uri: `${issuer}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] } : request.url === '/openid/v1/jwks' ? jwks : null;
    response.writeHead(body === null ? 404 : 200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    async token(t = {}) {
      const namespace = t.namespace ?? 'payments';
      const account = t.serviceAccount ?? 'api';
      const pod = t.pod ?? 'api-7d9f8-abcde';
      const iat = Math.floor(now() / 1000);
      const claims: Record<string, unknown> = {
        iss: issuer,
        sub: `system:serviceaccount:${namespace}:${account}`,
        aud: [t.audience ?? 'verity'],
        iat,
        nbf: iat,
        exp: iat + (t.expiresInSec ?? 3600),
        'kubernetes.io': { namespace, pod: { name: pod, uid: '5a3c0c1e-1f0e-4e7b-9d57-1f0f3c1e2a11' }, serviceaccount: { name: account, uid: '0d6f4c8e-6c1a-4f1b-8d6e-2b7f9a1c3e55' } },
        ...t.claims,
      };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(t.signWith ?? privateKey);
    },
    requests: () => [...seen],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
