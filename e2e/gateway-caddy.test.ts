/**
 * The gateway tier with real processes: Debian's caddy in front of a small upstream service,
 * asking Verity before it forwards (`forward_auth`), with the Caddyfile of docs/gateways.md §5
 * as written (only hosts and ports replaced) and user tokens from a real OpenID provider. A tap
 * between caddy and Verity shows what caddy sends Verity; the upstream shows what it forwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicyFolder } from '@verity/server';
import { examplePath, startTestServer } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';
import { documentedCaddySite, startCaddy, type RunningCaddy } from './helpers/caddy.js';
import { createGatewayClient, startRecordingServer, type GatewayClient, type RecordingServer } from './helpers/gateway-ends.js';
import { freePort } from './helpers/local-program.js';

/** The tenant the documented `uri` names. */
const TENANT = 'acme';
const ROUTES = ['/todos', '/todos/{todoId}', '/users/{userId}'];
/** The template each path sent here matches; any other path matches none. */
const ROUTE_OF: Record<string, string> = { '/todos': '/todos', '/todos/42': '/todos/{todoId}', '/todos/42?expand=owner': '/todos/{todoId}' };

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let caddy: RunningCaddy;
/** The upstream service: answers with what it received. */
let upstream: RecordingServer;
/** Between caddy and Verity: what caddy asks Verity. */
let tap: RecordingServer;
/** Through the documented site, with Verity behind it. */
let client: GatewayClient;
/** Through the same documented site, with nothing listening where Verity should be. */
let verityDown: GatewayClient;
let gatewayCredential: string;
let appToken: string;

async function auditFor(requestId: string) {
  return (await server.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${requestId}`)).body.events as any[];
}

beforeAll(async () => {
  idp = await startTestIssuer();
  // Decisions are not open: caddy authenticates itself with the documented X-Verity-Credential.
  server = await startTestServer();
  const admin = server.admin;
  const folder = await readPolicyFolder(examplePath('gateway'));
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings: { gatewayRoutes: ROUTES, gatewayAudience: API_AUDIENCE } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: folder.files, schema: folder.schema, validationMode: folder.validationMode })).status).toBe(201);
  // The provider's client-credentials tokens have `sub: "app"`: an editor (may GET and POST, never PATCH).
  const app = { uid: { type: 'identity', id: 'app' }, attrs: {}, parents: [{ type: 'Role', id: 'editor' }] };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/entities`, { entities: [...folder.entities, app], mode: 'replace' })).status).toBe(200);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'identity', clientPrincipalType: 'identity' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
  gatewayCredential = (await admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT })).body.token as string;
  upstream = await startRecordingServer();
  tap = await startRecordingServer({ relayTo: Number(new URL(server.url).port) });
  const closedPort = await freePort();
  caddy = await startCaddy({
    sites: [await documentedCaddySite({ verityPort: tap.port, upstreamPort: upstream.port }), await documentedCaddySite({ verityPort: closedPort, upstreamPort: upstream.port })],
    env: { VERITY_GATEWAY_CREDENTIAL: gatewayCredential },
  });
  client = createGatewayClient(caddy.ports[0] ?? 0, 'gw-caddy');
  verityDown = createGatewayClient(caddy.ports[1] ?? 0, 'gw-caddy-down');
  appToken = await idp.accessToken('todos:read');
});

afterAll(async () => {
  await caddy?.close();
  await upstream?.close();
  await tap?.close();
  await server?.close();
  await idp?.close();
});

describe('caddy forward_auth in front of a service (the Caddyfile of docs/gateways.md)', () => {
  it('runs the real caddy', () => {
    expect(caddy.version).toMatch(/^v?2\.\d+\.\d+/);
  });

  it('forwards an allowed request with the three headers Verity answered, and asks Verity as documented', async () => {
    const asked = await tap.during(() => upstream.during(() => client.send('GET', '/todos/42?expand=owner', { authorization: `Bearer ${appToken}` })));
    const { answer, reached } = asked.answer;
    expect(answer.status).toBe(200);
    expect(reached).toHaveLength(1);
    const [event] = await auditFor(answer.requestId);
    expect(event).toMatchObject({ decision: 'allow', tier: 'gateway', principal: { type: 'identity', id: 'app' }, action: { id: 'GET' }, resource: { type: 'route', id: '/todos/{todoId}' } });
    expect(reached[0]).toMatchObject({ method: 'GET', url: '/todos/42?expand=owner' });
    expect(reached[0]?.headers).toMatchObject({ 'x-verity-subject': 'app', 'x-verity-decision-id': event.decisionId, 'x-verity-policy-version': String(event.policyVersion) });
    // The gateway's own credential is for Verity only.
    expect(reached[0]?.headers['x-verity-credential']).toBeUndefined();
    expect(asked.reached).toHaveLength(1);
    // Caddy keeps the client's query on `uri` (docs/gateways.md §5); Verity judges X-Forwarded-Uri.
    expect(asked.reached[0]).toMatchObject({ method: 'GET', url: `/tenants/${TENANT}/gateway/v1/forward-auth?expand=owner`, body: '' });
    expect(asked.reached[0]?.headers).toMatchObject({ 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/todos/42?expand=owner', 'x-verity-credential': `Bearer ${gatewayCredential}` });
  });

  it('passes the original method and body on once the request is allowed', async () => {
    const body = JSON.stringify({ title: 'buy milk' });
    const { answer, reached } = await upstream.during(() => client.send('POST', '/todos', { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' }, body));
    expect(answer.status).toBe(200);
    expect(reached).toEqual([expect.objectContaining({ method: 'POST', url: '/todos', body })]);
  });

  it("never lets a client's identity headers through as sent, to Verity or to the upstream", async () => {
    const forged = {
      'x-verity-subject': 'admin',
      'x-verity-decision-id': 'forged-decision',
      'x-verity-policy-version': '999',
      'x-tenant-id': 'other-tenant',
      'x-client-certificate': encodeURIComponent('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'),
      'x-real-ip': '192.0.2.1',
      'x-verity-credential': 'Bearer vrt_forged',
    };
    const asked = await tap.during(() => upstream.during(() => client.send('GET', '/todos', { authorization: `Bearer ${appToken}`, ...forged })));
    const { answer, reached } = asked.answer;
    expect(answer.status).toBe(200);
    const [event] = await auditFor(answer.requestId);
    expect(event).toMatchObject({ tenant: TENANT, decision: 'allow', principal: { id: 'app' } });
    expect(asked.reached[0]?.headers).toMatchObject({ 'x-real-ip': '127.0.0.1', 'x-verity-credential': `Bearer ${gatewayCredential}` });
    expect(asked.reached[0]?.headers['x-client-certificate']).toBeUndefined();
    expect(reached[0]?.headers).toMatchObject({ 'x-verity-subject': 'app', 'x-verity-decision-id': event.decisionId, 'x-verity-policy-version': String(event.policyVersion) });
    expect(reached[0]?.headers['x-tenant-id']).toBeUndefined();
    expect(reached[0]?.headers['x-client-certificate']).toBeUndefined();
  });

  it('answers 403 for a denied method, and the upstream never sees the request', async () => {
    const { answer, reached } = await upstream.during(() => client.send('PATCH', '/todos/42', { authorization: `Bearer ${appToken}` }, '{}'));
    expect(answer.status).toBe(403);
    expect(answer.headers['x-verity-decision-id']).toEqual(expect.any(String));
    expect(reached).toEqual([]);
  });

  it('denies paths that match no template or are not in normal form', async () => {
    for (const path of ['/admin', '/todos/42/comments', '/todos/../admin', '/todos/%2e%2e/admin', '/todos//42', '/users/a%2Fb', '/todos/42;x']) {
      const { answer, reached } = await upstream.during(() => client.send('GET', path, { authorization: `Bearer ${appToken}` }));
      expect(answer.status, path).toBe(403);
      expect(reached, path).toEqual([]);
    }
  });

  it("passes Verity's 401 on without a valid token (WWW-Authenticate, {code, message}), forged subject or not", async () => {
    const cases = [
      { headers: {}, challenge: 'Bearer', code: 'ERR_TOKEN_MISSING' },
      { headers: { 'x-verity-subject': 'app' }, challenge: 'Bearer', code: 'ERR_TOKEN_MISSING' },
      { headers: { authorization: 'Bearer not.a.token' }, challenge: 'Bearer error="invalid_token"', code: expect.stringMatching(/^ERR_TOKEN_/) },
    ];
    for (const { headers, challenge, code } of cases) {
      const { answer, reached } = await upstream.during(() => client.send('GET', '/todos', headers));
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe(challenge);
      expect(JSON.parse(answer.body)).toMatchObject({ code, message: expect.any(String) });
      expect(reached).toEqual([]);
    }
  });

  it('fails closed when Verity cannot be reached: 502, and the upstream never sees the request', async () => {
    for (const [method, path] of [['GET', '/todos'], ['POST', '/todos'], ['GET', '/todos/42']] as const) {
      const { answer, reached } = await upstream.during(() => verityDown.send(method, path, { authorization: `Bearer ${appToken}` }, method === 'POST' ? '{}' : undefined));
      expect(answer.status, `${method} ${path}`).toBe(502);
      expect(reached, `${method} ${path}`).toEqual([]);
    }
  });

  it("has each request's decision in the tenant audit, with its method and the route its path matched", async () => {
    expect(client.sent.length).toBeGreaterThan(10);
    for (const { requestId, method, path, answer } of client.sent) {
      const events = await auditFor(requestId);
      expect(events, `${method} ${path}`).toHaveLength(1);
      const expected =
        answer.status === 401
          ? { decision: 'deny', action: { id: 'authenticate' }, errors: [{ policyId: 'token', message: JSON.parse(answer.body).code }] }
          : { decision: answer.status === 200 ? 'allow' : 'deny', action: { id: method }, resource: { type: 'route', id: ROUTE_OF[path] ?? '(unmatched)' } };
      expect(events[0], `${method} ${path}`).toMatchObject({ tier: 'gateway', tenant: TENANT, ...expected });
    }
    for (const { requestId } of verityDown.sent) expect(await auditFor(requestId), 'Verity was never asked').toEqual([]);
    expect((await server.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body).toMatchObject({ ok: true });
  });
});
