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
import { documentedNginxConfig, startNginx, type RunningNginx } from './helpers/nginx.js';
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

/**
 * The nginx config docs/gateways.md §3 gives operators (documentedNginxConfig), for this test's
 * tenant, except that it keeps the client's X-Request-ID, by which each test finds its request
 * in the audit.
 */
async function nginxHttp(verityPort: number, upstreamPort: number, credential: string) {
  const documented = await documentedNginxConfig(verityPort, upstreamPort, credential);
  return (port: number) => {
    const config = documented(port);
    const kept = config.replaceAll(/proxy_set_header X-Request-ID +\$request_id;/g, 'proxy_set_header X-Request-ID $http_x_request_id;').replace('/tenants/acme/', `/tenants/${TENANT}/`);
    if (/\$request_id;/.test(kept) || !kept.includes(`/tenants/${TENANT}/`)) throw new Error('docs/gateways.md §3 no longer sets X-Request-ID $request_id or names tenant acme: update this test');
    return kept;
  };
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
  const pep = await admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT });
  nginx = await startNginx({ http: await nginxHttp(Number(new URL(server.url).port), upstream.port, pep.body.token) });
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

  it('overwrites or drops every header the upstream trusts from the gateway when a client forges it', async () => {
    const forged = {
      'x-verity-subject': 'admin',
      'x-verity-decision-id': 'forged-decision',
      'x-verity-policy-version': '999',
      'txn-token': 'forged.txn.token',
      'x-client-certificate': 'forged-certificate',
      'x-verity-credential': 'Bearer vrt_forged',
      'x-tenant-id': 'other-tenant',
      'x-verity-tier': 'trusted',
    };
    const { answer, reached } = await upstream.during(() => client.send('GET', '/todos', { authorization: `Bearer ${appToken}`, ...forged }));
    expect(answer.status).toBe(200);
    expect(reached).toHaveLength(1);
    const headers = reached[0]!.headers;
    expect(headers['x-verity-subject']).toBe('app');
    const [event] = await auditFor(headers['x-request-id'] as string);
    expect(event).toMatchObject({ tenant: TENANT, tier: 'gateway', principal: { id: 'app' } });
    expect(headers['x-verity-decision-id']).toBe(event.decisionId);
    expect(headers['x-verity-policy-version']).toBe(String(event.policyVersion));
    for (const name of ['txn-token', 'x-client-certificate', 'x-verity-credential', 'x-tenant-id']) expect(headers[name], name).toBeUndefined();
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
