/**
 * Outsider attack on device certificates through the documented gateway configs
 * (docs/gateways.md §3 nginx, §5 Caddy; docs/continuous-verification.md "Or a device certificate").
 *
 * A device certificate is public: whoever has seen one TLS handshake of a device (or an MDM
 * export) has it. It proves nothing unless the PEP checked the key in its own handshake, which is
 * why a tenant with `certificate_authorities` ignores the token's device claim. At the gateway
 * endpoints Verity reads the chain from `X-Client-Certificate`, but the nginx config operators
 * copy (docs/gateways.md §3) leaves that line commented out, and nginx's auth_request subrequest
 * carries the client's own headers (as the doc itself says of X-Real-IP). Caddy's forward_auth
 * (§5) likewise passes every client header and the doc says nothing about this one. So a client
 * with no device at all, plain HTTP, no client certificate, sends
 * `X-Client-Certificate: <the compliant laptop's certificate, URL-escaped>` and is ALLOWED as
 * that laptop. It must be denied (unknown_device): a gateway that did not verify a client
 * certificate must not let the client name one.
 *
 * This test runs the real nginx with the server block taken verbatim from docs/gateways.md.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { documentedNginxConfig, startNginx, type RunningNginx } from './helpers/nginx.js';
import { buildCert, type TestCert } from '../packages/workload/src/test-helpers.js';

const T = 'acme';
const ISSUER = 'https://idp.acme.example';
const AUD = 'https://app.acme.example';
const POLICIES = `@id("trusted-device") permit(principal, action, resource) when { !context.risk.factors.contains("unknown_device") && !context.risk.factors.contains("device_noncompliant") };`;
const GOOD = { patch_level: new Date().toISOString().slice(0, 10), disk_encryption: true, screen_lock: true };
let server: Awaited<ReturnType<typeof startTestServer>>;
let nginx: RunningNginx;
let upstream: Server;
let key: CryptoKey;
let laptop: TestCert;


beforeAll(async () => {
  const mdmRoot = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Acme' });
  laptop = await buildCert({ issuer: mdmRoot, subject: 'CN=laptop-9, O=Acme' });
  server = await startTestServer();
  const admin = server.admin;
  const settings = { gatewayRoutes: ['/docs/{id}'], gatewayAudience: AUD, risk: { enabled: true, devices: { certificate_authorities: [mdmRoot.pem] } } };
  expect((await admin.post('/admin/v1/tenants', { id: T, settings })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
  expect((await admin.request('PUT', `/admin/v1/tenants/${T}/devices/laptop-9`)).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${T}/devices/laptop-9/posture`, GOOD)).status).toBe(200);
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

it("a client without the device's key cannot bind it by sending its (public) certificate in X-Client-Certificate through the documented nginx config", async () => {
  const token = await new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(key);
  const plain = await send({ authorization: `Bearer ${token}` });
  const spoofed = await send({ authorization: `Bearer ${token}`, 'x-client-certificate': encodeURIComponent(laptop.pem) });
  expect({ plain, spoofed }, 'no TLS client certificate was ever presented to nginx').toEqual({ plain: 403, spoofed: 403 });
});
