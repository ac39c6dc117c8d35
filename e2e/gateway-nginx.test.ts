/**
 * The gateway tier with real processes: Debian's nginx in front of a small upstream service,
 * asking Verity before it forwards (`auth_request`), with user tokens from a real OpenID
 * provider. The upstream must see only what Verity verified, and only for allowed requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { readPolicyFolder } from '@verity/server';
import { createClient, examplePath, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';
import { startNginx, type RunningNginx } from './helpers/nginx.js';
import { createGatewayClient, startRecordingServer, type GatewayClient, type RecordingServer, type Seen } from './helpers/gateway-ends.js';

const TENANT = 'shop';
const ROUTES = ['/todos', '/todos/{todoId}', '/users/{userId}'];

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let nginx: RunningNginx;
/** The upstream service: answers with what it received. */
let upstream: RecordingServer;
/** Every request sent through nginx, each with its own request id. */
let client: GatewayClient;
let appToken: string;

/** The nginx config of docs/gateways.md, keeping the client's X-Request-ID to find each request in the audit. */
function nginxHttp(verityPort: number, upstreamPort: number) {
  return (port: number) => `
  upstream verity { server 127.0.0.1:${verityPort}; }
  upstream app { server 127.0.0.1:${upstreamPort}; }
  server {
    listen 127.0.0.1:${port};
    location / {
      auth_request /_verity;
      auth_request_set $verity_subject $upstream_http_x_verity_subject;
      auth_request_set $verity_decision $upstream_http_x_verity_decision_id;
      proxy_set_header X-Verity-Subject $verity_subject;
      proxy_set_header X-Verity-Decision-Id $verity_decision;
      proxy_set_header X-Tenant-Id "";
      proxy_pass http://app;
    }
    location = /_verity {
      internal;
      proxy_pass http://verity/tenants/${TENANT}/gateway/v1/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
    }
  }`;
}

/** A token "from the issuer" for another subject (we hold the issuer's key). */
async function tokenFor(sub: string): Promise<string> {
  return new SignJWT({ sub, scope: 'todos:read' })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .setIssuer(idp.issuer)
    .setAudience(API_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(idp.privateKey);
}

async function auditFor(requestId: string) {
  return (await server.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${requestId}`)).body.events as any[];
}

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  const admin: Client = server.admin;
  const folder = await readPolicyFolder(examplePath('gateway'));
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings: { gatewayRoutes: ROUTES, gatewayAudience: API_AUDIENCE } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: folder.files, schema: folder.schema, validationMode: folder.validationMode })).status).toBe(201);
  // The provider's client-credentials tokens have `sub: "app"`: an editor here; `viewer-1` only reads.
  const people = [
    { uid: { type: 'identity', id: 'app' }, attrs: {}, parents: [{ type: 'Role', id: 'editor' }] },
    { uid: { type: 'identity', id: 'viewer-1' }, attrs: {}, parents: [{ type: 'Role', id: 'viewer' }] },
  ];
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/entities`, { entities: [...folder.entities, ...people], mode: 'replace' })).status).toBe(200);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'identity', clientPrincipalType: 'identity' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
  upstream = await startRecordingServer();
  nginx = await startNginx({ http: nginxHttp(Number(new URL(server.url).port), upstream.port) });
  client = createGatewayClient(nginx.port, 'gw-nginx');
  appToken = await idp.accessToken('todos:read');
});

afterAll(async () => {
  await nginx?.close();
  await upstream?.close();
  await server?.close();
  await idp?.close();
});

describe('nginx auth_request in front of a service', () => {
  it('runs the real nginx', () => {
    expect(nginx.version).toMatch(/^nginx version: nginx\/\d+\.\d+\.\d+/);
  });

  it('forwards an allowed request with the verified subject and the decision id', async () => {
    const { answer, reached } = await upstream.during(() => client.send('GET', '/todos/42?expand=owner', { authorization: `Bearer ${appToken}` }));
    expect(answer.status).toBe(200);
    expect(reached).toHaveLength(1);
    const echoed = JSON.parse(answer.body) as Seen;
    expect(echoed.url).toBe('/todos/42?expand=owner');
    expect(echoed.headers['x-verity-subject']).toBe('app');
    const requestId = echoed.headers['x-request-id'] as string;
    const [event] = await auditFor(requestId);
    expect(event).toMatchObject({
      decisionId: echoed.headers['x-verity-decision-id'],
      decision: 'allow',
      tier: 'gateway',
      principal: { type: 'identity', id: 'app' },
      action: { id: 'GET' },
      resource: { type: 'route', id: '/todos/{todoId}' },
    });
  });

  it('passes the original body on once the request is allowed', async () => {
    const body = JSON.stringify({ title: 'buy milk' });
    const answer = await client.send('POST', '/todos', { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' }, body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ method: 'POST', url: '/todos', body });
  });

  it('overwrites a forged X-Verity-Subject and drops a forged x-tenant-id', async () => {
    const forged = { 'x-verity-subject': 'admin', 'x-tenant-id': 'other-tenant', 'x-verity-tier': 'trusted' };
    const { answer, reached } = await upstream.during(() => client.send('GET', '/todos', { authorization: `Bearer ${appToken}`, ...forged }));
    expect(answer.status).toBe(200);
    expect(reached).toHaveLength(1);
    expect(reached[0]?.headers['x-verity-subject']).toBe('app');
    expect(reached[0]?.headers['x-tenant-id']).toBeUndefined();
    const [event] = await auditFor(reached[0]?.headers['x-request-id'] as string);
    expect(event).toMatchObject({ tenant: TENANT, tier: 'gateway', principal: { id: 'app' } });
  });

  it('answers 403 for a denied method, and the upstream never sees the request', async () => {
    const patch = await upstream.during(() => client.send('PATCH', '/todos/42', { authorization: `Bearer ${appToken}` }, '{}'));
    expect(patch.answer.status).toBe(403);
    expect(patch.reached).toEqual([]);
    const viewer = await tokenFor('viewer-1');
    const write = await upstream.during(() => client.send('POST', '/todos', { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, '{}'));
    expect(write.answer.status).toBe(403);
    expect(write.reached).toEqual([]);
    const read = await upstream.during(() => client.send('GET', '/todos', { authorization: `Bearer ${viewer}` }));
    expect(read.answer.status).toBe(200);
    expect(read.reached[0]?.headers['x-verity-subject']).toBe('viewer-1');
  });

  it('answers 401 with WWW-Authenticate without a valid token, forged subject or not', async () => {
    for (const headers of [{}, { 'x-verity-subject': 'app' }, { authorization: 'Bearer not.a.token' }]) {
      const { answer, reached } = await upstream.during(() => client.send('GET', '/todos', headers));
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(reached).toEqual([]);
    }
  });

  it('denies paths that match no template or are not in normal form', async () => {
    for (const path of ['/admin', '/todos/42/comments', '/todos/../admin', '/todos/%2e%2e/admin', '/todos//42', '/users/a%2Fb']) {
      const { answer, reached } = await upstream.during(() => client.send('GET', path, { authorization: `Bearer ${appToken}` }));
      expect(answer.status, path).toBe(403);
      expect(reached, path).toEqual([]);
    }
  });

  it('has every decision in the tenant audit, with tier gateway', async () => {
    expect(client.sent.length).toBeGreaterThan(10);
    for (const { requestId, answer } of client.sent) {
      const expected = answer.status === 200 ? 'allow' : 'deny';
      const events = await auditFor(requestId);
      expect(events, requestId).toHaveLength(1);
      expect(events[0], requestId).toMatchObject({ decision: expected, tier: 'gateway', tenant: TENANT });
    }
    expect((await server.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body).toMatchObject({ ok: true });
    expect(await nginx.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
  });
});

describe('the same endpoint without nginx (header conventions)', () => {
  it('refuses a call that is not from a configured gateway (no X-Original-* headers)', async () => {
    const answer = await createClient(server.url, appToken).get(`/tenants/${TENANT}/gateway/v1/nginx`);
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });
});
