/**
 * Device trust by certificate through the real nginx (issue 12): nginx terminates the device's
 * TLS connection, checks its client certificate against the MDM's CA (`ssl_verify_client
 * optional`), and forwards what it verified to Verity's gateway endpoint as
 * `X-Client-Certificate` ($ssl_client_escaped_cert), the config of docs/gateways.md. Verity binds
 * the device its certificate names, before the token's claim: a registered, compliant laptop is
 * let through; the same user without a certificate, or with a token naming that laptop but no
 * certificate, is not; the laptop falling out of compliance is refused at once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCert, type TestCert } from '../packages/workload/src/test-helpers.js';
import { startNginx, type RunningNginx } from './helpers/nginx.js';
import { startTestServer } from './helpers/verity.js';

const T = 'devcert';
const ISSUER = 'https://idp.devcert.example';
const AUD = 'https://app.devcert.example';
const POLICIES = `@id("trusted-device") permit(principal, action, resource) when { !context.risk.factors.contains("unknown_device") && !context.risk.factors.contains("device_noncompliant") };`;
const GOOD = { patch_level: new Date().toISOString().slice(0, 10), disk_encryption: true, screen_lock: true };

let server: Awaited<ReturnType<typeof startTestServer>>;
let nginx: RunningNginx;
let upstream: Server;
let dir: string;
let key: CryptoKey;
let laptop: TestCert;
const agents: Agent[] = [];

const userToken = (claims: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key);

/** GET /docs/1 through nginx over TLS, presenting `client` (or no certificate). */
async function get(client: TestCert | undefined, token: string): Promise<number> {
  const agent = new Agent({ connect: { rejectUnauthorized: false, ...(client === undefined ? {} : { cert: client.pem, key: client.keyPem }) } });
  agents.push(agent);
  const answer = await request(`${nginx.url.replace('http:', 'https:')}/docs/1`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
  await answer.body.dump();
  return answer.statusCode;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-devcert-'));
  const mdmRoot = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Devcert' });
  laptop = await buildCert({ issuer: mdmRoot, subject: 'CN=laptop-9, O=Devcert' });
  const serverCert = await buildCert({ subject: 'CN=localhost', dns: ['localhost'] });
  await writeFile(join(dir, 'mdm-ca.pem'), mdmRoot.pem);
  await writeFile(join(dir, 'server.pem'), serverCert.pem);
  await writeFile(join(dir, 'server.key'), serverCert.keyPem, { mode: 0o600 });

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
  const credential = (await admin.post('/admin/v1/credentials', { role: 'pep', tenant: T })).body.token as string;

  upstream = createServer((_request, response) => response.writeHead(200).end('upstream'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const verityPort = Number(new URL(server.url).port);
  const upstreamPort = (upstream.address() as AddressInfo).port;
  nginx = await startNginx({
    http: (port) => `upstream verity { server 127.0.0.1:${verityPort}; }
upstream app { server 127.0.0.1:${upstreamPort}; }
server {
  listen 127.0.0.1:${port} ssl;
  ssl_certificate ${dir}/server.pem;
  ssl_certificate_key ${dir}/server.key;
  ssl_client_certificate ${dir}/mdm-ca.pem;
  ssl_verify_client optional;
  location / {
    auth_request /_verity;
    proxy_pass http://app;
  }
  location = /_verity {
    internal;
    proxy_pass http://verity/tenants/${T}/gateway/v1/nginx;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Original-URI    $request_uri;
    proxy_set_header X-Real-IP         $remote_addr;
    proxy_set_header X-Client-Certificate $ssl_client_escaped_cert;
    proxy_set_header X-Verity-Credential "Bearer ${credential}";
  }
}`,
  });
}, 60_000);

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await nginx?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('binds the device by the certificate nginx verified, not by what the token claims', async () => {
  expect(await get(laptop, await userToken())).toBe(200);
  // No certificate: no device, whatever the token says.
  expect(await get(undefined, await userToken())).toBe(403);
  expect(await get(undefined, await userToken({ device_id: 'laptop-9' }))).toBe(403);
});

it('refuses the same laptop at once when its MDM reports it out of compliance', async () => {
  expect((await server.admin.post(`/admin/v1/tenants/${T}/devices/laptop-9/posture`, { ...GOOD, disk_encryption: false })).status).toBe(200);
  try {
    expect(await get(laptop, await userToken())).toBe(403);
  } finally {
    expect((await server.admin.post(`/admin/v1/tenants/${T}/devices/laptop-9/posture`, GOOD)).status).toBe(200);
  }
  expect(await get(laptop, await userToken())).toBe(200);
});
