import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer } from '../enforcer.js';
import { EnforceError } from '../errors.js';
import { startReceiptPdp } from '../receipt-test-helpers.js';
import { createRemoteDecisionSource } from '../remote-source.js';
import type { Decision, DecisionRequest, DecisionSource } from '../types.js';
import { verityPlugin, verityPreHandler, type VerityRequestIdentity } from './fastify.js';

const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 4, reasons: ['p'] };
const deny: Decision = { decision: 'deny', decisionId: 'dec-2', policyVersion: 4, reasons: [] };
const SPOOFED = { 'x-tenant-id': 'globex', 'x-verity-subject': 'User::"root"', 'x-user-id': 'root' };
const TOKEN = { authorization: 'Bearer a.b.c' };

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/**
 * A Fastify app whose decision source answers what the test says. `mode`: the plugin (every
 * route, under the `/api` prefix) or a preHandler on the route.
 */
async function setup(mode: 'plugin' | 'route', rule: Parameters<typeof verityPreHandler>[1] = {}) {
  let answer: () => Decision = () => allow;
  const asked: DecisionRequest[] = [];
  const source: DecisionSource = { decide: async (request) => (asked.push(request), answer()) };
  const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos' });
  const seen: Array<{ verity: VerityRequestIdentity | undefined; headers: FastifyRequest['headers']; rawHeaders: string[]; body: unknown }> = [];
  const app = Fastify();
  apps.push(app);
  const handle = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    seen.push({ verity: request.verity, headers: request.headers, rawHeaders: request.raw.rawHeaders, body: request.body });
    return { id: request.params.id };
  };
  if (mode === 'plugin') {
    await app.register(verityPlugin(enforcer, rule));
    await app.register(async (api) => api.route({ method: ['GET', 'POST'], url: '/todos/:id', handler: handle }), { prefix: '/api' });
  } else {
    app.decorateRequest('verity', undefined);
    app.route({ method: ['GET', 'POST'], url: '/todos/:id', preHandler: verityPreHandler(enforcer, rule), handler: handle });
  }
  await app.ready();
  return { app, asked, seen, answerWith: (next: () => Decision) => (answer = next) };
}

describe('Fastify adapter (inject)', () => {
  it('as a preHandler on the route: the route template is the resource, request.verity the identity, spoofed headers gone', async () => {
    const { app, asked, seen } = await setup('route');
    const response = await app.inject({ method: 'POST', url: '/todos/42?x=1', headers: { ...TOKEN, ...SPOOFED, 'x-request-id': 'req-1' }, payload: { done: true } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id: '42' });
    expect(response.headers['x-request-id']).toBe('req-1');
    expect(asked[0]).toMatchObject({ tenant: 'acme', token: 'a.b.c', action: 'POST', resource: { type: 'route', id: '/todos/:id' }, requestId: 'req-1' });
    expect(seen[0]?.verity).toEqual({ tenant: 'acme', token: 'a.b.c', caller: null, decisionId: 'dec-1', policyVersion: 4, requestId: 'req-1' });
    expect(seen[0]?.body).toEqual({ done: true });
    for (const name of Object.keys(SPOOFED)) {
      expect(seen[0]?.headers[name]).toBeUndefined();
      expect(seen[0]?.rawHeaders.map((header) => header.toLowerCase())).not.toContain(name);
    }
    expect(seen[0]?.headers.authorization).toBe('Bearer a.b.c');
  });

  it('as a plugin: every route is enforced, the template includes the prefix', async () => {
    const { app, asked, seen } = await setup('plugin');
    expect((await app.inject({ url: '/api/todos/42', headers: TOKEN })).statusCode).toBe(200);
    expect(asked[0]?.resource).toEqual({ type: 'route', id: '/api/todos/:id' });
    expect(seen[0]?.verity?.decisionId).toBe('dec-1');
  });

  it('refuses with 403, 401 and 503 (fail closed), a throwing rule is a 500; the handler never runs', async () => {
    const { app, seen, answerWith } = await setup('plugin');
    const call = async (headers: Record<string, string> = TOKEN) => {
      const response = await app.inject({ url: '/api/todos/42', headers });
      return { status: response.statusCode, body: response.json(), challenge: response.headers['www-authenticate'], store: response.headers['cache-control'] };
    };
    answerWith(() => deny);
    expect(await call()).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' }, store: 'no-store' });
    expect(await call({})).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' }, challenge: 'Bearer' });
    answerWith(() => {
      throw new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', 'slow');
    });
    expect(await call()).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    const broken = await setup('route', { context: () => { throw new Error('bug'); } });
    const failed = await broken.app.inject({ url: '/todos/42', headers: TOKEN });
    expect({ status: failed.statusCode, body: failed.json() }).toMatchObject({ status: 500, body: { code: 'ERR_INTERNAL' } });
    expect([...seen, ...broken.seen]).toHaveLength(0);
  });

  it('applies the rule functions to the Fastify request', async () => {
    const { app, asked } = await setup('route', {
      action: (request) => (request.method === 'POST' ? 'update' : 'read'),
      resource: (request) => ({ type: 'Todo', id: (request.params as { id: string }).id }),
      token: (request) => request.headers['x-api-key'] as string | undefined,
    });
    await app.inject({ method: 'POST', url: '/todos/7', headers: { 'x-api-key': 'k.e.y' }, payload: {} });
    expect(asked[0]).toMatchObject({ token: 'k.e.y', action: 'update', resource: { type: 'Todo', id: '7' } });
  });
});

describe('Fastify adapter (real socket)', () => {
  it('enforces over HTTP: allow with identity and without spoofed headers, 403, 401, 503', async () => {
    const { app, asked, seen, answerWith } = await setup('plugin');
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const allowed = await fetch(`${url}/api/todos/42`, { headers: { ...TOKEN, ...SPOOFED } });
    expect({ status: allowed.status, body: await allowed.json() }).toEqual({ status: 200, body: { id: '42' } });
    expect(asked[0]).toMatchObject({ action: 'GET', resource: { type: 'route', id: '/api/todos/:id' } });
    expect(seen[0]?.verity).toMatchObject({ tenant: 'acme', token: 'a.b.c', decisionId: 'dec-1' });
    for (const name of Object.keys(SPOOFED)) expect(seen[0]?.headers[name]).toBeUndefined();

    answerWith(() => deny);
    expect((await fetch(`${url}/api/todos/42`, { headers: TOKEN })).status).toBe(403);
    expect((await fetch(`${url}/api/todos/42`)).status).toBe(401);
    answerWith(() => {
      throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
    });
    const unavailable = await fetch(`${url}/api/todos/42`, { headers: TOKEN });
    expect({ status: unavailable.status, body: await unavailable.json() }).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(seen).toHaveLength(1);
  });
});

describe('Fastify adapter: data-tier receipts', () => {
  it('hands the route the receipt of its allow in request.verity.receipt, only where the rule asks; a deny runs no handler', async () => {
    const stand = await startReceiptPdp();
    try {
      const enforcer = createEnforcer({ anyAudience: true, source: createRemoteDecisionSource({ url: stand.url }), tenant: 'acme', tier: 'orders' });
      const app = Fastify();
      apps.push(app);
      app.decorateRequest('verity', undefined);
      const handled: Array<VerityRequestIdentity | undefined> = [];
      const handler = async (request: FastifyRequest) => (handled.push(request.verity), { receipt: request.verity?.receipt ?? null });
      app.get('/orders/:id', { preHandler: verityPreHandler(enforcer, { action: 'read', receipt: true }) }, handler);
      app.post('/orders/:id', { preHandler: verityPreHandler(enforcer, { action: 'write', receipt: true }) }, handler);
      app.get('/health', { preHandler: verityPreHandler(enforcer, { action: 'read' }) }, handler);
      const url = await app.listen({ port: 0, host: '127.0.0.1' });

      const allowed = await fetch(`${url}/orders/7`, { headers: TOKEN });
      expect(allowed.status).toBe(200);
      const { receipt } = (await allowed.json()) as { receipt: string };
      expect(handled[0]?.receipt).toBe(receipt);
      const { payload } = await jwtVerify(receipt, stand.key.secret, { typ: 'verity-receipt+jwt' });
      expect(payload).toMatchObject({ tenant: 'acme', action: 'read', resource_type: 'route', resource_id: '/orders/:id', decision_id: handled[0]?.decisionId });
      expect(stand.seen[0]?.options).toEqual({ verity_receipt: true });

      expect(await (await fetch(`${url}/health`, { headers: TOKEN })).json()).toEqual({ receipt: null });
      expect(stand.seen[1]).not.toHaveProperty('options');

      expect((await fetch(`${url}/orders/7`, { method: 'POST', headers: TOKEN })).status).toBe(403);
      stand.mode = 'key-missing';
      const unavailable = await fetch(`${url}/orders/8`, { headers: TOKEN });
      expect({ status: unavailable.status, body: await unavailable.json() }).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
      expect(handled).toHaveLength(2);
    } finally {
      await stand.close();
    }
  });
});

describe('Fastify adapter: workload callers', () => {
  it('gives peer the node request, and the decision and request.verity the caller and Txn-Token', async () => {
    const asked: DecisionRequest[] = [];
    const enforcer = createEnforcer({ anyAudience: true, source: { decide: async (request) => (asked.push(request), allow) }, tenant: 'acme', tier: 'todos' });
    const peers: unknown[] = [];
    const app = Fastify();
    apps.push(app);
    app.decorateRequest('verity', undefined);
    const peer = (raw: import('node:http').IncomingMessage) => (peers.push(raw), { spiffeId: 'spiffe://acme.internal/orders', authenticated: true, via: 'mtls' as const });
    app.get('/todos/:id', { preHandler: verityPreHandler(enforcer, {}, { peer }) }, async (request) => ({ caller: request.verity?.caller, txnToken: request.verity?.txnToken }));
    const answer = await app.inject({ url: '/todos/1', headers: { ...TOKEN, 'txn-token': 'txn.tok.en' } });
    expect(answer.json()).toEqual({ caller: 'spiffe://acme.internal/orders', txnToken: 'txn.tok.en' });
    expect(asked[0]).toMatchObject({ txnToken: 'txn.tok.en', context: { caller: 'spiffe://acme.internal/orders' } });
    expect(peers[0]).toHaveProperty('socket');
  });
});
