import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer, type EnforcerOptions } from '../enforcer.js';
import { EnforceError } from '../errors.js';
import type { Decision, DecisionRequest } from '../types.js';
import { withVerity, type VerityIncomingMessage } from './node-http.js';

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

async function serve(answer: (request: DecisionRequest) => Decision, options: Partial<EnforcerOptions> = {}, rule: Parameters<typeof withVerity>[1] = { route: '/docs/:id' }, adapterOptions: Parameters<typeof withVerity>[3] = {}) {
  const asked: DecisionRequest[] = [];
  const seen: VerityIncomingMessage[] = [];
  const enforcer = createEnforcer({ anyAudience: true, source: { decide: async (request) => (asked.push(request), answer(request)) }, tenant: 'acme', tier: 'docs', ...options });
  const server = createServer(
    withVerity(enforcer, rule, (request, response) => {
      seen.push(request);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
    }, adapterOptions),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const response = await fetch(url + path, { method, headers });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  return { call, asked, seen };
}

const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 4, reasons: ['p'] };

describe('node:http adapter (real sockets)', () => {
  it('runs the handler with request.verity and without identity-claiming headers', async () => {
    const { call, asked, seen } = await serve(() => allow);
    const answer = await call('/docs/7?x=1', { authorization: 'Bearer a.b.c', 'x-tenant-id': 'globex', 'x-user-id': 'root', 'x-request-id': 'req-9', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(answer).toMatchObject({ status: 200, body: { ok: true } });
    expect(answer.headers.get('x-request-id')).toBe('req-9');
    expect(asked[0]).toMatchObject({ token: 'a.b.c', action: 'GET', resource: { type: 'route', id: '/docs/:id' }, requestId: 'req-9' });
    expect(seen[0]?.verity).toEqual({ tenant: 'acme', token: 'a.b.c', caller: null, decisionId: 'dec-1', policyVersion: 4, requestId: 'req-9', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(seen[0]?.headers['x-tenant-id']).toBeUndefined();
    expect(seen[0]?.headers['x-user-id']).toBeUndefined();
    expect(seen[0]?.rawHeaders.map((name) => name.toLowerCase())).not.toContain('x-tenant-id');
    expect(seen[0]?.rawHeaders.map((name) => name.toLowerCase())).toContain('authorization');
  });

  it('reads the peer and the Txn-Token header: context.caller, request.verity.caller and txnToken', async () => {
    // A stand-in for the mTLS helper's peerOf: here the test names the caller per request.
    const peer = (request: IncomingMessage) => {
      const id = request.headers['x-test-peer'];
      return typeof id === 'string' ? { spiffeId: id, authenticated: true, via: 'mtls' as const } : { spiffeId: null, authenticated: false, via: 'none' as const };
    };
    const { call, asked, seen } = await serve(() => allow, {}, { route: '/docs/:id' }, { peer });
    expect((await call('/docs/7', { authorization: 'Bearer a.b.c', 'txn-token': 'txn.tok.en', 'x-test-peer': 'spiffe://acme.internal/orders' })).status).toBe(200);
    expect(asked[0]).toMatchObject({ txnToken: 'txn.tok.en', context: { caller: 'spiffe://acme.internal/orders' } });
    expect(seen[0]?.verity).toMatchObject({ caller: 'spiffe://acme.internal/orders', txnToken: 'txn.tok.en' });
    await call('/docs/7', { authorization: 'Bearer a.b.c' });
    expect(asked[1]?.context).toEqual({ caller: null });
    expect(asked[1]).not.toHaveProperty('txnToken');
  });

  it('refuses a service-to-service route to an unauthenticated caller without asking the PDP', async () => {
    const { call, asked } = await serve(() => allow, { workloadPrincipal: true }, { route: '/docs/:id' }, { peer: () => ({ spiffeId: null, authenticated: false, via: 'none' }) });
    const refused = await call('/docs/7', { authorization: 'Bearer a.b.c' });
    expect(refused).toMatchObject({ status: 401, body: { code: 'ERR_ENFORCE_CALLER_UNAUTHENTICATED', message: expect.stringContaining('workload') } });
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect(asked).toHaveLength(0);
  });

  it('a peer function that throws is a 500 and the handler does not run', async () => {
    const { call, seen } = await serve(() => allow, {}, { route: '/docs/:id' }, { peer: () => { throw new Error('bug'); } });
    expect(await call('/docs/7', { authorization: 'Bearer a.b.c' })).toMatchObject({ status: 500, body: { code: 'ERR_INTERNAL' } });
    expect(seen).toHaveLength(0);
  });

  it('answers 401 with a bearer challenge, 403 and 503 with {code, message}, never running the handler', async () => {
    let answer: () => Decision = () => ({ decision: 'deny', decisionId: 'dec-2', policyVersion: 4, reasons: [] });
    const { call, seen } = await serve(() => answer());
    expect(await call('/docs/7', { authorization: 'Bearer a.b.c' })).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' } });
    const missing = await call('/docs/7');
    expect(missing).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_MISSING' } });
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    answer = () => ({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TOKEN_EXPIRED' });
    const expired = await call('/docs/7', { authorization: 'Bearer a.b.c' });
    expect(expired).toMatchObject({ status: 401, body: { code: 'ERR_TOKEN_EXPIRED' } });
    expect(expired.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', 'slow');
    };
    const unavailable = await call('/docs/7', { authorization: 'Bearer a.b.c' });
    expect(unavailable).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(unavailable.headers.get('retry-after')).toBe('1');
    // An overloaded PDP's Retry-After reaches the client over the socket; its code does not.
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_FAILED', 'the PDP failed (503 ERR_OVERLOADED)', { pdpStatus: 503, pdpCode: 'ERR_OVERLOADED', retryAfterSec: 2 });
    };
    const shed = await call('/docs/7', { authorization: 'Bearer a.b.c' });
    expect(shed).toMatchObject({ status: 503, body: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    expect(shed.headers.get('retry-after')).toBe('2');
    expect(JSON.stringify(shed.body)).not.toContain('ERR_OVERLOADED');
    expect(seen).toHaveLength(0);
  });

  it('applies the rule: action, resource and token functions', async () => {
    const { call, asked } = await serve(() => allow, {}, {
      action: (request: IncomingMessage) => (request.method === 'DELETE' ? 'delete' : 'read'),
      resource: (request: IncomingMessage) => ({ type: 'Doc', id: (request.url ?? '').split('/')[2] ?? '' }),
      token: (request: IncomingMessage) => request.headers['x-api-token'] as string | undefined,
    });
    await call('/docs/42', { 'x-api-token': 'k.e.y' }, 'DELETE');
    expect(asked[0]).toMatchObject({ token: 'k.e.y', action: 'delete', resource: { type: 'Doc', id: '42' } });
  });

  it('observe mode runs the handler for a deny and flags it', async () => {
    const { call, seen } = await serve(() => ({ decision: 'deny', decisionId: 'dec-3', policyVersion: 4, reasons: [] }), { observe: true });
    expect((await call('/docs/7', { authorization: 'Bearer a.b.c' })).status).toBe(200);
    expect(seen[0]?.verity).toMatchObject({ decisionId: 'dec-3', observed: true, wouldDeny: true });
  });

  it('a rule that throws is a 500 and the handler does not run', async () => {
    const { call, seen } = await serve(() => allow, {}, { resource: () => { throw new Error('bug'); } });
    expect(await call('/docs/7', { authorization: 'Bearer a.b.c' })).toMatchObject({ status: 500, body: { code: 'ERR_INTERNAL' } });
    expect(seen).toHaveLength(0);
  });
});

describe('node:http adapter: data-tier receipts', () => {
  it('hands the handler the receipt of its allow in request.verity.receipt, where the rule asks for one', async () => {
    const receipt = { receipt: 'ey.receipt.sig', receiptExpiresAt: Date.now() + 30_000 };
    const { call, asked, seen } = await serve((request) => (request.receipt ? { ...allow, ...receipt } : allow), {}, { route: '/docs/:id', receipt: true });
    expect((await call('/docs/7', { authorization: 'Bearer a.b.c' })).status).toBe(200);
    expect(asked[0]?.receipt).toBe(true);
    expect(seen[0]?.verity.receipt).toBe('ey.receipt.sig');
  });
});
