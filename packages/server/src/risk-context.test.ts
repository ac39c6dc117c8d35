/** The per-subject key of a decision request: the principal, action and resource type the decision will see. */
import { describe, expect, it } from 'vitest';
import type { DecisionRequest } from '@verity/core';
import { activityKeyOf } from './risk-context.js';

const SETTINGS = { typeMapping: { user: 'Corp::User', doc: 'Corp::Doc' }, actionType: 'Corp::Action' };

describe('activityKeyOf', () => {
  it("keys an AuthZEN request by the token's principal when there is one, else by the mapped subject", () => {
    const request = { subject: { type: 'user', id: 'claimed' }, action: { name: 'read' }, resource: { type: 'doc', id: 'd-1' } };
    expect(activityKeyOf({ kind: 'authzen', request }, SETTINGS, null)).toEqual({ subject: 'Corp::User::"claimed"', action: 'Corp::Action::"read"', resourceType: 'Corp::Doc', location: null });
    const token = { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {} };
    const withToken = { kind: 'authzen', request, token } as DecisionRequest;
    expect(activityKeyOf(withToken, {}, { lat: 1, lon: 2 })).toEqual({ subject: 'User::"alice"', action: 'Action::"read"', resourceType: 'doc', location: { lat: 1, lon: 2 } });
  });

  it('keys a Cedar-native request by its own uids, unmapped', () => {
    const request = { principal: { type: 'User', id: 'bob' }, action: { type: 'Action', id: 'write' }, resource: { type: 'Doc', id: 'd-2' }, context: {} };
    expect(activityKeyOf({ kind: 'cedar', request }, SETTINGS, null)).toEqual({ subject: 'User::"bob"', action: 'Action::"write"', resourceType: 'Doc', location: null });
  });
});
