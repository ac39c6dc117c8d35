import { describe, expect, it } from 'vitest';
import { buildDecisionRecord, type CedarValue, type DecisionRequest } from '@verity/core';
import { assertTxnFromToken, callerOf, refuseUnproven } from './workload-gate.js';

const authzen = (context: Record<string, unknown>): DecisionRequest => ({
  kind: 'authzen',
  request: { subject: { type: 'Workload', id: 'spiffe://td/orders' }, action: { name: 'read' }, resource: { type: 'Item', id: '1' }, context },
});

const record = (fields: { principal?: string; caller?: string; decision?: 'allow' | 'deny' }) =>
  buildDecisionRecord({
    tenant: 'acme',
    principal: { type: fields.principal === undefined ? 'User' : 'Workload', id: fields.principal ?? 'alice' },
    action: { type: 'Action', id: 'read' },
    resource: { type: 'Item', id: '1' },
    decision: fields.decision ?? 'allow',
    reasons: ['p1'],
    errors: [],
    policyVersion: 3,
    meta: { requestId: 'r-1', tier: 'inventory', ...(fields.caller ? { caller: fields.caller } : {}), txn: 't-1' },
    time: 0,
    latencyUs: 5,
  });

describe('callerOf', () => {
  it('takes a SPIFFE id, and treats absent or null as no proven caller', () => {
    expect(callerOf(authzen({ caller: 'spiffe://td/ns/a/sa/b' }))).toEqual({ caller: 'spiffe://td/ns/a/sa/b', forged: false });
    expect(callerOf(authzen({}))).toEqual({ caller: undefined, forged: false });
    expect(callerOf(authzen({ caller: null, caller_forged: true }))).toEqual({ caller: undefined, forged: true });
    expect(() => callerOf(authzen({ caller_forged: 'yes' }))).toThrow(expect.objectContaining({ code: 'ERR_REQUEST_INVALID' }));
  });

  it.each([['orders'], [''], ['spiffe://TD/x'], ['spiffe://td/a/../b'], ['spiffe://td/a?x'], [42], [{ id: 'spiffe://td/a' }], ['spiffe://td/' + 'a'.repeat(2100)]])(
    'refuses %j as a caller (ERR_REQUEST_INVALID)',
    (caller) => {
      expect(() => callerOf(authzen({ caller }))).toThrow(expect.objectContaining({ code: 'ERR_REQUEST_INVALID' }));
    },
  );
});

describe('refuseUnproven', () => {
  const denyList = { isDenied: (tenant: string, id: string) => tenant === 'acme' && id === 'spiffe://td/gone' };

  it('keeps a decision whose caller and principal are live', () => {
    const kept = record({ principal: 'spiffe://td/live', caller: 'spiffe://td/live' });
    expect(refuseUnproven(kept, { denyList, now: () => 1 })).toBe(kept);
  });

  it('turns an allow into a deny when the caller is deregistered, keeping caller and txn for the audit', () => {
    const refused = refuseUnproven(record({ caller: 'spiffe://td/gone' }), { denyList, now: () => 1 });
    expect(refused).toMatchObject({ decision: 'deny', reasons: [], caller: 'spiffe://td/gone', txn: 't-1', policyVersion: 3, tier: 'inventory', requestId: 'r-1' });
    expect(refused.errors).toEqual([{ policyId: 'verity:workload', message: expect.stringContaining('deregistered') }]);
  });

  it('turns an allow into a deny when the Workload principal is deregistered', () => {
    expect(refuseUnproven(record({ principal: 'spiffe://td/gone' }), { denyList, now: () => 1 }).decision).toBe('deny');
  });

  it('turns an allow into a deny when the PEP reports a forged caller header', () => {
    const refused = refuseUnproven(record({ caller: 'spiffe://td/live' }), { denyList, now: () => 1, forged: true });
    expect(refused).toMatchObject({ decision: 'deny', caller: 'spiffe://td/live' });
    expect(refused.errors[0]?.message).toContain('not a trusted proxy');
  });

  it('turns an allow into a deny when the Txn-Token names another subject than a non-Workload principal', () => {
    const refused = refuseUnproven(record({ caller: 'spiffe://td/live' }), { denyList, now: () => 1, txnSubject: 'bob' });
    expect(refused).toMatchObject({ decision: 'deny', reasons: [], txn: 't-1', caller: 'spiffe://td/live' });
    expect(refused.errors).toEqual([{ policyId: 'verity:txn', message: expect.stringContaining('another subject') }]);
    const same = record({ caller: 'spiffe://td/live' });
    expect(refuseUnproven(same, { denyList, now: () => 1, txnSubject: 'alice' })).toBe(same);
    // A Workload principal acts on behalf of the Txn-Token's subject: no match is asked of it.
    const workload = record({ principal: 'spiffe://td/live' });
    expect(refuseUnproven(workload, { denyList, now: () => 1, txnSubject: 'alice' })).toBe(workload);
  });

  it('does nothing without a deny list', () => {
    const kept = record({ caller: 'spiffe://td/gone' });
    expect(refuseUnproven(kept, { denyList: undefined, now: () => 1 })).toBe(kept);
  });
});

describe('assertTxnFromToken', () => {
  const cedar = (context: Record<string, CedarValue>): DecisionRequest => ({
    kind: 'cedar',
    request: { principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Item', id: '1' }, context },
  });

  it('refuses context.txn that no verified Txn-Token set, on AuthZEN and Cedar-native requests alike', () => {
    for (const request of [authzen({ txn: { sub: 'alice' } }), cedar({ txn: { sub: 'alice' } })]) {
      expect(() => assertTxnFromToken(request, {})).toThrow(expect.objectContaining({ code: 'ERR_DECISION_INVALID_REQUEST' }));
      expect(() => assertTxnFromToken(request, { txn: 't-1' })).not.toThrow();
    }
    expect(() => assertTxnFromToken(cedar({ other: 1 }), {})).not.toThrow();
  });
});
