import { serve, type HttpBindings, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer } from '../enforcer.js';
import { EnforceError } from '../errors.js';
import type { Decision, DecisionRequest, DecisionSource } from '../types.js';
import { verity, type VerityEnv, type VerityRequestIdentity } from './hono.js';

const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 4, reasons: ['p'] };
const deny: Decision = { decision: 'deny', decisionId: 'dec-2', policyVersion: 4, reasons: [] };
const SPOOFED = { 'x-tenant-id': 'globex', 'x-verity-subject': 'User::"root"', 'x-user-id': 'root' };
const TOKEN = { authorization: 'Bearer a.b.c' };

interface Seen {
  verity: VerityRequestIdentity;
  headers: Record<string, string>;
  /** The node request's headers, on @hono/node-server. */
  incoming?: Record<string, unknown>;
  rawIncoming?: string[];
}

/** An app whose decision source answers what the test says; `mode` mounts the middleware app-wide or per route. */
function setup(mode: 'app' | 'route', rule: Parameters<typeof verity>[1] = {}) {
  let answer: () => Decision = () => allow;
  const asked: DecisionRequest[] = [];
  const source: DecisionSource = { decide: async (request) => (asked.push(request), answer()) };
  const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos' });
  const seen: Seen[] = [];
  const app = new Hono<VerityEnv & { Bindings: Partial<HttpBindings> }>();
  const guard = verity(enforcer, rule);
  if (mode === 'app') app.use('*', guard);
  const handle = async (c: Context<VerityEnv & { Bindings: Partial<HttpBindings> }, '/todos/:id'>) => {
    const incoming = c.env?.incoming;
    seen.push({ verity: c.get('verity'), headers: c.req.header(), ...(incoming ? { incoming: { ...incoming.headers }, rawIncoming: incoming.rawHeaders } : {}) });
    return c.json({ id: c.req.param('id'), body: c.req.method === 'POST' ? await c.req.text() : null });
  };
  if (mode === 'route') app.on(['GET', 'POST'], '/todos/:id', guard, handle);
  else app.on(['GET', 'POST'], '/todos/:id', handle);
  return { app, asked, seen, answerWith: (next: () => Decision) => (answer = next) };
}

const servers: ServerType[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

describe('Hono adapter (app.request / app.fetch)', () => {
  for (const mode of ['app', 'route'] as const) {
    it(`mounted ${mode === 'app' ? "app-wide with app.use('*')" : 'on the route'}: the route template is the resource, c.get('verity') the identity`, async () => {
      const { app, asked, seen } = setup(mode);
      const response = await app.request('/todos/42?x=1', { headers: { ...TOKEN, ...SPOOFED, 'x-request-id': 'req-1' } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ id: '42', body: null });
      expect(response.headers.get('x-request-id')).toBe('req-1');
      expect(asked[0]).toMatchObject({ token: 'a.b.c', action: 'GET', resource: { type: 'route', id: '/todos/:id' }, requestId: 'req-1' });
      expect(seen[0]?.verity).toEqual({ tenant: 'acme', token: 'a.b.c', caller: null, decisionId: 'dec-1', policyVersion: 4, requestId: 'req-1' });
      for (const name of Object.keys(SPOOFED)) expect(seen[0]?.headers[name]).toBeUndefined();
      expect(seen[0]?.headers.authorization).toBe('Bearer a.b.c');
    });
  }

  it('refuses with 403, 401 and 503 on app.fetch, and a throwing rule is a 500; the handler never runs', async () => {
    const { app, seen, answerWith } = setup('app');
    const call = async (headers: Record<string, string> = TOKEN) => {
      const response = await app.fetch(new Request('http://svc/todos/42', { headers }));
      return { status: response.status, body: await response.json(), challenge: response.headers.get('www-authenticate') };
    };
    answerWith(() => deny);
    expect(await call()).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' } });
    expect(await call({})).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' }, challenge: 'Bearer' });
    answerWith(() => {
      throw new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', 'slow');
    });
    expect(await call()).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    const broken = setup('route', { action: () => { throw new Error('bug'); } });
    expect((await broken.app.request('/todos/42', { headers: TOKEN })).status).toBe(500);
    expect([...seen, ...broken.seen]).toHaveLength(0);
  });

  it('applies the rule functions to the Hono context', async () => {
    const { app, asked } = setup('route', {
      action: (c) => (c.req.method === 'POST' ? 'update' : 'read'),
      resource: (c) => ({ type: 'Todo', id: c.req.param('id') ?? '' }),
      token: (c) => c.req.header('x-api-key'),
    });
    expect((await app.request('/todos/7', { method: 'POST', body: 'x', headers: { 'x-api-key': 'k.e.y' } })).status).toBe(200);
    expect(asked[0]).toMatchObject({ token: 'k.e.y', action: 'update', resource: { type: 'Todo', id: '7' } });
  });
});

describe('Hono adapter (real socket, @hono/node-server)', () => {
  it('enforces over HTTP and strips spoofed headers from c.req and c.env.incoming', async () => {
    const { app, asked, seen, answerWith } = setup('app');
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const allowed = await fetch(`${url}/todos/42`, { method: 'POST', body: 'hello', headers: { ...TOKEN, ...SPOOFED } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ id: '42', body: 'hello' });
    expect(asked[0]).toMatchObject({ action: 'POST', resource: { type: 'route', id: '/todos/:id' } });
    expect(seen[0]?.verity).toMatchObject({ tenant: 'acme', token: 'a.b.c', decisionId: 'dec-1' });
    expect(seen[0]?.incoming).toBeDefined();
    for (const name of Object.keys(SPOOFED)) {
      expect(seen[0]?.headers[name]).toBeUndefined();
      expect(seen[0]?.incoming?.[name]).toBeUndefined();
      expect(seen[0]?.rawIncoming?.map((header) => header.toLowerCase())).not.toContain(name);
    }

    answerWith(() => deny);
    expect((await fetch(`${url}/todos/42`, { headers: TOKEN })).status).toBe(403);
    expect((await fetch(`${url}/todos/42`)).status).toBe(401);
    answerWith(() => {
      throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
    });
    expect((await fetch(`${url}/todos/42`, { headers: TOKEN })).status).toBe(503);
    expect(seen).toHaveLength(1);
  });
});

describe('Hono adapter: data-tier receipts', () => {
  it("hands the handler the receipt of its allow in c.get('verity').receipt, where the rule asks for one", async () => {
    const { app, asked, seen, answerWith } = setup('route', { receipt: true });
    answerWith(() => ({ ...allow, receipt: 'ey.receipt.sig', receiptExpiresAt: Date.now() + 30_000 }));
    expect((await app.request('/todos/1', { headers: TOKEN })).status).toBe(200);
    expect(asked[0]?.receipt).toBe(true);
    expect(seen[0]?.verity.receipt).toBe('ey.receipt.sig');
  });
});

describe('Hono adapter: workload callers', () => {
  it('asks peer about the context and forwards the Txn-Token header', async () => {
    const asked: DecisionRequest[] = [];
    const enforcer = createEnforcer({ anyAudience: true, source: { decide: async (request) => (asked.push(request), allow) }, tenant: 'acme', tier: 'todos' });
    const app = new Hono<VerityEnv>();
    const peer = (c: Context) => ({ spiffeId: c.req.header('x-test-peer') ?? null, authenticated: c.req.header('x-test-peer') !== undefined, via: 'xfcc' as const });
    app.get('/todos/:id', verity(enforcer, {}, { peer }), (c) => c.json({ caller: c.get('verity').caller, txnToken: c.get('verity').txnToken }));
    const answer = await app.request('/todos/1', { headers: { ...TOKEN, 'txn-token': 'txn.tok.en', 'x-test-peer': 'spiffe://acme.internal/web' } });
    expect(await answer.json()).toEqual({ caller: 'spiffe://acme.internal/web', txnToken: 'txn.tok.en' });
    expect(asked[0]).toMatchObject({ txnToken: 'txn.tok.en', context: { caller: 'spiffe://acme.internal/web' } });
  });
});
