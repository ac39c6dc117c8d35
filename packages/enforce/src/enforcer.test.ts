import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDecisionCache } from './decision-cache.js';
import { createEnforcer, type DecisionEvent, type EnforcerOptions } from './enforcer.js';
import { EnforceError } from './errors.js';
import { createRemoteDecisionSource } from './remote-source.js';
import { startReceiptPdp, type ReceiptPdp } from './receipt-test-helpers.js';
import type { Decision, DecisionRequest, DecisionSource } from './types.js';

const TOKEN = 'aaa.bbb.ccc';
const RESOURCE = { type: 'Doc', id: 'd1' };
const allow: Decision = { decision: 'allow', decisionId: 'dec-1', policyVersion: 1, reasons: ['p'] };
const deny: Decision = { decision: 'deny', decisionId: 'dec-2', policyVersion: 1, reasons: [] };

/** A source that answers from a function and records what it was asked. */
function fakeSource(answer: (request: DecisionRequest) => Decision | Promise<Decision>) {
  const asked: DecisionRequest[] = [];
  const source: DecisionSource = { decide: async (request) => (asked.push(request), answer(request)) };
  return { source, asked };
}

function enforcer(source: DecisionSource, options: Partial<EnforcerOptions> = {}) {
  const events: DecisionEvent[] = [];
  return { events, enforcer: createEnforcer({ ...(options.audience === undefined ? { anyAudience: true } : {}), source, tenant: 'acme', tier: 'orders', onDecision: (event) => events.push(event), ...options }) };
}

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

describe('enforcer', () => {
  it('denies every token when it has no audience to bind it to, unless told to take any audience', async () => {
    const { source, asked } = fakeSource(() => allow);
    const strict = createEnforcer({ source, tenant: 'acme', tier: 'orders' });
    const refused = await strict.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
    expect(refused).toMatchObject({ allowed: false, status: 401, decision: { decision: 'deny', code: 'ERR_TOKEN_AUDIENCE' } });
    expect(asked).toHaveLength(0);
    // A subject (no token) has no audience to bind.
    expect((await strict.enforce({ subject: { type: 'User', id: 'alice' }, action: 'read', resource: RESOURCE })).allowed).toBe(true);
    const loose = createEnforcer({ source, tenant: 'acme', tier: 'orders', anyAudience: true });
    expect((await loose.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).allowed).toBe(true);
    expect(() => createEnforcer({ source, tenant: 'acme', tier: 'orders', anyAudience: true, audience: 'x' })).toThrow(TypeError);
  });

  it('allows with 200 and passes the identity on; denies with 403', async () => {
    const { source, asked } = fakeSource((request) => (request.action === 'read' ? allow : deny));
    const { enforcer: e } = enforcer(source, { audience: 'https://api.example' });
    const allowed = await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE, requestId: 'req-1' });
    expect(allowed).toMatchObject({ allowed: true, status: 200, requestId: 'req-1', decision: allow, identity: { tenant: 'acme', token: TOKEN, decisionId: 'dec-1', policyVersion: 1, requestId: 'req-1' } });
    expect(asked[0]).toEqual({ tenant: 'acme', token: TOKEN, audience: 'https://api.example', action: 'read', resource: RESOURCE, context: { caller: null }, requestId: 'req-1', tier: 'orders' });
    const denied = await e.enforce({ token: TOKEN, action: 'write', resource: RESOURCE });
    expect(denied).toMatchObject({ allowed: false, status: 403, decision: deny });
    expect(denied.identity).toBeUndefined();
  });

  it('a refused token is 401; no token and no subject is 401 without asking', async () => {
    const { source, asked } = fakeSource(() => ({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TOKEN_REVOKED' }));
    const { enforcer: e } = enforcer(source);
    expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 401, decision: { code: 'ERR_TOKEN_REVOKED' } });
    expect(await e.enforce({ action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 401, decision: { code: 'ERR_TOKEN_MISSING' } });
    expect(asked).toHaveLength(1);
  });

  it('decides a subject when there is no token, and replaces a malformed request id', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source);
    const result = await e.enforce({ subject: { type: 'Service', id: 'billing' }, action: 'read', resource: RESOURCE, requestId: 'bad id\n' });
    expect(result.identity?.subject).toEqual({ type: 'Service', id: 'billing' });
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(asked[0]?.subject).toEqual({ type: 'Service', id: 'billing' });
    expect(asked[0]?.token).toBeUndefined();
  });

  it('answers a second identical request from the cache, and asks again after invalidation', async () => {
    const { source, asked } = fakeSource(() => allow);
    const cache = createDecisionCache();
    const { enforcer: e, events } = enforcer(source, { cache });
    await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE, context: { x: 1 } });
    await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE, context: { x: 1 } });
    expect(asked).toHaveLength(1);
    expect(events.map((event) => event.cached)).toEqual([false, true]);
    cache.invalidateTenant('acme');
    await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE, context: { x: 1 } });
    expect(asked).toHaveLength(2);
  });

  it('reuses a decision only until the PDP\'s cacheUntil (the risk signals it read age then)', async () => {
    let clock = 1_000_000;
    const { source, asked } = fakeSource(() => ({ ...allow, cacheUntil: 1_005_000 }));
    const cache = createDecisionCache({ ttlMs: 60_000, now: () => clock });
    const { enforcer: e, events } = enforcer(source, { cache });
    const ask = () => e.enforce({ subject: { type: 'User', id: 'alice' }, action: 'read', resource: RESOURCE });
    await ask();
    clock = 1_004_999;
    await ask();
    expect(asked).toHaveLength(1);
    clock = 1_005_000;
    await ask();
    expect(asked).toHaveLength(2);
    expect(events.map((event) => event.cached)).toEqual([false, true, false]);
    // Already past: never kept.
    clock = 1_006_000;
    await ask();
    await ask();
    expect(asked).toHaveLength(4);
  });

  it('reports every decision without the token', async () => {
    const { source } = fakeSource(() => allow);
    const { enforcer: e, events } = enforcer(source);
    await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
    expect(events[0]).toMatchObject({ tenant: 'acme', principal: 'token', allowed: true, status: 200, wouldDeny: false, observed: false, failedOpen: false });
    expect(JSON.stringify(events[0])).not.toContain(TOKEN);
  });

  describe('fails closed', () => {
    const pep = (url: string, options: Partial<EnforcerOptions> = {}) => enforcer(createRemoteDecisionSource({ url, timeoutMs: 200 }), options);

    it('when the PDP stalls past the timeout', async () => {
      const server = createServer(() => {
        /* accepts, never answers */
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(() => (server.closeAllConnections(), server.close()));
      const { enforcer: e, events } = pep(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const result = await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
      expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_TIMEOUT' } });
      expect(events[0]).toMatchObject({ wouldDeny: true, allowed: false, status: 503 });
    });

    it('when the PDP is closed (connection refused)', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const result = await pep(url).enforcer.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
      expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_UNREACHABLE' } });
    });

    it('when the PDP answers 5xx', async () => {
      const server = createServer((_request, response) => response.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"ERR_INTERNAL","message":"bug"}'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(() => server.close());
      // A budget no loaded machine runs out of: the answer (a 5xx, after the retries), not the clock, decides.
      const source = createRemoteDecisionSource({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 30_000, retryBackoff: { initialMs: 1, maxMs: 5 } });
      const result = await enforcer(source).enforcer.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
      expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_FAILED' } });
    });

    it('when a source throws something that is not an EnforceError', async () => {
      const { enforcer: e } = enforcer({ decide: () => Promise.reject(new Error('boom')) });
      expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_UNAVAILABLE' } });
    });

    it('and does not cache the failure', async () => {
      let down = true;
      const { source, asked } = fakeSource(() => {
        if (down) throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
        return allow;
      });
      const { enforcer: e } = enforcer(source, { cache: createDecisionCache() });
      expect((await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).status).toBe(503);
      down = false;
      expect((await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).status).toBe(200);
      expect(asked).toHaveLength(2);
    });
  });

  it('fails open only when told to, and says so', async () => {
    const { enforcer: e, events } = enforcer({ decide: () => Promise.reject(new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', 'slow')) }, { failMode: 'open' });
    const result = await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
    expect(result).toMatchObject({ allowed: true, status: 200, error: { code: 'ERR_ENFORCE_PDP_TIMEOUT' }, identity: { token: TOKEN, decisionId: null } });
    expect(events[0]).toMatchObject({ failedOpen: true, wouldDeny: false });
  });

  it('observe mode decides but lets a deny, a refused token and an outage through, flagged', async () => {
    let answer: () => Decision = () => deny;
    const { source, asked } = fakeSource(() => answer());
    const { enforcer: e, events } = enforcer(source, { observe: true });
    expect(await e.enforce({ token: TOKEN, action: 'write', resource: RESOURCE })).toMatchObject({ allowed: true, status: 200, observed: true, wouldDeny: true, decision: deny, identity: { decisionId: 'dec-2' } });
    answer = () => allow;
    expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: true, observed: true, wouldDeny: false });
    answer = () => {
      throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'down');
    };
    expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: true, observed: true, wouldDeny: true });
    expect(asked).toHaveLength(3);
    expect(events.map((event) => event.wouldDeny)).toEqual([true, false, true]);
    expect(events.every((event) => event.observed && event.allowed)).toBe(true);
  });

  it('a throwing onDecision does not change the answer', async () => {
    const e = createEnforcer({ anyAudience: true, source: fakeSource(() => allow).source, tenant: 'acme', tier: 'orders', onDecision: () => { throw new Error('logger down'); } });
    expect((await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).allowed).toBe(true);
  });

  it('refuses bad options at construction', () => {
    const { source } = fakeSource(() => allow);
    expect(() => createEnforcer({ source, tenant: 'acme', tier: 'has space' })).toThrow(TypeError);
    expect(() => createEnforcer({ source, tenant: 'Not A Tenant', tier: 't' })).toThrow(TypeError);
    expect(() => createEnforcer({ source, tenant: 'acme', tier: 't', failMode: 'maybe' as never })).toThrow(TypeError);
    expect(() => createEnforcer({ source, tenant: 'acme', tier: 't', failOpen: true } as never)).toThrow(TypeError);
    expect(() => createEnforcer({ source, tenant: 'acme', tier: 't', receipts: 'yes' as never })).toThrow(TypeError);
  });
});

describe('enforcer with data-tier receipts (a PDP stand-in minting HS256 receipts)', () => {
  let stand: ReceiptPdp | undefined;
  /** The one clock of the PDP (iat/exp) and the cache, epoch ms: frozen, moved by the test. */
  let clock: number;
  afterEach(async () => {
    await stand?.close();
    stand = undefined;
  });

  async function setup(options: Partial<EnforcerOptions> = {}) {
    const started = await startReceiptPdp();
    stand = started;
    clock = Date.now();
    started.now = () => clock;
    const cache = createDecisionCache({ ttlMs: 120_000, now: () => clock });
    return { stand: started, cache, ...enforcer(createRemoteDecisionSource({ url: started.url }), { cache, ...options }) };
  }
  const read = { subject: { type: 'User', id: 'alice' }, action: 'read', resource: RESOURCE };

  it('hands the receipt of an allow to the result and the identity; a deny gets none', async () => {
    const { enforcer: e, stand } = await setup({ receipts: true });
    const allowed = await e.enforce(read);
    expect(stand.seen[0]?.options).toEqual({ verity_receipt: true });
    expect(allowed).toMatchObject({ allowed: true, status: 200, identity: { decisionId: 'dec-1' } });
    expect(allowed.receipt).toMatch(/^ey[\w-]+\.ey[\w-]+\.[\w-]+$/);
    expect(allowed.identity?.receipt).toBe(allowed.receipt);
    expect(allowed.decision?.receiptExpiresAt).toBe((Math.floor(clock / 1000) + 30) * 1000);

    const denied = await e.enforce({ ...read, action: 'write' });
    expect(denied).toMatchObject({ allowed: false, status: 403 });
    expect(denied).not.toHaveProperty('receipt');
  });

  it('asks only when told to: per call, or for every decision of the enforcer', async () => {
    const { enforcer: e, stand } = await setup();
    const plain = await e.enforce(read);
    expect(plain.allowed).toBe(true);
    expect(plain).not.toHaveProperty('receipt');
    expect(stand.seen[0]).not.toHaveProperty('options');
    const asked = await e.enforce({ ...read, resource: { type: 'Doc', id: 'd2' }, receipt: true });
    expect(stand.seen[1]?.options).toEqual({ verity_receipt: true });
    expect(asked.identity?.receipt).toEqual(expect.any(String));
  });

  it('reuses a cached allow and its receipt while valid, then gets a fresh decision and receipt', async () => {
    const { enforcer: e, events, stand } = await setup({ receipts: true });
    const first = await e.enforce(read);
    clock += 10_000;
    const second = await e.enforce(read);
    expect(stand.seen).toHaveLength(1);
    expect(second.receipt).toBe(first.receipt);
    expect(events.map((event) => event.cached)).toEqual([false, true]);

    // 30 s receipt: 29.5 s after it was minted it has less than 1 s left.
    clock += 19_500;
    const third = await e.enforce(read);
    expect(stand.seen).toHaveLength(2);
    expect(third).toMatchObject({ allowed: true, identity: { decisionId: 'dec-2' } });
    expect(third.receipt).not.toBe(first.receipt);
    expect(third.decision?.receiptExpiresAt).toBe((Math.floor(clock / 1000) + 30) * 1000);
    // The fresh one replaced the entry: reused in turn.
    expect((await e.enforce(read)).receipt).toBe(third.receipt);
    expect(stand.seen).toHaveLength(2);
  });

  it('a request without receipt reuses a receipt-bearing entry, and is handed no receipt', async () => {
    const { enforcer: e, stand } = await setup();
    await e.enforce({ ...read, receipt: true });
    clock += 40_000;
    const plain = await e.enforce(read);
    expect(stand.seen).toHaveLength(1);
    expect(plain).toMatchObject({ allowed: true, identity: { decisionId: 'dec-1' } });
    expect(plain).not.toHaveProperty('receipt');
    expect(plain.decision).not.toHaveProperty('receipt');
    expect(plain.identity).not.toHaveProperty('receipt');
  });

  it('fails closed when the tenant has no receipt key (409), and caches nothing', async () => {
    const { enforcer: e, cache, stand } = await setup({ receipts: true });
    stand.mode = 'key-missing';
    const result = await e.enforce(read);
    expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE', pdpStatus: 409, pdpCode: 'ERR_RECEIPT_KEY_MISSING' } });
    expect(result.identity).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('fails closed on an allow with an undecodable receipt', async () => {
    const { enforcer: e, stand } = await setup({ receipts: true });
    stand.mode = 'garbage';
    expect(await e.enforce(read)).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE' } });
  });

  it('fails closed when any source allows without the receipt it was asked for', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source, { receipts: true, cache: createDecisionCache() });
    expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE' } });
    expect(asked[0]?.receipt).toBe(true);
  });

  it('observe mode: a deny observed as allow carries no receipt; an allow does', async () => {
    const { enforcer: e } = await setup({ receipts: true, observe: true });
    const observedDeny = await e.enforce({ ...read, action: 'write' });
    expect(observedDeny).toMatchObject({ allowed: true, status: 200, observed: true, wouldDeny: true, identity: { decisionId: 'dec-1' } });
    expect(observedDeny).not.toHaveProperty('receipt');
    expect(observedDeny.identity).not.toHaveProperty('receipt');
    const observedAllow = await e.enforce(read);
    expect(observedAllow.identity?.receipt).toEqual(expect.any(String));
  });

  it('hands on a receipt only for an allow it asked one for, whatever a source returns', async () => {
    const withReceipt = (decision: Decision): Decision => ({ ...decision, receipt: 'a.b.c', receiptExpiresAt: Date.now() + 30_000 });
    const { enforcer: observing } = enforcer(fakeSource(() => withReceipt(deny)).source, { receipts: true, observe: true });
    const observedDeny = await observing.enforce({ token: TOKEN, action: 'write', resource: RESOURCE });
    expect(observedDeny).toMatchObject({ allowed: true, wouldDeny: true });
    expect(observedDeny).not.toHaveProperty('receipt');
    expect(observedDeny.identity).not.toHaveProperty('receipt');
    const { enforcer: unasked } = enforcer(fakeSource(() => withReceipt(allow)).source);
    const plain = await unasked.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
    expect(plain.allowed).toBe(true);
    expect(plain).not.toHaveProperty('receipt');
    expect(plain.identity).not.toHaveProperty('receipt');
  });

  it('fail-open passes carry no receipt', async () => {
    const { enforcer: e, stand } = await setup({ receipts: true, failMode: 'open' });
    stand.mode = 'key-missing';
    const result = await e.enforce(read);
    expect(result).toMatchObject({ allowed: true, status: 200, error: { code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE' } });
    expect(result).not.toHaveProperty('receipt');
    expect(result.identity).not.toHaveProperty('receipt');
  });

  it('never reports the receipt to onDecision (its expiry only)', async () => {
    const { enforcer: e, events } = await setup({ receipts: true });
    const result = await e.enforce(read);
    expect(events[0]?.decision).toMatchObject({ decision: 'allow', receiptExpiresAt: result.decision?.receiptExpiresAt });
    expect(JSON.stringify(events[0])).not.toContain(result.receipt as string);
  });
});

describe('workload callers and Txn-Tokens', () => {
  const ORDERS = { spiffeId: 'spiffe://acme.internal/orders', authenticated: true, via: 'mtls' } as const;
  const BILLING = { spiffeId: 'spiffe://acme.internal/billing', authenticated: true, via: 'mtls' } as const;
  const ANONYMOUS = { spiffeId: null, authenticated: false, via: 'none' } as const;
  /** A Txn-Token as the PDP would be sent it (the enforcer never verifies it, only forwards it). */
  const txnToken = (txn: string, exp = Math.floor(Date.now() / 1000) + 300) =>
    `${Buffer.from('{"alg":"ES256","typ":"txntoken+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ txn, exp })).toString('base64url')}.sig`;

  it('puts the verified caller into every decision as context.caller, or null, whatever context says', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source);
    const verified = await e.enforce({ token: TOKEN, caller: ORDERS, action: 'read', resource: RESOURCE, context: { caller: 'spiffe://acme.internal/admin', x: 1 } });
    await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE });
    await e.enforce({ token: TOKEN, caller: ANONYMOUS, action: 'read', resource: RESOURCE });
    // authenticated: false is never a caller, whatever id it names.
    await e.enforce({ token: TOKEN, caller: { spiffeId: 'spiffe://acme.internal/orders', authenticated: false, via: 'xfcc' }, action: 'read', resource: RESOURCE });
    expect(asked.map((request) => request.context)).toEqual([{ caller: ORDERS.spiffeId, x: 1 }, { caller: null }, { caller: null }, { caller: null }]);
    expect(verified.identity).toMatchObject({ caller: ORDERS.spiffeId, token: TOKEN });
  });

  it('reports a forged caller header to the PDP (context.caller_forged), keeping the immediate peer as caller', async () => {
    const { source, asked } = fakeSource(() => deny);
    const { enforcer: e } = enforcer(source);
    const result = await e.enforce({ token: TOKEN, caller: { ...ORDERS, forged: true }, action: 'read', resource: RESOURCE });
    // A hand-built caller: any forged marker counts, and only mtls/xfcc proofs name a caller.
    await e.enforce({ token: TOKEN, caller: { ...ORDERS, forged: 'yes' } as never, action: 'read', resource: RESOURCE });
    await e.enforce({ token: TOKEN, caller: { spiffeId: ORDERS.spiffeId, authenticated: true, via: 'none' }, action: 'read', resource: RESOURCE });
    expect(asked.map((request) => request.context)).toEqual([
      { caller: ORDERS.spiffeId, caller_forged: true },
      { caller: ORDERS.spiffeId, caller_forged: true },
      { caller: null },
    ]);
    expect(result.status).toBe(403);
  });

  it('never serves one caller the decision cached for another', async () => {
    const { source, asked } = fakeSource((request) => (request.context.caller === ORDERS.spiffeId ? allow : deny));
    const { enforcer: e, events } = enforcer(source, { cache: createDecisionCache() });
    const ask = (caller: typeof ORDERS | typeof BILLING | undefined) => e.enforce({ token: TOKEN, ...(caller ? { caller } : {}), action: 'read', resource: RESOURCE });
    expect((await ask(ORDERS)).status).toBe(200);
    expect((await ask(BILLING)).status).toBe(403);
    expect((await ask(undefined)).status).toBe(403);
    expect((await ask(ORDERS)).status).toBe(200);
    expect((await ask(BILLING)).status).toBe(403);
    expect(asked).toHaveLength(3);
    expect(events.map((event) => event.cached)).toEqual([false, false, false, true, true]);
  });

  it('keys the cache by Txn-Token and never keeps an allow past its exp', async () => {
    let now = Date.UTC(2030, 0, 1);
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source, { cache: createDecisionCache({ now: () => now }) });
    const first = txnToken('tx-1', now / 1000 + 10);
    const ask = (token: string) => e.enforce({ token: TOKEN, txnToken: token, action: 'read', resource: RESOURCE });
    await ask(first);
    await ask(first);
    await ask(txnToken('tx-2', now / 1000 + 300));
    expect(asked).toHaveLength(2);
    now += 11_000;
    await ask(first);
    expect(asked).toHaveLength(3);
  });

  it('forwards the Txn-Token and hands it, and its txn, to the handler on an allow', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source);
    const token = txnToken('tx-9');
    const result = await e.enforce({ token: TOKEN, txnToken: token, action: 'read', resource: RESOURCE });
    expect(asked[0]?.txnToken).toBe(token);
    expect(result.identity).toMatchObject({ txnToken: token, txn: 'tx-9' });
  });

  it('requireTxnToken: a request without one is 401 without asking the PDP', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e } = enforcer(source, { requireTxnToken: true });
    expect(await e.enforce({ token: TOKEN, action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 401, decision: { code: 'ERR_ENFORCE_TXN_TOKEN_MISSING' } });
    expect(asked).toHaveLength(0);
    expect((await e.enforce({ token: TOKEN, txnToken: txnToken('tx-1'), action: 'read', resource: RESOURCE })).status).toBe(200);
  });

  it('a Txn-Token the PDP refuses is a 401 with its code', async () => {
    const { source } = fakeSource(() => ({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TXN_TOKEN_INVALID' }));
    const { enforcer: e } = enforcer(source);
    expect(await e.enforce({ token: TOKEN, txnToken: 'forged.txn.token', action: 'read', resource: RESOURCE })).toMatchObject({ allowed: false, status: 401, decision: { code: 'ERR_TXN_TOKEN_INVALID' } });
  });

  it('workloadPrincipal: the caller is the principal; an unauthenticated one is 401 without asking the PDP', async () => {
    const { source, asked } = fakeSource(() => allow);
    const { enforcer: e, events } = enforcer(source, { workloadPrincipal: true });
    for (const caller of [undefined, ANONYMOUS]) {
      const refused = await e.enforce({ token: TOKEN, ...(caller ? { caller } : {}), action: 'read', resource: RESOURCE });
      expect(refused).toMatchObject({ allowed: false, status: 401, decision: { decision: 'deny', reasons: ['unauthenticated'], code: 'ERR_ENFORCE_CALLER_UNAUTHENTICATED' } });
    }
    expect(asked).toHaveLength(0);
    const allowed = await e.enforce({ token: TOKEN, caller: ORDERS, subject: { type: 'User', id: 'root' }, action: 'read', resource: RESOURCE });
    expect(allowed).toMatchObject({ status: 200, identity: { caller: ORDERS.spiffeId, subject: { type: 'Workload', id: ORDERS.spiffeId } } });
    // The principal is the workload: neither a bearer token nor a named subject is sent.
    expect(asked[0]).toMatchObject({ subject: { type: 'Workload', id: ORDERS.spiffeId }, context: { caller: ORDERS.spiffeId } });
    expect(asked[0]).not.toHaveProperty('token');
    expect(allowed.identity).not.toHaveProperty('token');
    expect(events.at(-1)).toMatchObject({ principal: 'subject', subject: { type: 'Workload', id: ORDERS.spiffeId } });
  });

  it('refuses non-boolean workloadPrincipal and requireTxnToken at construction', () => {
    const { source } = fakeSource(() => allow);
    for (const name of ['workloadPrincipal', 'requireTxnToken']) expect(() => createEnforcer({ source, tenant: 'acme', tier: 'orders', [name]: 'yes' } as unknown as EnforcerOptions)).toThrow(TypeError);
  });
});
