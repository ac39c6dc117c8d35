/** The HTTP side of `verity dev idp`: OIDC discovery and the JWKS of the dev issuer, on loopback only. */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { DEV_ALGORITHM } from './dev-key.js';

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/.well-known/jwks.json';

/** What the server publishes, read at each request (the issuer is known once the port is). */
export interface DevIdpDocuments {
  issuer: string;
  publicJwk: JWK;
}

export interface DevIdpServer {
  /** `http://127.0.0.1:PORT`, the port as bound (`0` picks a free one). */
  url: string;
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

/**
 * Listens on 127.0.0.1 (never another interface: nothing off this machine may fetch a
 * development issuer's keys and believe them) and answers GET for the two documents.
 * `documents()` returns undefined until the issuer is known; requests get 503 meanwhile.
 */
export async function startDevIdpServer(port: number, documents: () => DevIdpDocuments | undefined): Promise<DevIdpServer> {
  let url = '';
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, { error: 'method_not_allowed' });
    const current = documents();
    if (current === undefined) return send(response, 503, { error: 'starting' });
    if (path === DISCOVERY_PATH) {
      // OIDC Discovery 1.0 §3: the members a relying party reads to verify tokens. There is no
      // authorization endpoint: tokens come from `verity dev token`.
      return send(response, 200, {
        issuer: current.issuer,
        jwks_uri: `${url}${JWKS_PATH}`,
        id_token_signing_alg_values_supported: [DEV_ALGORITHM],
        subject_types_supported: ['public'],
      });
    }
    if (path === JWKS_PATH) return send(response, 200, { keys: [current.publicJwk] });
    return send(response, 404, { error: 'not_found' });
  });
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', failed);
      listening();
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}
