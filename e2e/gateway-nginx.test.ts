/**
 * The gateway tier with real processes: Debian's nginx in front of a small upstream service,
 * asking Verity before it forwards (`auth_request`), with user tokens from a real OpenID
 * provider. The upstream must see only what Verity verified, and only for allowed requests.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { readPolicyFolder } from '@verity/server';
import { createClient, examplePath, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';
import { startNginx, type RunningNginx } from './helpers/nginx.js';

const TENANT = 'shop';
const ROUTES = ['/todos', '/todos/{todoId}', '/users/{userId}'];

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let nginx: RunningNginx;
let upstream: Server;
const seen: Seen[] = [];
/** Every request sent through nginx, by request id, with the decision we expect for it. */
const sent = new Map<string, 'allow' | 'deny'>();
let appToken: string;

/** The upstream service: answers with what it received. */
function startUpstream(): Promise<Server> {
  const service = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(entry);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entry));
    });
  });
  return new Promise((resolve) => service.listen(0, '127.0.0.1', () => resolve(service)));
}

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

/** One request through nginx, the path sent byte for byte (fetch would normalise `..`). */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const requestId = `gw-nginx-${sent.size}-${Date.now()}`;
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: nginx.port, method, path, headers: { 'x-request-id': requestId, ...headers } }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        sent.set(requestId, response.statusCode === 200 ? 'allow' : 'deny');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
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

/** Run `action`, and report whether the upstream was reached meanwhile. */
async function reachedUpstream(action: () => Promise<Answer>): Promise<{ answer: Answer; reached: Seen[] }> {
  const before = seen.length;
  const answer = await action();
  return { answer, reached: seen.slice(before) };
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
  upstream = await startUpstream();
  const verityPort = Number(new URL(server.url).port);
  nginx = await startNginx({ http: nginxHttp(verityPort, (upstream.address() as AddressInfo).port) });
  appToken = await idp.accessToken('todos:read');
});

afterAll(async () => {
  await nginx?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await server?.close();
  await idp?.close();
});

describe('nginx auth_request in front of a service', () => {
  it('runs the real nginx', () => {
    expect(nginx.version).toMatch(/^nginx version: nginx\/\d+\.\d+\.\d+/);
  });

  it('forwards an allowed request with the verified subject and the decision id', async () => {
    const { answer, reached } = await reachedUpstream(() => send('GET', '/todos/42?expand=owner', { authorization: `Bearer ${appToken}` }));
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
    const answer = await send('POST', '/todos', { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' }, body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ method: 'POST', url: '/todos', body });
  });

  it('overwrites a forged X-Verity-Subject and drops a forged x-tenant-id', async () => {
    const forged = { 'x-verity-subject': 'admin', 'x-tenant-id': 'other-tenant', 'x-verity-tier': 'trusted' };
    const { answer, reached } = await reachedUpstream(() => send('GET', '/todos', { authorization: `Bearer ${appToken}`, ...forged }));
    expect(answer.status).toBe(200);
    expect(reached).toHaveLength(1);
    expect(reached[0]?.headers['x-verity-subject']).toBe('app');
    expect(reached[0]?.headers['x-tenant-id']).toBeUndefined();
    const [event] = await auditFor(reached[0]?.headers['x-request-id'] as string);
    expect(event).toMatchObject({ tenant: TENANT, tier: 'gateway', principal: { id: 'app' } });
  });

  it('answers 403 for a denied method, and the upstream never sees the request', async () => {
    const patch = await reachedUpstream(() => send('PATCH', '/todos/42', { authorization: `Bearer ${appToken}` }, '{}'));
    expect(patch.answer.status).toBe(403);
    expect(patch.reached).toEqual([]);
    const viewer = await tokenFor('viewer-1');
    const write = await reachedUpstream(() => send('POST', '/todos', { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, '{}'));
    expect(write.answer.status).toBe(403);
    expect(write.reached).toEqual([]);
    const read = await reachedUpstream(() => send('GET', '/todos', { authorization: `Bearer ${viewer}` }));
    expect(read.answer.status).toBe(200);
    expect(read.reached[0]?.headers['x-verity-subject']).toBe('viewer-1');
  });

  it('answers 401 with WWW-Authenticate without a valid token, forged subject or not', async () => {
    for (const headers of [{}, { 'x-verity-subject': 'app' }, { authorization: 'Bearer not.a.token' }]) {
      const { answer, reached } = await reachedUpstream(() => send('GET', '/todos', headers));
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(reached).toEqual([]);
    }
  });

  it('denies paths that match no template or are not in normal form', async () => {
    for (const path of ['/admin', '/todos/42/comments', '/todos/../admin', '/todos/%2e%2e/admin', '/todos//42', '/users/a%2Fb']) {
      const { answer, reached } = await reachedUpstream(() => send('GET', path, { authorization: `Bearer ${appToken}` }));
      expect(answer.status, path).toBe(403);
      expect(reached, path).toEqual([]);
    }
  });

  it('has every decision in the tenant audit, with tier gateway', async () => {
    expect(sent.size).toBeGreaterThan(10);
    for (const [requestId, expected] of sent) {
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
