import express, { type Request } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer } from '../enforcer.js';
import { EnforceError } from '../errors.js';
import { startReceiptPdp } from '../receipt-test-helpers.js';
import { createRemoteDecisionSource } from '../remote-source.js';
import type { Decision, DecisionRequest, DecisionSource } from '../types.js';
import { verity, type VerityRequestIdentity } from './express.js';

const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 4, reasons: ['p'] };
const deny: Decision = { decision: 'deny', decisionId: 'dec-2', policyVersion: 4, reasons: [] };
const SPOOFED = { 'x-tenant-id': 'globex', 'x-verity-subject': 'User::"root"', 'x-user-id': 'root' };
const TOKEN = { authorization: 'Bearer a.b.c' };

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

/**
 * An Express app over a real socket, whose decision source answers what the test says. `mode`:
 * app-wide (`app.use`), on the route, or on a route of a router mounted at `/api`.
 */
async function serve(mode: 'app' | 'route' | 'router', rule: Parameters<typeof verity>[1] = {}) {
  let answer: () => Decision = () => allow;
  const asked: DecisionRequest[] = [];
  const source: DecisionSource = { decide: async (request) => (asked.push(request), answer()) };
  const guard = verity(createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos' }), rule);
  const seen: Array<{ verity: VerityRequestIdentity | undefined; headers: Request['headers']; rawHeaders: string[]; body: unknown }> = [];
  const handle = (req: Request, res: express.Response) => {
    seen.push({ verity: req.verity, headers: req.headers, rawHeaders: req.rawHeaders, body: req.body });
    res.json({ id: req.params.id });
  };
  const app = express();
  app.use(express.json());
  if (mode === 'app') app.use(guard);
  if (mode === 'router') {
    const router = express.Router();
    router.all('/todos/:id', guard, handle);
    app.use('/api', router);
  } else app.all('/todos/:id', ...(mode === 'route' ? [guard] : []), handle);

  const server = await new Promise<Server>((resolve) => {
    const started = app.listen(0, '127.0.0.1', () => resolve(started));
  });
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string, headers: Record<string, string> = TOKEN, init: RequestInit = {}) => {
    const response = await fetch(base + path, { ...init, headers });
    return { status: response.status, body: await response.json(), headers: response.headers };
  };
  return { call, asked, seen, answerWith: (next: () => Decision) => (answer = next) };
}

describe('Express adapter (real sockets)', () => {
  it('on the route: the route template is the resource, req.verity the identity, spoofed headers gone', async () => {
    const { call, asked, seen } = await serve('route');
    const answer = await call('/todos/42?x=1', { ...TOKEN, ...SPOOFED, 'x-request-id': 'req-1', 'content-type': 'application/json' }, { method: 'POST', body: '{"done":true}' });
    expect(answer).toMatchObject({ status: 200, body: { id: '42' } });
    expect(answer.headers.get('x-request-id')).toBe('req-1');
    expect(asked[0]).toMatchObject({ tenant: 'acme', token: 'a.b.c', action: 'POST', resource: { type: 'route', id: '/todos/:id' }, requestId: 'req-1' });
    expect(seen[0]?.verity).toEqual({ tenant: 'acme', token: 'a.b.c', caller: null, decisionId: 'dec-1', policyVersion: 4, requestId: 'req-1' });
    expect(seen[0]?.body).toEqual({ done: true });
    for (const name of Object.keys(SPOOFED)) {
      expect(seen[0]?.headers[name]).toBeUndefined();
      expect(seen[0]?.rawHeaders.map((header) => header.toLowerCase())).not.toContain(name);
    }
    expect(seen[0]?.headers.authorization).toBe('Bearer a.b.c');
  });

  it('in a mounted router: the template includes the mount path', async () => {
    const { call, asked, seen } = await serve('router');
    expect((await call('/api/todos/42')).status).toBe(200);
    expect(asked[0]?.resource).toEqual({ type: 'route', id: '/api/todos/:id' });
    expect(seen[0]?.verity?.decisionId).toBe('dec-1');
  });

  it('app-wide with app.use: Express has not routed yet, so the resource is the path (or rule.route)', async () => {
    const { call, asked, seen } = await serve('app');
    expect((await call('/todos/42?x=1', { ...TOKEN, ...SPOOFED })).status).toBe(200);
    expect(asked[0]?.resource).toEqual({ type: 'route', id: '/todos/42' });
    expect(seen[0]?.verity?.decisionId).toBe('dec-1');
    expect(seen[0]?.headers['x-tenant-id']).toBeUndefined();
    const fixed = await serve('app', { route: '/todos/:id' });
    await fixed.call('/todos/42');
    expect(fixed.asked[0]?.resource).toEqual({ type: 'route', id: '/todos/:id' });
  });

  it('refuses with 403, 401 and 503 (fail closed), a throwing rule is a 500; the handler never runs', async () => {
    const { call, seen, answerWith } = await serve('route');
    answerWith(() => deny);
    expect(await call('/todos/42')).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' } });
    const missing = await call('/todos/42', {});
    expect(missing).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' } });
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    answerWith(() => {
      throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
    });
    expect(await call('/todos/42')).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    const broken = await serve('app', { resource: () => { throw new Error('bug'); } });
    expect(await broken.call('/todos/42')).toMatchObject({ status: 500, body: { code: 'ERR_INTERNAL' } });
    expect([...seen, ...broken.seen]).toHaveLength(0);
  });

  it('applies the rule functions to the Express request', async () => {
    const { call, asked } = await serve('route', {
      action: (req) => (req.method === 'DELETE' ? 'delete' : 'read'),
      resource: (req) => ({ type: 'Todo', id: String(req.params.id) }),
      token: (req) => req.get('x-api-key'),
    });
    await call('/todos/7', { 'x-api-key': 'k.e.y' }, { method: 'DELETE' });
    expect(asked[0]).toMatchObject({ token: 'k.e.y', action: 'delete', resource: { type: 'Todo', id: '7' } });
  });
});

describe('Express adapter: data-tier receipts', () => {
  it('hands the handler the receipt of its allow in req.verity.receipt when the enforcer asks for receipts', async () => {
    const stand = await startReceiptPdp();
    try {
      const enforcer = createEnforcer({ anyAudience: true, receipts: true, source: createRemoteDecisionSource({ url: stand.url }), tenant: 'acme', tier: 'orders' });
      const handled: Array<VerityRequestIdentity | undefined> = [];
      const app = express();
      app.get('/orders/:id', verity(enforcer, { action: 'read' }), (req, res) => (handled.push(req.verity), res.json({ receipt: req.verity?.receipt ?? null })));
      app.post('/orders/:id', verity(enforcer, { action: 'write' }), (req, res) => (handled.push(req.verity), res.json({})));
      const server = await new Promise<Server>((resolve) => {
        const started = app.listen(0, '127.0.0.1', () => resolve(started));
      });
      servers.push(server);
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const allowed = await fetch(`${base}/orders/7`, { headers: TOKEN });
      expect(allowed.status).toBe(200);
      const { receipt } = (await allowed.json()) as { receipt: string };
      expect(handled[0]?.receipt).toBe(receipt);
      const { payload } = await jwtVerify(receipt, stand.key.secret, { typ: 'verity-receipt+jwt' });
      expect(payload).toMatchObject({ tenant: 'acme', action: 'read', resource_type: 'route', resource_id: '/orders/:id', decision_id: handled[0]?.decisionId });
      expect(stand.seen[0]?.options).toEqual({ verity_receipt: true });

      expect((await fetch(`${base}/orders/7`, { method: 'POST', headers: TOKEN })).status).toBe(403);
      stand.mode = 'garbage';
      const unavailable = await fetch(`${base}/orders/8`, { headers: TOKEN });
      expect({ status: unavailable.status, body: await unavailable.json() }).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
      expect(handled).toHaveLength(1);
    } finally {
      await stand.close();
    }
  });
});

describe('Express adapter: workload callers', () => {
  it('asks peer about the request and exposes caller and Txn-Token on req.verity', async () => {
    const asked: DecisionRequest[] = [];
    const enforcer = createEnforcer({ anyAudience: true, source: { decide: async (request) => (asked.push(request), allow) }, tenant: 'acme', tier: 'todos' });
    const peer = (req: Request) => ({ spiffeId: req.socket.remoteAddress === undefined ? null : 'spiffe://acme.internal/web', authenticated: true, via: 'mtls' as const });
    const app = express();
    app.get('/todos/:id', verity(enforcer, {}, { peer }), (req, res) => res.json({ caller: req.verity?.caller, txnToken: req.verity?.txnToken }));
    const server = await new Promise<Server>((resolve) => {
      const started = app.listen(0, '127.0.0.1', () => resolve(started));
    });
    servers.push(server);
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/todos/1`, { headers: { ...TOKEN, 'txn-token': 'txn.tok.en' } });
    expect(await response.json()).toEqual({ caller: 'spiffe://acme.internal/web', txnToken: 'txn.tok.en' });
    expect(asked[0]).toMatchObject({ txnToken: 'txn.tok.en', context: { caller: 'spiffe://acme.internal/web' } });
  });
});
