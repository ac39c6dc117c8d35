import { describe, expect, it } from 'vitest';
import { checkAuditCheckpoint, computeAuditHash, GENESIS_HASH, verifyAuditChain } from './audit-chain.js';
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

/** Re-hash `events` from index `from` on, as someone rewriting the chain with its own tools would. */
function rehash(events: AuditEvent[], from: number): void {
  for (let i = from; i < events.length; i++) {
    const { seq, prevHash: _p, hash: _h, ...record } = events[i]!;
    const prevHash = i === from ? events[i]!.prevHash : events[i - 1]!.hash;
    events[i] = { ...record, seq, prevHash, hash: computeAuditHash(record, seq, prevHash) };
  }
}

describe('chain links', () => {
  it('finds a record that links to another previous hash even though every record hashes right', () => {
    const events = chain(4);
    // Record 2 is replaced by a forged one chained to something else, and the rest re-hashed onto it.
    events[1] = { ...events[1]!, prevHash: 'f'.repeat(64) };
    rehash(events, 1);
    expect(verifyAuditChain(events).problems).toEqual([{ seq: 2, kind: 'broken-link' }]);
  });

  it('finds a renumbered chain after a deleted record (seq continuous, link broken)', () => {
    const events = chain(4);
    events.splice(1, 1);
    // The attacker renumbers 3→2 and 4→3 and re-hashes them; record 3 (now 2) still links to old record 2.
    events[1] = { ...events[1]!, seq: 2 };
    events[2] = { ...events[2]!, seq: 3 };
    rehash(events, 1);
    expect(verifyAuditChain(events).problems).toEqual([{ seq: 2, kind: 'broken-link' }]);
  });
});

describe('chain head', () => {
  const headOf = (events: AuditEvent[]) => ({ seq: events.at(-1)!.seq, hash: events.at(-1)!.hash });

  it('accepts a chain that ends at its head, and an empty chain at the genesis head', () => {
    const events = chain(3);
    expect(verifyAuditChain(events, headOf(events))).toMatchObject({ ok: true, checked: 3 });
    expect(verifyAuditChain([], { seq: 0, hash: GENESIS_HASH })).toMatchObject({ ok: true, checked: 0 });
  });

  it('finds the newest records deleted', () => {
    const events = chain(5);
    const head = headOf(events);
    expect(verifyAuditChain(events.slice(0, 3)).ok).toBe(true);
    expect(verifyAuditChain(events.slice(0, 3), head).problems).toEqual([{ seq: 4, kind: 'truncated' }]);
    expect(verifyAuditChain([], head).problems).toEqual([{ seq: 1, kind: 'truncated' }]);
  });

  it('finds the newest record edited with its hash recomputed', () => {
    const events = chain(3);
    const head = headOf(events);
    events[2] = { ...events[2]!, decision: 'deny' };
    rehash(events, 2);
    expect(verifyAuditChain(events).ok).toBe(true);
    expect(verifyAuditChain(events, head).problems).toEqual([{ seq: 3, kind: 'head-mismatch' }]);
  });

  it('finds records beyond the head (appended without moving it)', () => {
    const events = chain(3);
    expect(verifyAuditChain(events, headOf(events.slice(0, 2))).problems).toEqual([{ seq: 2, kind: 'head-mismatch' }]);
  });
});

/** A record with no optional field, and one with every field set (and text JSON escapes differently), for the golden hashes. */
const GOLDEN_MINIMAL: DecisionRecord = { decisionId: 'd-1', time: '2026-12-01T00:00:00.000Z', tenant: 'acme', requestId: null, tier: null, principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: '1' }, decision: 'allow', reasons: ['policy0'], errors: [], policyVersion: 1, latencyUs: 12.5 };
const GOLDEN_FULL: DecisionRecord = {
  decisionId: 'd-2',
  time: '2026-12-01T00:00:01.000Z',
  tenant: 'acme',
  requestId: 'req-é',
  tier: 'gateway',
  principal: { type: 'Acme::User', id: 'bob "the" \\ builder ✓' },
  action: { type: 'Action', id: 'write' },
  resource: { type: 'Doc', id: '\u2028x' },
  decision: 'deny',
  reasons: [],
  errors: [{ policyId: 'policy1', message: 'record does not have the attribute `a\uFFFDb`' }],
  policyVersion: 7,
  latencyUs: 0.1,
  observed: true,
  reportedBy: 'cred_pep',
  caller: 'spiffe://verity.internal/orders',
  txn: 'txn-1',
  actors: ['spiffe://verity.internal/gw'],
  risk: { score: 40, level: 'medium', factors: [{ name: 'unknown_device', weight: 40, detail: 'new' }], stepUp: { acr: 'mfa', maxAgeSec: 300 } },
};

describe('hashed fields', () => {
  const [first] = chain(1);
  const { seq, prevHash, hash, ...record } = first!;
  const changes: Array<[string, Partial<DecisionRecord>]> = [
    ['decisionId', { decisionId: 'other' }],
    ['time', { time: '2030-01-01T00:00:00.000Z' }],
    ['tenant', { tenant: 'other' }],
    ['requestId', { requestId: 'r-1' }],
    ['tier', { tier: 'gateway' }],
    ['principal', { principal: { type: 'U', id: 'b' } }],
    ['action', { action: { type: 'Action', id: 'w' } }],
    ['resource', { resource: { type: 'R', id: 'x' } }],
    ['decision', { decision: 'deny' }],
    ['reasons', { reasons: [] }],
    ['errors', { errors: [{ policyId: 'p', message: 'm' }] }],
    ['policyVersion', { policyVersion: 2 }],
    ['latencyUs', { latencyUs: 11 }],
    ['observed', { observed: true }],
    ['reportedBy', { reportedBy: 'cred_pep' }],
    ['input', { input: '{"context":{},"overlays":[],"provided":[],"v":1}' }],
  ];
  it.each(changes)('covers %s', (_name, change) => {
    expect(computeAuditHash(record, seq, prevHash)).toBe(hash);
    expect(computeAuditHash({ ...record, ...change }, seq, prevHash)).not.toBe(hash);
  });
  it('covers seq and prevHash', () => {
    expect(computeAuditHash(record, seq + 1, prevHash)).not.toBe(hash);
    expect(computeAuditHash(record, seq, 'f'.repeat(64))).not.toBe(hash);
  });
});

describe('checkpoints', () => {
  it('hold while the chain has the checkpointed hash at that seq, and fail when it was deleted or rewritten', () => {
    const events = chain(3);
    const checkpoint = { seq: 2, hash: events[1]!.hash };
    expect(checkAuditCheckpoint(events[1], checkpoint)).toBeNull();
    expect(checkAuditCheckpoint(undefined, checkpoint)).toEqual({ seq: 2, kind: 'checkpoint-mismatch' });
    expect(checkAuditCheckpoint({ seq: 2, hash: 'f'.repeat(64) }, checkpoint)).toEqual({ seq: 2, kind: 'checkpoint-mismatch' });
    expect(checkAuditCheckpoint(undefined, { seq: 0, hash: GENESIS_HASH })).toBeNull();
  });
});

describe('golden hashes', () => {
  // Computed by the code before the hash moved to audit-hash.mjs (issue 13, at e857661): chains
  // written before and after hash alike, whichever thread computes them.
  it('are those of the records as chained before', () => {
    const h1 = computeAuditHash(GOLDEN_MINIMAL, 1, GENESIS_HASH);
    expect(h1).toBe('205f9faa9ffc249bd3dceb22712048e42a63482652477c44db6359d28826ed8b');
    expect(computeAuditHash(GOLDEN_FULL, 2, h1)).toBe('7eebab9d2fd00d265688b5369c4b7b09f2b61b177a27194bb24703e133fa52b0');
  });
});
