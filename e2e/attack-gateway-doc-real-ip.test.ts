/**
 * From an outsider's attack (issue 12): client-IP spoofing through the documented gateway config. docs/continuous-verification.md
 * says the gateway endpoints read `X-Real-IP` and "the gateway must set the header itself,
 * replacing a client's". But the nginx config of docs/gateways.md (§3, the one operators copy)
 * does not set it in `location = /_verity`, and nginx's auth_request subrequest passes the
 * client's own request headers to Verity. So a client on a threat-listed address (here loopback,
 * 127.0.0.0/8 listed) sends `X-Real-IP: 192.0.2.1` and is ALLOWED; without the header it is
 * not measured at all. (Caddy's forward_auth in §5 likewise passes the client's headers and sets
 * no X-Real-IP.) This test runs the real nginx with the config taken from docs/gateways.md.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { documentedNginxConfig, startNginx, type RunningNginx } from './helpers/nginx.js';

const T = 'acme';
const ISSUER = 'https://idp.acme.example';
const AUD = 'https://app.acme.example';
const POLICIES = `@id("clean-ip") permit(principal, action, resource) when { !context.risk.factors.contains("known_malicious_ip") };`;
let server: Awaited<ReturnType<typeof startTestServer>>;
let nginx: RunningNginx;
let upstream: Server;
let key: CryptoKey;


beforeAll(async () => {
  server = await startTestServer();
  const admin = server.admin;
  expect((await admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true }, gatewayRoutes: ['/docs/{id}'], gatewayAudience: AUD } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  // The client connects from loopback: that range is on the tenant's threat list.
  expect((await admin.request('PUT', `/admin/v1/tenants/${T}/threat-lists/feed`, { entries: ['127.0.0.0/8', '::1', '203.0.113.0/24'] })).status).toBe(200);
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
  const gatewayCredential = (await admin.post('/admin/v1/credentials', { role: 'pep', tenant: T })).body.token as string;
  upstream = createServer((_request, response) => response.writeHead(200).end('upstream'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  nginx = await startNginx({ http: await documentedNginxConfig(Number(new URL(server.url).port), (upstream.address() as AddressInfo).port, gatewayCredential) });
}, 60_000);

afterAll(async () => {
  await nginx?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await server?.close();
});

function send(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: nginx.port, method: 'GET', path: '/docs/1', headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

it('a client on a listed address cannot choose its own X-Real-IP through the documented nginx config', async () => {
  const token = await new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(key);
  const spoofed = await send({ authorization: `Bearer ${token}`, 'x-real-ip': '192.0.2.1' });
  const plain = await send({ authorization: `Bearer ${token}` });
  // Proof that the client's header is what Verity reads: a client-sent listed address is denied.
  const clientSentListed = await send({ authorization: `Bearer ${token}`, 'x-real-ip': '203.0.113.5' });
  expect({ spoofed, plain, clientSentListed }, 'the client (127.0.0.1) is on the threat list').toEqual({ spoofed: 403, plain: 403, clientSentListed: 403 });
});
