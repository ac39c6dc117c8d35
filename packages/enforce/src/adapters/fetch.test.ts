import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer, type EnforcerOptions } from '../enforcer.js';
import { EnforceError } from '../errors.js';
import type { Decision, DecisionRequest, DecisionSource } from '../types.js';
import { verityFetch, type VerityRequestIdentity } from './fetch.js';

const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 4, reasons: ['p'] };
const deny: Decision = { decision: 'deny', decisionId: 'dec-2', policyVersion: 4, reasons: [] };
const SPOOFED = { 'x-tenant-id': 'globex', 'x-verity-subject': 'User::"root"', 'x-user-id': 'root' };

/** A decision source answering what the test says, recording what it was asked. */
function fakeSource(answer: (request: DecisionRequest) => Decision) {
  const asked: DecisionRequest[] = [];
  const source: DecisionSource = { decide: async (request) => (asked.push(request), answer(request)) };
  return { source, asked };
}

function setup(answer: (request: DecisionRequest) => Decision, rule: Parameters<typeof verityFetch>[1] = { route: '/todos/:id' }, options: Partial<EnforcerOptions> = {}) {
  const { source, asked } = fakeSource(answer);
  const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos', ...options });
  const seen: Array<{ request: Request; verity: VerityRequestIdentity; body: string; env: unknown }> = [];
  const handler = verityFetch(enforcer, rule, async (request, verity, env: unknown) => {
    seen.push({ request, verity, body: await request.text(), env });
    return Response.json({ ok: true });
  });
  return { handler, asked, seen };
}

const servers: ServerType[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

describe('fetch core (no socket)', () => {
  it('passes a stripped copy of the request, the identity and the extra arguments to the handler', async () => {
    const { handler, asked, seen } = setup(() => allow);
    const response = await handler(new Request('http://svc/todos/42?x=1', { method: 'POST', body: 'hello', headers: { authorization: 'Bearer a.b.c', 'x-request-id': 'req-1', ...SPOOFED } }), { binding: 1 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(asked[0]).toMatchObject({ tenant: 'acme', token: 'a.b.c', action: 'POST', resource: { type: 'route', id: '/todos/:id' }, requestId: 'req-1' });
    expect(seen[0]?.verity).toEqual({ tenant: 'acme', token: 'a.b.c', caller: null, decisionId: 'dec-1', policyVersion: 4, requestId: 'req-1' });
    expect(seen[0]?.body).toBe('hello');
    expect(seen[0]?.env).toEqual({ binding: 1 });
    for (const name of Object.keys(SPOOFED)) expect(seen[0]?.request.headers.has(name)).toBe(false);
    expect(seen[0]?.request.headers.get('authorization')).toBe('Bearer a.b.c');
  });

  it('answers 401, 403, 503 and 500 with {code, message} and never runs the handler', async () => {
    let answer: () => Decision = () => deny;
    const { handler, seen } = setup(() => answer());
    const call = async (headers: Record<string, string> = { authorization: 'Bearer a.b.c' }) => {
      const response = await handler(new Request('http://svc/todos/42', { headers }), undefined);
      return { status: response.status, body: await response.json(), challenge: response.headers.get('www-authenticate'), type: response.headers.get('content-type'), retryAfter: response.headers.get('retry-after') };
    };
    expect(await call()).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' }, type: 'application/json' });
    expect(await call({})).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' }, challenge: 'Bearer' });
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
    };
    expect(await call()).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' }, retryAfter: '1' });
    // An overloaded PDP's Retry-After is passed on to the client; its code is not.
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_FAILED', 'the PDP failed (503 ERR_OVERLOADED)', { pdpStatus: 503, pdpCode: 'ERR_OVERLOADED', retryAfterSec: 3 });
    };
    expect(await call()).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' }, retryAfter: '3' });
    const broken = setup(() => allow, { resource: () => { throw new Error('bug'); } });
    const response = await broken.handler(new Request('http://svc/todos/42', { headers: { authorization: 'Bearer a.b.c' } }), undefined);
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 500, body: { code: 'ERR_INTERNAL', message: 'the authorization rule failed' } });
    expect([...seen, ...broken.seen]).toHaveLength(0);
  });

  it('without rule.route the resource id is the path', async () => {
    const { handler, asked } = setup(() => allow, {});
    await handler(new Request('http://svc/todos/42?x=1', { headers: { authorization: 'Bearer a.b.c' } }), undefined);
    expect(asked[0]?.resource).toEqual({ type: 'route', id: '/todos/42' });
  });

  it('adds x-request-id to a response whose headers are immutable', async () => {
    const { source } = fakeSource(() => allow);
    const handler = verityFetch(createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos' }), {}, () => Response.redirect('http://svc/elsewhere', 302));
    const response = await handler(new Request('http://svc/old', { headers: { authorization: 'Bearer a.b.c', 'x-request-id': 'req-2' } }));
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://svc/elsewhere');
    expect(response.headers.get('x-request-id')).toBe('req-2');
  });
});

describe('fetch core (real socket, @hono/node-server)', () => {
  async function listen(handler: (request: Request) => Promise<Response>): Promise<string> {
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('allows with the identity, refuses with 403/401/503, strips spoofed headers', async () => {
    let answer: () => Decision = () => allow;
    const { handler, asked, seen } = setup(() => answer());
    const url = await listen((request) => handler(request, undefined));
    const allowed = await fetch(`${url}/todos/42`, { method: 'PUT', body: '{"done":true}', headers: { authorization: 'Bearer a.b.c', ...SPOOFED } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ ok: true });
    expect(asked[0]).toMatchObject({ action: 'PUT', resource: { type: 'route', id: '/todos/:id' } });
    expect(seen[0]?.verity).toMatchObject({ tenant: 'acme', token: 'a.b.c', decisionId: 'dec-1' });
    expect(seen[0]?.body).toBe('{"done":true}');
    for (const name of Object.keys(SPOOFED)) expect(seen[0]?.request.headers.has(name)).toBe(false);

    answer = () => deny;
    expect((await fetch(`${url}/todos/42`, { headers: { authorization: 'Bearer a.b.c' } })).status).toBe(403);
    expect((await fetch(`${url}/todos/42`)).status).toBe(401);
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', 'slow');
    };
    const unavailable = await fetch(`${url}/todos/42`, { headers: { authorization: 'Bearer a.b.c' } });
    expect({ status: unavailable.status, body: await unavailable.json() }).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(seen).toHaveLength(1);
  });
});

describe('fetch core: data-tier receipts', () => {
  it('hands the handler the receipt of its allow in verity.receipt when the enforcer asks for receipts', async () => {
    const receipt = { receipt: 'ey.receipt.sig', receiptExpiresAt: Date.now() + 30_000 };
    const { handler, asked, seen } = setup((request) => (request.receipt ? { ...allow, ...receipt } : allow), { route: '/todos/:id' }, { receipts: true });
    expect((await handler(new Request('http://svc/todos/1', { headers: { authorization: 'Bearer a.b.c' } }), undefined)).status).toBe(200);
    expect(asked[0]?.receipt).toBe(true);
    expect(seen[0]?.verity.receipt).toBe('ey.receipt.sig');
  });
});

describe('fetch core: workload callers', () => {
  it('asks peer about the request and forwards the Txn-Token header', async () => {
    const { source, asked } = fakeSource(() => allow);
    const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'todos' });
    const seen: VerityRequestIdentity[] = [];
    const handler = verityFetch(enforcer, { route: '/todos/:id' }, async (_request, verity) => (seen.push(verity), Response.json({ ok: true })), {
      peer: (request) => ({ spiffeId: request.headers.get('x-test-peer'), authenticated: request.headers.has('x-test-peer'), via: 'xfcc' }),
    });
    await handler(new Request('http://svc/todos/1', { headers: { authorization: 'Bearer a.b.c', 'txn-token': 'txn.tok.en', 'x-test-peer': 'spiffe://acme.internal/web' } }));
    expect(asked[0]).toMatchObject({ txnToken: 'txn.tok.en', context: { caller: 'spiffe://acme.internal/web' } });
    expect(seen[0]).toMatchObject({ caller: 'spiffe://acme.internal/web', txnToken: 'txn.tok.en' });
  });
});
