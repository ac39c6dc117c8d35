/**
 * Outsider attack on the SDK decision cache (rewritten key / field-by-field request): a
 * decision cached for one request must never answer another. The hand-written source allows
 * exactly one request, compared as the remote PDP would see it (its JSON wire form), so a wrong
 * cache hit shows up as an allow the source would have denied.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@verity/core';
import { createDecisionCache, createEnforcer, type Decision, type DecisionRequest, type EnforceInput } from '@verity/enforce';

const TENANT = 'acme';
const AUD = 'https://api.acme.example';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (claims: Record<string, unknown>) => `${b64({ alg: 'none' })}.${b64(claims)}.c2ln`;
const TOKEN = jwt({ sub: 'alice', exp: 4_000_000_000 });
const TOKEN2 = jwt({ sub: 'mallory', exp: 4_000_000_000 });

/** What the PDP would see of a request: its JSON (toJSON honoured, NaN → null, undefined dropped), order-free. */
function wire(request: Partial<DecisionRequest>): string {
  const { tenant, token, audience, subject, action, resource, context, txnToken, receipt } = request;
  return canonicalJson(JSON.parse(JSON.stringify({ tenant, token, audience, subject, action, resource, context, txnToken, receipt: receipt === true })));
}

let n = 0;
/** A source that allows only `allowed` (by wire form), denies anything else, and records what it was asked. */
function sourceAllowing(allowed: Partial<DecisionRequest>) {
  const target = wire(allowed);
  const asked: DecisionRequest[] = [];
  return {
    asked,
    source: {
      async decide(request: DecisionRequest): Promise<Decision> {
        asked.push(request);
        const ok = wire(request) === target;
        const base: Decision = { decision: ok ? 'allow' : 'deny', decisionId: `d-${n++}`, policyVersion: 1, reasons: [ok ? 'p-allow' : 'p-deny'] };
        if (ok && request.receipt) return { ...base, receipt: jwt({ exp: 4_000_000_000 }), receiptExpiresAt: 4_000_000_000_000 };
        return base;
      },
    },
  };
}

const mtls = (spiffeId: string) => ({ authenticated: true, via: 'mtls', spiffeId }) as unknown as NonNullable<EnforceInput['caller']>;
const base = (over: Partial<EnforceInput> = {}): EnforceInput => ({ subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: {}, ...over });

/**
 * Enforce `first` (which the source allows), then `second`: the second must be decided as the
 * source decides it (deny), never served the first's allow from the cache.
 */
async function pair(first: EnforceInput, second: EnforceInput, options: Record<string, unknown> = {}, secondOptions: Record<string, unknown> = options) {
  const cache = createDecisionCache();
  let allowedRequest: Partial<DecisionRequest> | undefined;
  const spy = { async decide(request: DecisionRequest) { allowedRequest ??= request; return { decision: 'deny', decisionId: null, policyVersion: null, reasons: [] } as Decision; } };
  // Learn the exact request the enforcer sends for `first` (without caching), then allow only that.
  await createEnforcer({ source: spy, tenant: TENANT, tier: 'orders', audience: AUD, ...options } as never).enforce(first);
  const { source, asked } = sourceAllowing(allowedRequest!);
  const e1 = createEnforcer({ source, cache, tenant: TENANT, tier: 'orders', audience: AUD, ...options } as never);
  const e2 = createEnforcer({ source, cache, tenant: TENANT, tier: 'orders', audience: AUD, ...secondOptions } as never);
  const r1 = await e1.enforce(first);
  expect(r1.allowed).toBe(true);
  const r2 = await e2.enforce(second);
  return { r1, r2, asked };
}

/** The second request differs from the first as the PDP sees it: it must not pass. */
async function mustNotShare(first: EnforceInput, second: EnforceInput, options?: Record<string, unknown>, secondOptions?: Record<string, unknown>) {
  const { r2 } = await pair(first, second, options, secondOptions);
  expect(r2.allowed).toBe(false);
}

describe('attack4: cache key strings and structure', () => {
  const nasty = ['a"b', 'a\\"b', 'a\\', '\u0000', 'a\u2028b', 'a\u2029b', '\ud800', '\udc00', 'é', 'e\u0301', '","id":"d2', '"}],[{"', '\u00a0', ''];
  for (const [i, s] of nasty.entries()) {
    const t = nasty[(i + 1) % nasty.length]!;
    it(`resource id ${JSON.stringify(s)} vs ${JSON.stringify(t)}`, async () => {
      await mustNotShare(base({ resource: { type: 'Doc', id: s } }), base({ resource: { type: 'Doc', id: t } }));
    });
    it(`context key ${JSON.stringify(s)} vs ${JSON.stringify(t)}`, async () => {
      await mustNotShare(base({ context: { [s]: 1 } }), base({ context: { [t]: 1 } }));
    });
  }
  it('an id that looks like the next key part', async () => {
    await mustNotShare(base({ action: 'read","x', resource: { type: 'Doc', id: 'd1' } }), base({ action: 'read', resource: { type: 'x","Doc', id: 'd1' } }));
    await mustNotShare(base({ resource: { type: 'Doc', id: 'd1', properties: { a: '1' } } }), base({ resource: { type: 'Doc', id: 'd1', properties: { a: 1 } } }));
  });
  it('__proto__ and constructor keys in context and properties', async () => {
    await mustNotShare(base({ context: JSON.parse('{"__proto__":{"admin":true}}') }), base({ context: {} }));
    await mustNotShare(base({ context: JSON.parse('{"__proto__":{"admin":true}}') }), base({ context: JSON.parse('{"__proto__":{"admin":false}}') }));
    await mustNotShare(base({ resource: { type: 'Doc', id: 'd1', properties: JSON.parse('{"__proto__":{"owner":"alice"}}') } }), base({ resource: { type: 'Doc', id: 'd1', properties: {} } }));
    await mustNotShare(base({ context: { constructor: 'x' } }), base({ context: { constructor: 'y' } }));
    await mustNotShare(base({ context: { toString: 'x' } }), base({ context: {} }));
  });
  it('arrays vs objects, null vs missing, nested order', async () => {
    await mustNotShare(base({ context: { a: [1] } }), base({ context: { a: { 0: 1 } } }));
    await mustNotShare(base({ context: { a: null } }), base({ context: {} }));
    await mustNotShare(base({ context: { a: [1, 2] } }), base({ context: { a: [2, 1] } }));
    await mustNotShare(base({ context: { a: '1e21' } }), base({ context: { a: 1e21 } }));
    await mustNotShare(base({ context: { a: 'true' } }), base({ context: { a: true } }));
    await mustNotShare(base({ context: { a: { b: 1 } } }), base({ context: { 'a.b': 1 } }));
  });
});

describe('attack4: principal, caller, txn, tenant, mode', () => {
  it('token vs subject, and different tokens', async () => {
    await mustNotShare(base({ token: TOKEN }), base({ token: TOKEN2 }));
    await mustNotShare(base({ token: TOKEN }), base({ subject: { type: 'User', id: TOKEN } }));
    await mustNotShare(base({ subject: { type: 'User', id: 'alice' } }), base({ subject: { type: 'User', id: 'alice', properties: { x: 1 } } }));
  });
  it('the same token under another audience (shared cache)', async () => {
    await mustNotShare(base({ token: TOKEN }), base({ token: TOKEN }), { audience: AUD }, { audience: 'https://other.example' });
    await mustNotShare(base({ token: TOKEN }), base({ token: TOKEN }), { audience: AUD }, { audience: undefined, anyAudience: true });
  });
  it('caller: real vs none vs context.caller', async () => {
    await mustNotShare(base({ caller: mtls('spiffe://acme/a') }), base({ caller: mtls('spiffe://acme/b') }));
    await mustNotShare(base({ caller: mtls('spiffe://acme/a') }), base({ context: { caller: 'spiffe://acme/a' } }));
    await mustNotShare(base({ caller: mtls('spiffe://acme/a') }), base({ caller: { authenticated: false, via: 'mtls', spiffeId: 'spiffe://acme/a' } as never }));
    await mustNotShare(base({ caller: mtls('spiffe://acme/a') }), base({ caller: { authenticated: true, via: 'header', spiffeId: 'spiffe://acme/a' } as never }));
  });
  it('forged caller vs none, whatever context says', async () => {
    await mustNotShare(base({}), base({ caller: { authenticated: false, forged: true } as never }));
    await mustNotShare(base({ context: { caller_forged: false } }), base({ context: { caller_forged: false }, caller: { authenticated: false, forged: true } as never }));
    const { asked } = await pair(base({}), base({ context: { caller_forged: false }, caller: { authenticated: false, forged: true } as never }));
    expect(asked.at(-1)!.context['caller_forged']).toBe(true);
  });
  it('Txn-Token: none vs one vs another', async () => {
    await mustNotShare(base({}), base({ txnToken: jwt({ txn: 't1' }) }));
    await mustNotShare(base({ txnToken: jwt({ txn: 't1' }) }), base({ txnToken: jwt({ txn: 't2' }) }));
  });
  it('workload principal vs the token of the same request', async () => {
    await mustNotShare(base({ token: TOKEN, caller: mtls('spiffe://acme/a') }), base({ token: TOKEN, caller: mtls('spiffe://acme/a') }), { audience: AUD }, { audience: AUD, workloadPrincipal: true });
  });
  it('another tenant sharing the cache', async () => {
    const cache = createDecisionCache();
    const { source } = sourceAllowing({ tenant: 'acme', subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { caller: null } });
    expect((await createEnforcer({ source, cache, tenant: 'acme', tier: 't' }).enforce(base())).allowed).toBe(true);
    expect((await createEnforcer({ source, cache, tenant: 'acme2', tier: 't' }).enforce(base())).allowed).toBe(false);
  });
});

describe('attack4: receipts, observe, lifetime', () => {
  it('a non-receipt allow is not served to a receipt request without a receipt', async () => {
    const cache = createDecisionCache();
    let calls = 0;
    const source = { async decide(r: DecisionRequest): Promise<Decision> { calls++; return r.receipt ? { decision: 'allow', decisionId: `x${calls}`, policyVersion: 1, reasons: [], receipt: jwt({ exp: 4e9 }), receiptExpiresAt: 4e12 } : { decision: 'allow', decisionId: `x${calls}`, policyVersion: 1, reasons: [] }; } };
    const e = createEnforcer({ source, cache, tenant: TENANT, tier: 't' });
    await e.enforce(base());
    const r = await e.enforce(base({ receipt: true }));
    expect(calls).toBe(2);
    expect(r.receipt).toBeDefined();
    const r3 = await e.enforce(base());
    expect(r3.receipt).toBeUndefined();
    expect(r3.decision?.receipt).toBeUndefined();
  });
  it('a decision the PDP says must not be reused (cacheUntil now) is not reused', async () => {
    const clock = 1_000_000;
    const cache = createDecisionCache({ now: () => clock });
    let calls = 0;
    const source = { async decide(): Promise<Decision> { calls++; return { decision: 'allow', decisionId: `c${calls}`, policyVersion: 1, reasons: [], cacheUntil: clock }; } };
    const e = createEnforcer({ source, cache, tenant: TENANT, tier: 't' });
    await e.enforce(base());
    await e.enforce(base());
    expect(calls).toBe(2);
  });
});
