/**
 * The tenant's token service over HTTP: discovery and JWKS, client credentials, RFC 8693
 * exchange (scope only narrows, expiry never later, `act` chain, a Cedar decision), the
 * exchanged token refused at an audience it was not issued for, and RFC 7009 revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const POLICIES = `@id("orders-to-inventory") permit(principal == Client::"orders", action == Action::"exchange", resource == Audience::"inventory");
@id("inventory-to-warehouse") permit(principal == Client::"inventory", action == Action::"exchange", resource == Audience::"warehouse");
@id("readers") permit(principal is User, action == Action::"read", resource) when { context has scopes && context.scopes.contains("todos:read") };`;

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;
let base: string;
const secrets: Record<string, string> = {};

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

async function tokenEndpoint(client: string, params: Record<string, string>, secret = secrets[client] as string) {
  const response = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(client)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const exchange = (client: string, subjectToken: string, audience: string, scope?: string, extra: Record<string, string> = {}) =>
  tokenEndpoint(client, { grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience, ...(scope ? { scope } : {}), ...extra });

const revoke = (client: string, token: string) =>
  fetch(`${base}/oauth2/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client}:${secrets[client]}`).toString('base64')}` },
    body: new URLSearchParams({ token }).toString(),
  });

/** A user token "from the IdP" (we hold its key) with extra claims: may_act, a skewed iat, another audience. */
async function userTokenWith(claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'kim', scope: 'todos:read', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  base = `${server.url}/tenants/shop`;
  await server.admin.post('/admin/v1/tenants', { id: 'shop' });
  await server.admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': POLICIES } });
  await server.admin.request('PUT', '/admin/v1/tenants/shop/identity-sources/corp', { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User', context: { scopes: 'scope' } } });
  // orders serves the API the IdP's tokens are for; each client may ask for a token for the token service (its actor token).
  const clients: Array<[string, string[], string[]]> = [['orders', ['inventory', 'billing', base], [API_AUDIENCE]], ['inventory', ['warehouse'], []], ['billing', ['inventory', base], []]];
  for (const [id, audiences, subjectAudiences] of clients) {
    const answer = await server.admin.request('PUT', `/admin/v1/tenants/shop/clients/${id}`, { principal: { type: 'Client', id }, audiences, subjectAudiences, scopes: ['todos:read', 'todos:write'], secret: true });
    expect(answer.status).toBe(200);
    secrets[id] = answer.body.clientSecret;
  }
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('token service', () => {
  it('publishes discovery metadata and public keys only', async () => {
    const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as Record<string, any>;
    expect(discovery).toMatchObject({ issuer: base, jwks_uri: `${base}/.well-known/jwks.json`, token_endpoint: `${base}/oauth2/token` });
    expect(discovery.grant_types_supported).toContain(EXCHANGE);
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
    const listed = (await server.admin.get('/admin/v1/tenants/shop/clients')).body.clients;
    expect(JSON.stringify(listed)).not.toContain(secrets.orders);
  });

  it('issues short-lived client-credentials tokens that verify against its JWKS', async () => {
    const answer = await tokenEndpoint('orders', { grant_type: 'client_credentials', audience: 'inventory', scope: 'todos:read' });
    expect(answer.status).toBe(200);
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(answer.body.access_token, createLocalJWKSet(jwks), { issuer: base, audience: 'inventory' });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: 'orders', scope: 'todos:read', client_id: 'orders' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    expect((await tokenEndpoint('orders', { grant_type: 'client_credentials', audience: 'inventory' }, 'wrong-secret')).body).toMatchObject({ code: 'ERR_STS_INVALID_CLIENT', error: 'invalid_client' });
  });

  it('exchanges a user token for one audience: scopes only narrow, expiry never later, act records the chain', async () => {
    const userToken = await idp.accessToken('todos:read todos:write');
    const answer = await exchange('orders', userToken, 'inventory', 'todos:read');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'todos:read' });
    const exchanged = decodeJwt(answer.body.access_token);
    expect(exchanged).toMatchObject({ iss: base, sub: 'app', aud: 'inventory', scope: 'todos:read', act: { sub: 'orders' } });
    expect(exchanged.exp as number).toBeLessThanOrEqual(decodeJwt(userToken).exp as number);
    expect(decodeProtectedHeader(answer.body.access_token).alg).toBe('ES256');

    // The next service exchanges again: the chain nests, newest actor outermost.
    const second = await exchange('inventory', answer.body.access_token, 'warehouse', 'todos:read');
    expect(second.status).toBe(200);
    expect(decodeJwt(second.body.access_token).act).toEqual({ sub: 'inventory', act: { sub: 'orders' } });
  });

  it('refuses wider scopes, audiences the client may not ask for, and exchanges the policy does not permit', async () => {
    const userToken = await idp.accessToken('todos:read');
    expect((await exchange('orders', userToken, 'inventory', 'todos:read todos:write')).body).toMatchObject({ code: 'ERR_STS_INVALID_SCOPE', error: 'invalid_scope' });
    expect((await exchange('orders', userToken, 'payroll')).body).toMatchObject({ code: 'ERR_STS_INVALID_TARGET' });
    // RFC 8693 §2.2.2: unwilling to issue for that target is invalid_target; a bad subject token is invalid_request.
    const denied = await exchange('orders', userToken, 'billing');
    expect([denied.status, denied.body]).toMatchObject([400, { code: 'ERR_STS_EXCHANGE_DENIED', error: 'invalid_target' }]);
    const expired = await exchange('orders', await userTokenWith({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }), 'inventory');
    for (const refused of [await exchange('orders', 'not-a-token', 'inventory'), expired]) {
      expect([refused.status, refused.body]).toMatchObject([400, { code: 'ERR_STS_INVALID_SUBJECT_TOKEN', error: 'invalid_request' }]);
    }
  });

  it('refuses a subject token from an issuer whose clock is an hour ahead', async () => {
    const ahead = await userTokenWith({ iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 });
    expect((await exchange('orders', ahead, 'inventory')).body).toMatchObject({ code: 'ERR_STS_INVALID_SUBJECT_TOKEN', error: 'invalid_request' });
  });

  it('refuses a subject token not issued for the exchanging client', async () => {
    // The IdP's token is for the API orders serves; inventory may not trade it.
    const answer = await exchange('inventory', await idp.accessToken('todos:read'), 'warehouse');
    expect([answer.status, answer.body]).toMatchObject([400, { code: 'ERR_STS_INVALID_SUBJECT_TOKEN', error: 'invalid_request' }]);
  });

  it('binds the actor to the authenticated client: never another client, never the subject token', async () => {
    const subject = await idp.accessToken('todos:read');
    const actorParams = (token: string) => ({ actor_token: token, actor_token_type: ACCESS_TOKEN });
    const ownToken = async (client: string) => (await tokenEndpoint(client, { grant_type: 'client_credentials', audience: base, scope: 'todos:read' })).body.access_token as string;
    for (const actor of [await ownToken('billing'), subject]) {
      const answer = await exchange('orders', subject, 'inventory', 'todos:read', actorParams(actor));
      expect([answer.status, answer.body]).toMatchObject([400, { code: 'ERR_STS_INVALID_ACTOR_TOKEN', error: 'invalid_request' }]);
    }
    const own = await exchange('orders', subject, 'inventory', 'todos:read', actorParams(await ownToken('orders')));
    expect(own.status).toBe(200);
    expect(decodeJwt(own.body.access_token).act).toEqual({ sub: 'orders' });
  });

  it('checks may_act against the authenticated client (RFC 8693 §4.4)', async () => {
    const billingOnly = await userTokenWith({ may_act: { sub: 'billing' } });
    expect((await exchange('orders', billingOnly, 'inventory')).body).toMatchObject({ code: 'ERR_STS_INVALID_SUBJECT_TOKEN', error: 'invalid_request' });
    expect((await exchange('orders', await userTokenWith({ may_act: { sub: 'orders' } }), 'inventory')).status).toBe(200);
  });

  it('an exchanged token is accepted at its audience only, and revocation stops it everywhere', async () => {
    const exchanged = (await exchange('orders', await idp.accessToken('todos:read'), 'inventory', 'todos:read')).body.access_token as string;
    const ask = (audience: string) => pdp.post('/tenants/shop/access/v1/evaluation', { token: exchanged, audience, action: { name: 'read' }, resource: { type: 'Todo', id: 't' } });
    expect((await ask('inventory')).body).toMatchObject({ decision: true, context: { reason_admin: { determining_policies: ['readers'] } } });
    expect((await ask('billing')).body.code).toBe('ERR_TOKEN_AUDIENCE');

    // RFC 7009 §2.1: another client's token is refused, and stays valid.
    const foreign = await revoke('inventory', exchanged);
    expect([foreign.status, await foreign.json()]).toMatchObject([400, { code: 'ERR_STS_UNAUTHORIZED_CLIENT', error: 'unauthorized_client' }]);
    expect((await ask('inventory')).body.decision).toBe(true);
    // An invalid token is not an error (RFC 7009 §2.2).
    expect((await revoke('orders', 'not-a-token')).status).toBe(200);
    const revoked = await revoke('orders', exchanged);
    expect(revoked.status).toBe(200);
    expect((await ask('inventory')).body.code).toBe('ERR_TOKEN_REVOKED');
  });
});

describe('bodies the OAuth endpoints take', () => {
  // Found by e2e/fuzz.test.ts: a JSON body reached client authentication with an array where a
  // form parameter is always a string, and the server answered 500.
  it('refuses a JSON body at the token and revocation endpoints with 400 ERR_STS_INVALID_REQUEST (invalid_request), whatever its fields', async () => {
    const token = (await tokenEndpoint('orders', { grant_type: 'client_credentials', audience: 'inventory' })).body.access_token as string;
    const secret = secrets.orders as string;
    const bodies: Array<[string, Record<string, unknown>]> = [
      ['revoke', { token: '中文', client_id: 'orders', client_secret: [[[secret]]], token_type_hint: 'access_token' }],
      ['revoke', { token: [token], client_id: 'orders', client_secret: secret }],
      ['revoke', { token, client_id: 'orders', client_secret: secret }],
      ['token', { grant_type: 'client_credentials', client_id: ['orders'], client_secret: secret, audience: 'inventory' }],
      ['token', { grant_type: 'client_credentials', client_id: 'orders', client_secret: { a: secret }, audience: 'inventory' }],
      ['token', { grant_type: 'client_credentials', client_id: 'orders', client_secret: secret, audience: 5 }],
      ['token', { grant_type: 'client_credentials', client_id: 'orders', client_secret: secret, audience: 'inventory' }],
    ];
    for (const [endpoint, body] of bodies) {
      const response = await fetch(`${base}/oauth2/${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answer = (await response.json()) as Record<string, unknown>;
      expect({ endpoint, body, status: response.status, code: answer.code, error: answer.error }).toEqual({ endpoint, body, status: 400, code: 'ERR_STS_INVALID_REQUEST', error: 'invalid_request' });
    }
  });
});

describe('private_key_jwt and token-in batches', () => {
  it('authenticates a client by a signed assertion (RFC 7523) and refuses its replay', async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'svc-key', alg: 'ES256' };
    expect((await server.admin.request('PUT', '/admin/v1/tenants/shop/clients/keyed', { principal: { type: 'Client', id: 'keyed' }, audiences: ['inventory'], scopes: ['todos:read'], jwks: [jwk] })).status).toBe(200);
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'svc-key' })
      .setIssuer('keyed')
      .setSubject('keyed')
      .setAudience(`${base}/oauth2/token`)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    const send = () =>
      fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'keyed', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion, audience: 'inventory' }).toString(),
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(decodeJwt(((await first.json()) as { access_token: string }).access_token)).toMatchObject({ sub: 'keyed', aud: 'inventory' });
    const replay = await send();
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { code: string }).code).toBe('ERR_STS_INVALID_CLIENT');
  });

  it('decides a batch for the subject of one token', async () => {
    const token = await idp.accessToken('todos:read');
    const answer = await pdp.post('/tenants/shop/access/v1/evaluations', {
      token,
      action: { name: 'read' },
      evaluations: [{ resource: { type: 'Todo', id: 'a' } }, { action: { name: 'delete' }, resource: { type: 'Todo', id: 'b' } }],
    });
    expect(answer.body.evaluations).toEqual([{ decision: true }, { decision: false }]);
    const smuggled = await pdp.post('/tenants/shop/access/v1/evaluations', { token, action: { name: 'read' }, evaluations: [{ subject: { type: 'User', id: 'someone-else' }, resource: { type: 'Todo', id: 'a' } }] });
    expect(smuggled.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });
});

describe('the SDK exchanges for the next tier', () => {
  it('gets a token for the downstream audience, reuses it until near expiry, and reports refusals', async () => {
    const { createTokenExchanger } = await import('@verity/enforce');
    let calls = 0;
    const exchanger = createTokenExchanger({
      url: server.url,
      tenant: 'shop',
      clientId: 'orders',
      clientSecret: secrets.orders as string,
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    const userToken = await idp.accessToken('todos:read todos:write');
    const downstream = await exchanger.exchange(userToken, 'inventory', 'todos:read');
    expect(decodeJwt(downstream)).toMatchObject({ aud: 'inventory', scope: 'todos:read', act: { sub: 'orders' } });
    expect(await exchanger.exchange(userToken, 'inventory', 'todos:read')).toBe(downstream);
    expect(calls).toBe(1);
    await expect(exchanger.exchange(await idp.accessToken('todos:read'), 'inventory', 'todos:write')).rejects.toMatchObject({ code: 'ERR_STS_INVALID_SCOPE' });
  });
});

describe('token endpoint errors', () => {
  it("answers an exchange its tenant's policies cannot decide (the schema lacks Client) with invalid_target saying why, never without the OAuth error", async () => {
    await server.admin.post('/admin/v1/tenants', { id: 'strict' });
    const pushed = await server.admin.post('/admin/v1/tenants/strict/policies', {
      files: { 'p.cedar': 'permit(principal, action == Action::"read", resource);' },
      schema: 'entity User; entity Doc; action "read" appliesTo { principal: User, resource: Doc };',
    });
    expect(pushed.status).toBe(201);
    await server.admin.request('PUT', '/admin/v1/tenants/strict/identity-sources/corp', { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } });
    const client = await server.admin.request('PUT', '/admin/v1/tenants/strict/clients/orders', { principal: { type: 'Client', id: 'orders' }, audiences: ['inventory'], subjectAudiences: [API_AUDIENCE], scopes: ['todos:read'], secret: true });
    const response = await fetch(`${server.url}/tenants/strict/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`orders:${client.body.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: EXCHANGE, subject_token: await idp.accessToken('todos:read'), subject_token_type: ACCESS_TOKEN, audience: 'inventory', scope: 'todos:read' }).toString(),
    });
    const body = (await response.json()) as Record<string, string>;
    expect(response.status).toBe(400);
    expect(body).toMatchObject({ code: 'ERR_STS_EXCHANGE_DENIED', error: 'invalid_target' });
    expect(body.error_description).toContain('Client');
  });
});
