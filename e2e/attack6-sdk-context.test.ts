/**
 * attack6: the SDK enforcer builds its context without a spread now (`withEntry(input.context,
 * 'caller', caller)`). A JavaScript PEP that hands over what it parsed (`context: body.context`)
 * may pass `null`; an own `__proto__` key (JSON.parse makes one) must reach the source as a plain
 * key and key the cache as one; a caller-set `caller` never wins.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { createDecisionCache, createEnforcer, type DecisionRequest } from '@verity/enforce';
import { withVerity } from '@verity/enforce/node-http';

function fakeSource(decide: (request: DecisionRequest) => 'allow' | 'deny') {
  const seen: DecisionRequest[] = [];
  return {
    seen,
    source: {
      async decide(request: DecisionRequest) {
        seen.push(request);
        return { decision: decide(request), decisionId: crypto.randomUUID(), policyVersion: 1, reasons: [] };
      },
    },
  };
}

const base = { subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' } };

it('a null context (what a parsed body may carry) is decided like no context, not thrown', async () => {
  const { source, seen } = fakeSource(() => 'allow');
  const enforcer = createEnforcer({ source, tenant: 't', tier: 'svc' });
  let outcome: unknown;
  try {
    const result = await enforcer.enforce({ ...base, context: null as unknown as Record<string, unknown> });
    outcome = { allowed: result.allowed, status: result.status };
  } catch (error) {
    outcome = { threw: String(error) };
  }
  expect(outcome).toEqual({ allowed: true, status: 200 });
  expect(seen[0]?.context).toEqual({ caller: null });
});

it('an own __proto__ key is a plain key for the source and for the cache; a caller-set caller never wins', async () => {
  const { source, seen } = fakeSource((request) => (Object.hasOwn(request.context, '__proto__') ? 'deny' : 'allow'));
  const enforcer = createEnforcer({ source, cache: createDecisionCache({ maxEntries: 100 }), tenant: 't', tier: 'svc' });
  const polluted = JSON.parse('{"__proto__":{"admin":true},"caller":"spiffe://t.verity.internal/forged"}');
  const first = await enforcer.enforce({ ...base, context: polluted });
  const plain = await enforcer.enforce({ ...base, context: {} });
  const again = await enforcer.enforce({ ...base, context: JSON.parse('{"__proto__":{"admin":true}}') });
  expect([first.allowed, plain.allowed, again.allowed]).toEqual([false, true, false]);
  expect(Object.getPrototypeOf(seen[0]?.context)).toBe(Object.prototype);
  expect(Object.hasOwn(seen[0]?.context ?? {}, '__proto__')).toBe(true);
  expect(seen[0]?.context.caller).toBe(null);
  expect(({} as Record<string, unknown>).admin).toBeUndefined();
});

it('withVerity: a route whose context function answers null (what a parsed body may hold) is answered, not a rejected handler', async () => {
  const { source } = fakeSource(() => 'allow');
  const enforcer = createEnforcer({ source, tenant: 't', tier: 'svc' });
  const rejections: unknown[] = [];
  const handler = withVerity(enforcer, { route: '/x', subject: () => ({ type: 'User', id: 'alice' }), context: () => null as unknown as Record<string, unknown> } as never, (_request, response) => response.writeHead(200).end('ok'));
  const server = createServer((request, response) => {
    handler(request, response).catch((error: unknown) => {
      rejections.push(String(error));
      response.writeHead(599).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    expect({ status: res.status, rejections }).toEqual({ status: 200, rejections: [] });
  } finally {
    server.close();
  }
});
