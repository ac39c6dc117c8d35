/**
 * The gateway endpoints without sockets (`inject`): nginx, Envoy and Caddy header conventions,
 * the user's token as the only source of the subject, the gateway's own credential in
 * X-Verity-Credential, and every answer recorded in the tenant's audit with tier `gateway`.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { readPolicyFolder } from '../policy-folder.js';
import { startServer, type RunningServer } from '../start-server.js';

const ADMIN = `vrt_${randomBytes(32).toString('base64url')}`;
const AUDIENCE = 'https://shop.example';
const ISSUER = 'https://idp.shop.example';
const ROUTES = ['/todos', '/todos/{todoId}', '/users/{userId}', '/users/me'];

let server: RunningServer;
let key: CryptoKey;
let pep: string;
let otherPep: string;

type InjectOptions = { method?: string; url: string; headers?: Record<string, string>; payload?: string };

async function inject(options: InjectOptions, credential: string | null = pep) {
  return server.app.inject({
    method: (options.method ?? 'GET') as 'GET',
    url: options.url,
    headers: { ...(credential ? { 'x-verity-credential': `Bearer ${credential}` } : {}), ...options.headers },
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  });
}

/** Raw bytes to the server; the answer's status, headers (lower-cased names) and body. */
function rawExchange(text: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => (out += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = out.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** One request over a socket with the path sent byte for byte. */
function rawRequest(method: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(server.url);
    const sent = request({ hostname, port, method, path, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    sent.on('error', reject);
    sent.end();
  });
}

async function admin(method: string, url: string, payload?: unknown) {
  const answer = await server.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${ADMIN}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: answer.statusCode, body: answer.body === '' ? undefined : answer.json() };
}

async function tokenFor(sub: string, signWith: CryptoKey = key): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(signWith);
}

const bearer = async (sub: string) => ({ authorization: `Bearer ${await tokenFor(sub)}` });

async function auditOf(requestId: string) {
  const { body } = await admin('GET', `/admin/v1/tenants/shop/audit?requestId=${requestId}`);
  return body.events as Array<Record<string, any>>;
}

/** The example schema, also declaring the `scopes` the tenant's token service puts in context. */
function withScopes(schema: unknown): unknown {
  if (typeof schema !== 'string' || !schema.includes('path?: String,')) throw new Error('the gateway example schema changed');
  return schema.replace('path?: String,', 'path?: String,\n  scopes?: Set<String>,');
}

let counter = 0;
const nextId = () => `gw-${++counter}-${Date.now()}`;

beforeAll(async () => {
  server = await startServer({ port: 0, dataDir: null, adminToken: ADMIN, print: () => {}, auditFlushMs: 5, decisionAuth: 'required', logLevel: 'silent' });
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const folder = await readPolicyFolder(fileURLToPath(new URL('../../../../examples/gateway', import.meta.url)));
  expect((await admin('POST', '/admin/v1/tenants', { id: 'shop', settings: { gatewayRoutes: ROUTES, gatewayAudience: AUDIENCE } })).status).toBe(201);
  expect((await admin('POST', '/admin/v1/tenants', { id: 'other' })).status).toBe(201);
  expect((await admin('POST', '/admin/v1/tenants/shop/policies', { files: folder.files, schema: withScopes(folder.schema) })).status).toBe(201);
  const people = [
    { uid: { type: 'identity', id: 'alice' }, attrs: {}, parents: [{ type: 'Role', id: 'editor' }] },
    { uid: { type: 'identity', id: 'bob' }, attrs: {}, parents: [{ type: 'Role', id: 'viewer' }] },
    { uid: { type: 'identity', id: 'josé smith@shop' }, attrs: {}, parents: [{ type: 'Role', id: 'viewer' }] },
  ];
  expect((await admin('PUT', '/admin/v1/tenants/shop/entities', { entities: [...folder.entities, ...people] })).status).toBe(200);
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUDIENCE], claims: { principalType: 'identity' } };
  expect((await admin('PUT', '/admin/v1/tenants/shop/identity-sources/corp', source)).status).toBe(200);
  pep = (await admin('POST', '/admin/v1/credentials', { role: 'pep', tenant: 'shop' })).body.token;
  otherPep = (await admin('POST', '/admin/v1/credentials', { role: 'pep', tenant: 'other' })).body.token;
});

afterAll(async () => {
  await server?.close();
});

describe('nginx auth_request (X-Original-Method, X-Original-URI)', () => {
  it('allows with the verified subject, the decision id and the policy version, and audits with tier gateway', async () => {
    const requestId = nextId();
    const answer = await inject({
      url: '/tenants/shop/gateway/v1/nginx',
      headers: { ...(await bearer('alice')), 'x-original-method': 'GET', 'x-original-uri': '/todos/42?expand=1', 'x-request-id': requestId },
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toBe('');
    expect(answer.headers).toMatchObject({ 'x-verity-subject': 'alice', 'x-verity-policy-version': '1', 'x-request-id': requestId, 'cache-control': 'no-store' });
    const [event, ...rest] = await auditOf(requestId);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      decisionId: answer.headers['x-verity-decision-id'],
      decision: 'allow',
      tier: 'gateway',
      principal: { type: 'identity', id: 'alice' },
      action: { type: 'Action', id: 'GET' },
      resource: { type: 'route', id: '/todos/{todoId}' },
      reasons: ['gateway.viewer-get'],
    });
  });

  it('takes the original method from the header, not the subrequest method', async () => {
    const headers = { ...(await bearer('bob')), 'x-original-method': 'POST', 'x-original-uri': '/todos' };
    const denied = await inject({ method: 'GET', url: '/tenants/shop/gateway/v1/nginx', headers });
    expect(denied.statusCode).toBe(403);
    expect(denied.headers['x-verity-decision-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(denied.headers['x-verity-subject']).toBeUndefined();
    expect(denied.body).toBe('');
  });

  it('refuses a gateway that does not send the original method or URI (400)', async () => {
    for (const headers of [{ 'x-original-uri': '/todos' }, { 'x-original-method': 'GET' }, { 'x-original-method': 'G T', 'x-original-uri': '/todos' }]) {
      const answer = await inject({ url: '/tenants/shop/gateway/v1/nginx', headers: { ...(await bearer('alice')), ...headers } });
      expect(answer.statusCode).toBe(400);
      expect(answer.json().code).toBe('ERR_DECISION_INVALID_REQUEST');
    }
  });
});

describe('Envoy ext_authz HTTP service (original method, path after the prefix)', () => {
  it('decides the request method on the path after the prefix, query dropped', async () => {
    const requestId = nextId();
    const answer = await inject({ method: 'DELETE', url: '/tenants/shop/gateway/v1/envoy/todos/7?force=true', headers: { ...(await bearer('alice')), 'x-request-id': requestId, 'content-length': '0' } });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-verity-subject']).toBe('alice');
    const [event] = await auditOf(requestId);
    expect(event).toMatchObject({ decision: 'allow', tier: 'gateway', action: { id: 'DELETE' }, resource: { type: 'route', id: '/todos/{todoId}' } });
  });

  it('ignores a forwarded body of any content type', async () => {
    for (const [type, payload] of [['application/json', '{"title":"x"}'], ['application/json', ''], ['application/json', '{not json'], ['text/plain', 'hello'], ['application/x-www-form-urlencoded', 'a=b'], [null, 'raw']] as const) {
      const answer = await inject({ method: 'POST', url: '/tenants/shop/gateway/v1/envoy/todos', headers: { ...(await bearer('alice')), ...(type ? { 'content-type': type } : {}) }, payload });
      expect(answer.statusCode).toBe(200);
    }
  });

  it('denies a viewer writing (403 with the decision id)', async () => {
    const answer = await inject({ method: 'PUT', url: '/tenants/shop/gateway/v1/envoy/todos/7', headers: await bearer('bob') });
    expect(answer.statusCode).toBe(403);
    expect(answer.headers['x-verity-decision-id']).toBeDefined();
  });

  it('reads the raw path: an encoded dot segment is refused, not resolved', async () => {
    // Over a socket: inject (like fetch) parses the URL as WHATWG does, which resolves `%2e%2e`.
    const requestId = nextId();
    const status = await rawRequest('GET', '/tenants/shop/gateway/v1/envoy/users/%2e%2e/todos', { ...(await bearer('alice')), 'x-request-id': requestId, 'x-verity-credential': `Bearer ${pep}` });
    expect(status).toBe(403);
    const [event] = await auditOf(requestId);
    expect(event).toMatchObject({ decision: 'deny', tier: 'gateway', resource: { type: 'route', id: '(unmatched)' }, errors: [{ policyId: 'gateway-route', message: 'the path is ambiguous' }] });
  });

  it('answers what Node\'s HTTP parser refuses, and a bad path, in Verity\'s error shape, with the request id', async () => {
    const bad = await rawExchange('GET /tenants/shop/gateway/v1/envoy/todos/%zz HTTP/1.1\r\nHost: x\r\nX-Request-ID: req-bad-path\r\nConnection: close\r\n\r\n');
    expect(bad).toMatchObject({ status: 400, headers: { 'x-request-id': 'req-bad-path', 'cache-control': 'no-store' } });
    expect(JSON.parse(bad.body).code).toBe('ERR_REQUEST_INVALID');
    for (const [text, status, code] of [
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\nConnection: close\r\n\r\n', 400, 'ERR_REQUEST_INVALID'],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, 431, 'ERR_REQUEST_HEADERS_TOO_LARGE'],
      ['POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2x\r\nConnection: close\r\n\r\n{}', 400, 'ERR_REQUEST_INVALID'],
      ['POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n', 400, 'ERR_REQUEST_INVALID'],
      ['FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'ERR_REQUEST_INVALID'],
    ] as const) {
      const answer = await rawExchange(text);
      expect(answer.status).toBe(status);
      expect(JSON.parse(answer.body)).toMatchObject({ code, message: expect.any(String) });
    }
  });

  it('refuses a path that is not valid percent-encoding with a Verity error (never an allow, never cached), on every route', async () => {
    for (const url of ['/tenants/shop/gateway/v1/envoy/todos/%zz', '/admin/v1/tenants/%E0%A4%A']) {
      const answer = await inject({ url, headers: await bearer('alice') });
      expect(answer.statusCode).toBe(400);
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.json()).toMatchObject({ code: 'ERR_REQUEST_INVALID' });
    }
  });
});

describe('Caddy forward_auth (X-Forwarded-Method, X-Forwarded-Uri)', () => {
  it('allows and denies by the forwarded method and URI', async () => {
    const allowed = await inject({ url: '/tenants/shop/gateway/v1/forward-auth', headers: { ...(await bearer('alice')), 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/todos' } });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.headers['x-verity-subject']).toBe('alice');
    const denied = await inject({ url: '/tenants/shop/gateway/v1/forward-auth', headers: { ...(await bearer('bob')), 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/todos' } });
    expect(denied.statusCode).toBe(403);
  });

  it('prefers a literal template over a parameter', async () => {
    const requestId = nextId();
    await inject({ url: '/tenants/shop/gateway/v1/forward-auth', headers: { ...(await bearer('bob')), 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/users/me', 'x-request-id': requestId } });
    expect((await auditOf(requestId))[0]?.resource).toEqual({ type: 'route', id: '/users/me' });
  });
});

describe('the subject comes from the verified token only', () => {
  const nginx = (headers: Record<string, string>) => inject({ url: '/tenants/shop/gateway/v1/nginx', headers: { 'x-original-method': 'GET', 'x-original-uri': '/todos', ...headers } });

  it('no token: 401, WWW-Authenticate: Bearer, audited as a rejected token', async () => {
    const requestId = nextId();
    const answer = await nginx({ 'x-request-id': requestId });
    expect(answer.statusCode).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(answer.json().code).toBe('ERR_TOKEN_MISSING');
    const [event] = await auditOf(requestId);
    expect(event).toMatchObject({ decision: 'deny', tier: 'gateway', action: { id: 'authenticate' }, errors: [{ policyId: 'token', message: 'ERR_TOKEN_MISSING' }] });
  });

  it('a token signed by another key, or not a JWT: 401 invalid_token', async () => {
    const stranger = (await generateKeyPair('ES256')).privateKey;
    for (const [authorization, code] of [[`Bearer ${await tokenFor('alice', stranger)}`, 'ERR_TOKEN_SIGNATURE'], [`Bearer ${pep}`, 'ERR_TOKEN_MALFORMED'], ['Basic YWxpY2U6eA==', 'ERR_TOKEN_MISSING']] as const) {
      const answer = await nginx({ authorization });
      expect(answer.statusCode).toBe(401);
      expect(answer.json().code).toBe(code);
      expect(answer.headers['www-authenticate']).toBe(code === 'ERR_TOKEN_MISSING' ? 'Bearer' : 'Bearer error="invalid_token"');
    }
  });

  it('ignores a forged X-Verity-Subject, x-tenant-id and X-Verity-Tier', async () => {
    const requestId = nextId();
    const answer = await nginx({ ...(await bearer('bob')), 'x-verity-subject': 'alice', 'x-tenant-id': 'other', 'x-verity-tier': 'trusted', 'x-request-id': requestId });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-verity-subject']).toBe('bob');
    const [event] = await auditOf(requestId);
    expect(event).toMatchObject({ tenant: 'shop', tier: 'gateway', principal: { type: 'identity', id: 'bob' } });
    // A forged subject with no token is still no token.
    expect((await nginx({ 'x-verity-subject': 'alice' })).statusCode).toBe(401);
  });

  it('percent-encodes a subject outside the header-safe characters', async () => {
    const answer = await nginx(await bearer('josé smith@shop'));
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-verity-subject']).toBe('jos%C3%A9%20smith@shop');
    expect(decodeURIComponent(answer.headers['x-verity-subject'] as string)).toBe('josé smith@shop');
  });
});

describe('routes that match no template', () => {
  it('are denied without asking Cedar, and recorded as (unmatched)', async () => {
    // The example policies allow GET on any `route`: an unknown path must not become one.
    const requestId = nextId();
    const answer = await inject({ url: '/tenants/shop/gateway/v1/nginx', headers: { ...(await bearer('alice')), 'x-original-method': 'GET', 'x-original-uri': '/admin/users', 'x-request-id': requestId } });
    expect(answer.statusCode).toBe(403);
    const [event] = await auditOf(requestId);
    expect(event).toMatchObject({
      decisionId: answer.headers['x-verity-decision-id'],
      decision: 'deny',
      tier: 'gateway',
      principal: { type: 'identity', id: 'alice' },
      action: { type: 'Action', id: 'GET' },
      resource: { type: 'route', id: '(unmatched)' },
      policyVersion: 1,
      errors: [{ policyId: 'gateway-route', message: 'no route template matches the path' }],
    });
  });
});

describe("the gateway's own credential (X-Verity-Credential)", () => {
  const ask = async (credential: string | null, extra: Record<string, string> = {}) =>
    inject({ url: '/tenants/shop/gateway/v1/nginx', headers: { ...(await bearer('alice')), 'x-original-method': 'GET', 'x-original-uri': '/todos', ...extra } }, credential);

  it('is required when decisions are not open, and Authorization does not stand in for it', async () => {
    expect((await ask(null)).json().code).toBe('ERR_AUTH_MISSING');
    expect((await ask(null, { authorization: `Bearer ${ADMIN}` })).json().code).toBe('ERR_AUTH_MISSING');
    expect((await ask('vrt_not_a_credential')).json().code).toBe('ERR_AUTH_INVALID');
    const forbidden = await ask(otherPep);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await ask(pep)).statusCode).toBe(200);
  });

  it('an unknown tenant is 404', async () => {
    const answer = await inject({ url: '/tenants/nope/gateway/v1/nginx', headers: { 'x-original-method': 'GET', 'x-original-uri': '/todos' } }, ADMIN);
    expect(answer.statusCode).toBe(404);
    expect(answer.json().code).toBe('ERR_TENANT_NOT_FOUND');
  });
});

describe('the gateway audience', () => {
  /** A token from the tenant's own token service (client credentials) for `audience`, acting as alice. */
  async function stsToken(audience: string): Promise<string> {
    const client = `as-alice-${audience.replace(/[^a-z]/g, '')}`;
    const created = await admin('PUT', `/admin/v1/tenants/shop/clients/${client}`, { principal: { type: 'identity', id: 'alice' }, audiences: [audience], scopes: ['todos:write'], secret: true });
    expect(created.status).toBe(200);
    const answer = await server.app.inject({
      method: 'POST',
      url: '/tenants/shop/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client}:${created.body.clientSecret}`).toString('base64')}` },
      payload: new URLSearchParams({ grant_type: 'client_credentials', audience, scope: 'todos:write' }).toString(),
    });
    expect(answer.statusCode).toBe(200);
    return answer.json().access_token as string;
  }
  const deleteTodo = (token: string, path: 'nginx' | 'envoy' | 'forward-auth') =>
    path === 'envoy'
      ? inject({ method: 'DELETE', url: '/tenants/shop/gateway/v1/envoy/todos/1', headers: { authorization: `Bearer ${token}` } })
      : inject({ url: `/tenants/shop/gateway/v1/${path}`, headers: { authorization: `Bearer ${token}`, ...(path === 'nginx' ? { 'x-original-method': 'DELETE', 'x-original-uri': '/todos/1' } : { 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/todos/1' }) } });

  it('refuses a token exchanged for another service (audience inventory) at every gateway endpoint', async () => {
    const inventory = await stsToken('inventory');
    for (const path of ['nginx', 'envoy', 'forward-auth'] as const) {
      const answer = await deleteTodo(inventory, path);
      expect(answer.statusCode, path).toBe(401);
      expect(answer.json().code, path).toBe('ERR_TOKEN_AUDIENCE');
      expect(answer.headers['www-authenticate'], path).toBe('Bearer error="invalid_token"');
    }
  });

  it("requires the tenant's settings.gatewayAudience when set, and the tenant's base URL otherwise", async () => {
    const base = `${server.url}/tenants/shop`;
    const forBase = await stsToken(base);
    // The tenant in this file has gatewayAudience https://shop.example: its base URL is another audience.
    expect((await deleteTodo(forBase, 'nginx')).json().code).toBe('ERR_TOKEN_AUDIENCE');
    expect((await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayAudience: null } })).status).toBe(200);
    try {
      expect((await deleteTodo(forBase, 'nginx')).statusCode).toBe(200);
      expect((await deleteTodo(await tokenFor('alice'), 'nginx')).json().code).toBe('ERR_TOKEN_AUDIENCE');
    } finally {
      expect((await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayAudience: AUDIENCE } })).status).toBe(200);
    }
    expect((await deleteTodo(await tokenFor('alice'), 'nginx')).statusCode).toBe(200);
  });

  it('takes a route\'s own audience from settings.gatewayRouteAudiences (a gateway fronting several APIs)', async () => {
    const inventory = await stsToken('inventory');
    const users = (token: string) => inject({ url: '/tenants/shop/gateway/v1/nginx', headers: { authorization: `Bearer ${token}`, 'x-original-method': 'GET', 'x-original-uri': '/users/u1' } });
    expect((await users(inventory)).json().code).toBe('ERR_TOKEN_AUDIENCE');
    expect((await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayRouteAudiences: { '/users/{userId}': 'inventory' } } })).status).toBe(200);
    try {
      // The route with its own audience takes only that audience; the others keep the tenant's.
      expect((await users(inventory)).statusCode).not.toBe(401);
      expect((await users(await tokenFor('alice'))).json().code).toBe('ERR_TOKEN_AUDIENCE');
      expect((await deleteTodo(inventory, 'nginx')).json().code).toBe('ERR_TOKEN_AUDIENCE');
      expect((await deleteTodo(await tokenFor('alice'), 'nginx')).statusCode).toBe(200);
    } finally {
      expect((await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayRouteAudiences: null } })).status).toBe(200);
    }
    for (const bad of [{ '/users/{userId}': '' }, { 'users': 'x' }, ['x']]) {
      const answer = await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayRouteAudiences: bad } });
      expect([answer.status, answer.body.code], JSON.stringify(bad)).toEqual([400, 'ERR_TENANT_INVALID']);
    }
  });

  it('is validated like any setting', async () => {
    for (const gatewayAudience of ['', 42, ['a'], 'x'.repeat(513)]) {
      const answer = await admin('PATCH', '/admin/v1/tenants/shop', { settings: { gatewayAudience } });
      expect(answer.status).toBe(400);
      expect(answer.body.code).toBe('ERR_TENANT_INVALID');
    }
  });
});

describe('settings.gatewayRoutes', () => {
  it('is validated when a tenant is created', async () => {
    for (const gatewayRoutes of ['/todos', ['todos'], ['/todos/{id}', '/todos/{other}'], ['/a//b'], Array.from({ length: 501 }, (_, i) => `/r${i}`)]) {
      const answer = await admin('POST', '/admin/v1/tenants', { id: 'bad-routes', settings: { gatewayRoutes } });
      expect(answer.status).toBe(400);
      expect(answer.body.code).toBe('ERR_TENANT_INVALID');
    }
    expect((await admin('GET', '/admin/v1/tenants/shop')).body.settings.gatewayRoutes).toEqual(ROUTES);
  });
});
