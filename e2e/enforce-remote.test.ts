/**
 * @verity/enforce in remote mode over real sockets: a node:http service wrapped with
 * withVerity asks a real Verity PDP with the caller's OIDC token. Allow, deny and 401; the
 * second identical request served from the cache; a policy push reaching the cache through
 * the change stream within a second; observe mode letting a deny through while the PDP
 * audits it; the caller's identity (not a tenant header) reaching the next tier; and 503
 * once the PDP is stopped.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChangeFollower, createDecisionCache, createEnforcer, createRemoteDecisionSource, downstreamHeaders, type Change, type ChangeFollower, type DecisionEvent } from '@verity/enforce';
import { withVerity } from '@verity/enforce/node-http';
import { startTestServer } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const TENANT = 'shop';
const POLICIES = `@id("readers") permit(principal is User, action == Action::"GET", resource == route::"/docs") when { context has scopes && context.scopes.contains("todos:read") };
@id("writers") permit(principal is User, action == Action::"POST", resource == route::"/docs") when { context has scopes && context.scopes.contains("todos:write") };
@id("stock") permit(principal is User, action == Action::"GET", resource == route::"/stock");`;
const LOCKDOWN = `${POLICIES}\n@id("lockdown") forbid(principal, action == Action::"GET", resource == route::"/docs");`;

let idp: TestIssuer;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let pdpStopped = false;
let follower: ChangeFollower;
const services: Server[] = [];
/** Every call the PEPs make to the PDP's evaluation endpoint. */
let pdpCalls = 0;
const changes: Array<Change & { at: number }> = [];
const events: DecisionEvent[] = [];
const seenDownstream: Array<Record<string, unknown>> = [];
let docsUrl: string;
let observedUrl: string;

async function listen(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  services.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function call(url: string, token: string | undefined, method = 'GET', headers: Record<string, string> = {}) {
  const response = await fetch(url, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  return { status: response.status, body: (await response.json()) as any, requestId: response.headers.get('x-request-id') };
}

async function auditOf(requestId: string): Promise<any[]> {
  for (let i = 0; i < 100; i++) {
    const events = (await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${encodeURIComponent(requestId)}`)).body.events as any[];
    if (events.length > 0) return events;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return [];
}

beforeAll(async () => {
  idp = await startTestIssuer();
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User', context: { scopes: 'scope' } } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);

  const counting: typeof fetch = (input, init) => {
    if (String(input).endsWith('/access/v1/evaluation')) pdpCalls++;
    return fetch(input, init);
  };
  const remote = createRemoteDecisionSource({ url: pdp.url, fetch: counting, timeoutMs: 2000 });
  // A long TTL: only the change stream can make the cache forget in time.
  const cache = createDecisionCache({ ttlMs: 60_000 });
  follower = createChangeFollower({ url: pdp.url, tenant: TENANT, initialBackoffMs: 50, onChange: (change) => (changes.push({ ...change, at: Date.now() }), cache.invalidateTenant(change.tenant)) });
  await follower.ready;

  // The next tier: re-verifies the same caller with its own enforcer.
  const inventory = createEnforcer({ source: remote, tenant: TENANT, audience: API_AUDIENCE, tier: 'inventory' });
  const stockUrl = await listen(
    withVerity(inventory, { route: '/stock' }, (request, response) => {
      seenDownstream.push({ tenantHeader: request.headers['x-tenant-id'], requestId: request.verity.requestId, traceparent: request.headers.traceparent });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ stock: 3 }));
    }),
  );

  const docs = createEnforcer({ source: remote, cache, tenant: TENANT, audience: API_AUDIENCE, tier: 'docs', onDecision: (event) => events.push(event) });
  docsUrl = await listen(
    withVerity(docs, { route: '/docs' }, async (request, response) => {
      const downstream = request.url?.includes('with-stock') ? await call(`${stockUrl}/stock`, undefined, 'GET', downstreamHeaders(request.verity)) : undefined;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ decisionId: request.verity.decisionId, policyVersion: request.verity.policyVersion, downstream: downstream?.status }));
    }),
  );

  const observer = createEnforcer({ source: remote, tenant: TENANT, audience: API_AUDIENCE, tier: 'observer', observe: true, onDecision: (event) => events.push(event) });
  observedUrl = await listen(
    withVerity(observer, { route: '/docs' }, (request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ observed: request.verity.observed, wouldDeny: request.verity.wouldDeny, decisionId: request.verity.decisionId }));
    }),
  );
});

afterAll(async () => {
  follower?.close();
  for (const server of services) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (!pdpStopped) await pdp?.close();
  await idp?.close();
});

describe('@verity/enforce, remote PDP, node:http', () => {
  it('allows, denies and refuses an unauthenticated caller; the PDP audits each with tier and request id', async () => {
    const reader = await idp.accessToken('todos:read');
    const allowed = await call(`${docsUrl}/docs`, reader, 'GET', { 'x-request-id': 'e2e-allow-1' });
    expect(allowed).toMatchObject({ status: 200, body: { policyVersion: 1 }, requestId: 'e2e-allow-1' });
    const [record] = await auditOf('e2e-allow-1');
    expect(record).toMatchObject({ decisionId: allowed.body.decisionId, decision: 'allow', tier: 'docs', principal: { type: 'User', id: 'app' }, policyVersion: 1 });

    const denied = await call(`${docsUrl}/docs`, reader, 'POST');
    expect(denied).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' } });
    expect((await auditOf(denied.requestId as string))[0]).toMatchObject({ decision: 'deny', tier: 'docs' });

    expect(await call(`${docsUrl}/docs`, undefined)).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' } });
    expect(await call(`${docsUrl}/docs`, 'not.a.jwt')).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MALFORMED' } });
    const writer = await idp.accessToken('todos:read todos:write');
    expect((await call(`${docsUrl}/docs`, writer, 'POST')).status).toBe(200);
  });

  it('answers the second identical request from the cache, without asking the PDP', async () => {
    const token = await idp.accessToken('todos:read');
    const before = pdpCalls;
    expect((await call(`${docsUrl}/docs`, token)).status).toBe(200);
    expect(pdpCalls).toBe(before + 1);
    expect((await call(`${docsUrl}/docs`, token)).status).toBe(200);
    expect(pdpCalls).toBe(before + 1);
    expect(events.at(-1)).toMatchObject({ cached: true, allowed: true });
  });

  it('a policy push reaches the cache through the change stream within a second', async () => {
    const token = await idp.accessToken('todos:read');
    expect((await call(`${docsUrl}/docs`, token)).status).toBe(200);
    expect((await call(`${docsUrl}/docs`, token)).status).toBe(200);
    const pushedAt = Date.now();
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': LOCKDOWN }, message: 'lockdown' })).status).toBe(201);
    let status = 200;
    while (status === 200 && Date.now() - pushedAt < 1000) {
      status = (await call(`${docsUrl}/docs`, token)).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(403);
    expect(changes.some((change) => change.kind === 'policy' && change.at >= pushedAt)).toBe(true);
    expect(events.at(-1)?.decision?.policyVersion).toBe(2);

    // Roll back (an activation is a change too) so the tests after this one see version 1.
    const rolledAt = Date.now();
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies/activate`, { version: 1 })).status).toBe(200);
    status = 403;
    while (status === 403 && Date.now() - rolledAt < 1000) status = (await call(`${docsUrl}/docs`, token)).status;
    expect(status).toBe(200);
  });

  it('observe mode lets a denied request through while the PDP audits the deny', async () => {
    const reader = await idp.accessToken('todos:read');
    const answer = await call(`${observedUrl}/docs`, reader, 'POST', { 'x-request-id': 'e2e-observe-1' });
    expect(answer).toMatchObject({ status: 200, body: { observed: true, wouldDeny: true } });
    const [record] = await auditOf('e2e-observe-1');
    // The audit marks it: a would-have-denied decision, recorded but not enforced.
    expect(record).toMatchObject({ decision: 'deny', tier: 'observer', decisionId: answer.body.decisionId, observed: true });
    expect(events.at(-1)).toMatchObject({ observed: true, wouldDeny: true, allowed: true });
  });

  it('observe mode can be set per route while the rest of the tenant enforces', async () => {
    const enforcing = createEnforcer({ source: createRemoteDecisionSource({ url: pdp.url }), tenant: TENANT, audience: API_AUDIENCE, tier: 'per-route' });
    const url = await listen(
      withVerity(enforcing, { route: '/docs', observe: true }, (_request, response) => response.writeHead(200).end('{}')),
    );
    const reader = await idp.accessToken('todos:read');
    expect((await call(`${url}/docs`, reader, 'POST', { 'x-request-id': 'e2e-observe-route' })).status).toBe(200);
    const [record] = await auditOf('e2e-observe-route');
    expect(record).toMatchObject({ decision: 'deny', observed: true });
    const normal = await call(`${docsUrl}/docs`, reader, 'POST', { 'x-request-id': 'e2e-enforced' });
    expect(normal.status).toBe(403);
    expect((await auditOf('e2e-enforced'))[0]).not.toHaveProperty('observed');
  });

  it('passes the caller token and request id to the next tier, which verifies again; a tenant header never travels', async () => {
    const token = await idp.accessToken('todos:read');
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const answer = await call(`${docsUrl}/docs?with-stock=1`, token, 'GET', { 'x-request-id': 'e2e-chain-1', 'x-tenant-id': 'globex', traceparent });
    expect(answer).toMatchObject({ status: 200, body: { downstream: 200 } });
    expect(seenDownstream.at(-1)).toMatchObject({ tenantHeader: undefined, requestId: 'e2e-chain-1' });
    expect(String(seenDownstream.at(-1)?.traceparent)).toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    let tiers: string[] = [];
    for (let i = 0; i < 100 && tiers.length < 2; i++) {
      tiers = (await auditOf('e2e-chain-1')).map((event) => event.tier).sort();
      if (tiers.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(tiers).toEqual(['docs', 'inventory']);
  });

  // Last: it stops the PDP.
  it('fails closed with 503 once the PDP is stopped, cached or not', async () => {
    const cachedToken = await idp.accessToken('todos:read');
    expect((await call(`${docsUrl}/docs`, cachedToken)).status).toBe(200);
    pdpStopped = true;
    await pdp.close();
    // The change stream dropped with the PDP: the follower made the cache forget.
    for (let i = 0; i < 100 && follower.connected; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(follower.connected).toBe(false);
    expect(await call(`${docsUrl}/docs`, cachedToken)).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(await call(`${docsUrl}/docs`, await idp.accessToken('todos:read'))).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(events.at(-1)).toMatchObject({ status: 503, wouldDeny: true, error: { code: 'ERR_ENFORCE_PDP_UNREACHABLE' } });
  });
});
