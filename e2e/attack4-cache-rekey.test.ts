/**
 * Outsider attack on the SDK decision cache: the enforcer looks the request up by a key it
 * computes before asking the source, but `cache.set` computes the key again after the source
 * answered, from the same live objects (resource, nested context values, held by reference).
 * Whatever changes them while the decision is pending (the service re-using an object, the
 * source normalizing the request) files the decision under a request it was not made for.
 * Also: an expiry that is not a number (cacheUntil NaN from a source) makes an entry never
 * expire, since `NaN <= now` is false.
 *
 * Fixed: on a miss the enforcer snapshots what it asks (its JSON form) and files the answer
 * under the snapshot's key; the cache treats an expiry that is not a number as expired.
 */
import { describe, expect, it } from 'vitest';
import { createDecisionCache, createEnforcer, type Decision, type DecisionRequest } from '@verity/enforce';

describe('attack4: the decision is filed under the request it was made for', () => {
  it('a resource changed while the decision is pending does not receive that decision', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    const source = {
      async decide(request: DecisionRequest): Promise<Decision> {
        // Decided now, on what was asked: only the public document is allowed.
        const ok = request.resource.id === 'public';
        await gate;
        return { decision: ok ? 'allow' : 'deny', decisionId: `d-${n++}`, policyVersion: 1, reasons: [] };
      },
    };
    const enforcer = createEnforcer({ source, cache: createDecisionCache(), tenant: 'acme', tier: 'orders' });
    const resource = { type: 'Doc', id: 'public' };
    const pending = enforcer.enforce({ subject: { type: 'User', id: 'mallory' }, action: 'read', resource });
    resource.id = 'secret'; // e.g. an object the service re-uses across requests
    release();
    expect((await pending).allowed).toBe(true);
    const second = await enforcer.enforce({ subject: { type: 'User', id: 'mallory' }, action: 'read', resource: { type: 'Doc', id: 'secret' } });
    expect(second.allowed).toBe(false);
  });

  it('a subject changed while pending, read by a source only after it awaited: the source decides what the key says', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    const seen: string[] = [];
    const source = {
      async decide(request: DecisionRequest): Promise<Decision> {
        await gate;
        // Read late, as a source that first fetches a bundle or a credential would.
        const id = request.subject?.id ?? '';
        seen.push(id);
        return { decision: id === 'alice' ? 'allow' : 'deny', decisionId: `d-${n++}`, policyVersion: 1, reasons: [] };
      },
    };
    const enforcer = createEnforcer({ source, cache: createDecisionCache(), tenant: 'acme', tier: 'orders' });
    const subject = { type: 'User', id: 'alice' };
    const pending = enforcer.enforce({ subject, action: 'read', resource: { type: 'Doc', id: 'd1' } });
    subject.id = 'mallory';
    release();
    // Asked about alice (the snapshot), allowed, and filed under alice.
    expect((await pending).allowed).toBe(true);
    expect(seen).toEqual(['alice']);
    expect((await enforcer.enforce({ subject: { type: 'User', id: 'mallory' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).allowed).toBe(false);
    expect(seen).toEqual(['alice', 'mallory']);
  });

  it('a nested context value changed while pending', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    const source = {
      async decide(request: DecisionRequest): Promise<Decision> {
        const ok = (request.context['device'] as { compliant: boolean }).compliant === true;
        await gate;
        return { decision: ok ? 'allow' : 'deny', decisionId: `d-${n++}`, policyVersion: 1, reasons: [] };
      },
    };
    const enforcer = createEnforcer({ source, cache: createDecisionCache(), tenant: 'acme', tier: 'orders' });
    const device = { compliant: true };
    const pending = enforcer.enforce({ subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { device } });
    device.compliant = false;
    release();
    await pending;
    expect((await enforcer.enforce({ subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { device: { compliant: false } } })).allowed).toBe(false);
  });

  it('a cacheUntil that is not a number does not make an entry immortal', async () => {
    let clock = 1_000_000;
    const cache = createDecisionCache({ ttlMs: 1000, now: () => clock });
    let calls = 0;
    const source = { async decide(): Promise<Decision> { calls++; return { decision: 'allow', decisionId: `c${calls}`, policyVersion: 1, reasons: [], cacheUntil: Number.NaN }; } };
    const enforcer = createEnforcer({ source, cache, tenant: 'acme', tier: 't' });
    const input = { subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' } };
    await enforcer.enforce(input);
    clock += 3_600_000; // an hour past a 1 s TTL
    await enforcer.enforce(input);
    expect(calls).toBe(2);
  });
});
