import { describe, expect, it } from 'vitest';
import { computeAuditHash, GENESIS_HASH, verifyAuditChain } from './audit-chain.js';
import type { AuditEvent, DecisionRecord } from './types.js';

function chain(n: number): AuditEvent[] {
  const events: AuditEvent[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const record: DecisionRecord = { decisionId: `d${seq}`, time: new Date(seq * 1000).toISOString(), tenant: 't', requestId: null, tier: null, principal: { type: 'U', id: 'a' }, action: { type: 'Action', id: 'r' }, resource: { type: 'R', id: String(seq) }, decision: 'allow', reasons: ['p'], errors: [], policyVersion: 1, latencyUs: 10 };
    const hash = computeAuditHash(record, seq, prev);
    events.push({ ...record, seq, prevHash: prev, hash });
    prev = hash;
  }
  return events;
}

describe('audit chain', () => {
  it('accepts an intact chain', () => expect(verifyAuditChain(chain(5))).toMatchObject({ ok: true, checked: 5 }));
  it('finds an edited record', () => {
    const events = chain(5);
    events[2] = { ...events[2]!, decision: 'deny' };
    expect(verifyAuditChain(events).problems).toContainEqual({ seq: 3, kind: 'edited' });
  });
  it('finds a removed record', () => {
    const events = chain(5);
    events.splice(2, 1);
    expect(verifyAuditChain(events).problems).toContainEqual({ seq: 3, kind: 'gap' });
  });
  it('finds reordered records', () => {
    const events = chain(5);
    [events[1], events[2]] = [events[2]!, events[1]!];
    expect(verifyAuditChain(events).ok).toBe(false);
  });
});

describe('observed decisions', () => {
  it('hash like before when not observed, and differently when marked observed', () => {
    const [event] = chain(1);
    const { seq, prevHash, hash, ...record } = event!;
    expect(computeAuditHash(record, seq, prevHash)).toBe(hash);
    expect(computeAuditHash({ ...record, observed: true }, seq, prevHash)).not.toBe(hash);
    // Removing the mark from a stored observed record is an edit the chain finds.
    const observedHash = computeAuditHash({ ...record, observed: true }, seq, prevHash);
    expect(verifyAuditChain([{ ...record, seq, prevHash, hash: observedHash }]).problems).toContainEqual({ seq: 1, kind: 'edited' });
  });
});
