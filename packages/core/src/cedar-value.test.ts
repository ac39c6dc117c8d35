import { describe, expect, it } from 'vitest';
import { toCedarValue } from './cedar-value.js';
import { buildDecisionRecord } from './decision-pipeline.js';

describe('request JSON as Cedar values', () => {
  it('keeps sets of sets nested ([[1]] is not [1]) and drops only nulls', () => {
    expect(toCedarValue([[1], [2, [3]], null, []], 'context.s')).toEqual([[1], [2, [3]], []]);
    expect(toCedarValue({ a: [[{ b: [[true]] }]] }, 'context')).toEqual({ a: [[{ b: [[true]] }]] });
  });
});

describe('decision records', () => {
  it('hold only storable text: NUL and unpaired surrogates become U+FFFD', () => {
    const record = buildDecisionRecord({
      tenant: 't',
      principal: { type: 'User', id: 'a\u0000b' },
      action: { type: 'Action', id: 'read' },
      resource: { type: 'Doc', id: '\uD800' },
      decision: 'deny',
      reasons: [],
      errors: [{ policyId: 'p', message: 'record does not have the attribute `a\u0000b`' }],
      policyVersion: 1,
      meta: { requestId: null, tier: null },
      time: 0,
      latencyUs: 0,
    });
    expect(record.principal.id).toBe('a\uFFFDb');
    expect(record.resource.id).toBe('\uFFFD');
    expect(record.errors[0]?.message).toBe('record does not have the attribute `a\uFFFDb`');
  });
});
