/**
 * Outsider attack on the SDK decision cache: the key is canonicalJson of the context and
 * resource (own enumerable keys, toJSON ignored), while the remote source sends
 * JSON.stringify of them (toJSON honoured). A value whose JSON comes from toJSON (a Date, a
 * boxed primitive, any class with toJSON) keys as `{}` whatever it holds: two requests the PDP
 * sees as different share one cache entry. The source here allows exactly what the remote PDP
 * would receive for the first request (its JSON wire form) and denies anything else.
 *
 * Fixed at the depth of the family: core's canonicalJson follows JSON.stringify (ECMA-262
 * SerializeJSONProperty: toJSON, boxed primitives, non-finite numbers), so every key made from
 * it is the canonical form of what the wire carries.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@verity/core';
import { createDecisionCache, createEnforcer, type Decision, type DecisionRequest, type EnforceInput } from '@verity/enforce';

/** What the remote PDP receives of a request (JSON.stringify, as the remote source sends it), order-free. */
const wire = (r: DecisionRequest) => canonicalJson(JSON.parse(JSON.stringify({ subject: r.subject, action: r.action, resource: r.resource, context: r.context })));

function setup() {
  let allowed: string | undefined;
  const asked: string[] = [];
  let n = 0;
  const source = {
    async decide(request: DecisionRequest): Promise<Decision> {
      const seen = wire(request);
      asked.push(seen);
      allowed ??= seen; // the first request is the one allowed
      const ok = seen === allowed;
      return { decision: ok ? 'allow' : 'deny', decisionId: `d-${n++}`, policyVersion: 1, reasons: [] };
    },
  };
  const enforcer = createEnforcer({ source, cache: createDecisionCache(), tenant: 'acme', tier: 'orders' });
  return { enforcer, asked };
}

const req = (context: Record<string, unknown>, properties?: Record<string, unknown>): EnforceInput => ({
  subject: { type: 'User', id: 'alice' },
  action: 'read',
  resource: { type: 'Doc', id: 'd1', ...(properties ? { properties } : {}) },
  context,
});

describe('attack4: values serialized through toJSON collide in the cache key', () => {
  it('a Date in context: an allow for one time is served for another', async () => {
    const { enforcer, asked } = setup();
    // e.g. a service passing the request's validity window or the document's embargo date.
    expect((await enforcer.enforce(req({ notAfter: new Date('2030-01-01T00:00:00Z') }))).allowed).toBe(true);
    const second = await enforcer.enforce(req({ notAfter: new Date('2000-01-01T00:00:00Z') }));
    // The PDP would receive "2000-01-01T00:00:00.000Z" and deny: it must be asked.
    expect(asked).toHaveLength(2);
    expect(second.allowed).toBe(false);
  });

  it('a Date in resource properties', async () => {
    const { enforcer } = setup();
    expect((await enforcer.enforce(req({}, { publishedAt: new Date('2020-01-01T00:00:00Z') }))).allowed).toBe(true);
    expect((await enforcer.enforce(req({}, { publishedAt: new Date('2099-01-01T00:00:00Z') }))).allowed).toBe(false);
  });

  it('boxed primitives: new Number / new Boolean', async () => {
    const a = setup();
    expect((await a.enforcer.enforce(req({ amount: new Number(10) }))).allowed).toBe(true);
    expect((await a.enforcer.enforce(req({ amount: new Number(1_000_000) }))).allowed).toBe(false);
    const b = setup();
    expect((await b.enforcer.enforce(req({ mfa: new Boolean(true) }))).allowed).toBe(true);
    expect((await b.enforcer.enforce(req({ mfa: new Boolean(false) }))).allowed).toBe(false);
  });
});
