import { describe, expect, it } from 'vitest';
import { buildDecisionRecord, VerityError, type DecisionRecord, type DecisionRequest, type PolicyAnnotationFacts } from '@verity/core';
import { findStepUp, reasonsOf, steppedUpRequest } from './step-up.js';

const NOW_MS = 1_800_000_000_000;
const uid = (type: string, id: string) => ({ type, id });

function record(decision: 'allow' | 'deny', reasons: string[] = []): DecisionRecord {
  return buildDecisionRecord({ tenant: 't', principal: uid('User', 'alice'), action: uid('Action', 'write'), resource: uid('Doc', 'd'), decision, reasons, errors: [], policyVersion: 1, meta: { requestId: null, tier: null }, time: NOW_MS, latencyUs: 1 });
}

const EVALUATION = { subject: uid('User', 'alice'), action: { name: 'write' }, resource: uid('Doc', 'd') };
const REQUEST: DecisionRequest = {
  kind: 'authzen',
  request: EVALUATION,
  token: { principal: { uid: uid('User', 'alice'), attrs: {}, parents: [] }, context: {}, authentication: { authTime: NOW_MS / 1000 - 7200, acr: 'urn:acr:pwd', amr: ['pwd'] } },
};
const FACTS = (stepUps: PolicyAnnotationFacts['stepUps']) => ({ settings: { risk: { enabled: true } } as never, annotations: { reasons: new Map(), stepUps }, nowMs: NOW_MS });
const acrOf = (request: DecisionRequest) => (request.kind === 'authzen' ? request.token?.authentication?.acr : undefined);

describe('the stepped-up request', () => {
  it('is the same request authenticated now at the level, amr unchanged', () => {
    const stepped = steppedUpRequest(REQUEST, { acr: 'urn:acr:mfa', maxAgeSec: 60 }, NOW_MS);
    expect(stepped).toEqual({ ...REQUEST, token: { ...(REQUEST as { token: object }).token, authentication: { authTime: NOW_MS / 1000, acr: 'urn:acr:mfa', amr: ['pwd'] } } });
  });

  it('does not exist without a token that says how its subject authenticated', () => {
    expect(steppedUpRequest({ kind: 'authzen', request: EVALUATION }, { acr: 'x' }, NOW_MS)).toBeUndefined();
    expect(steppedUpRequest({ kind: 'cedar', request: { principal: uid('User', 'a'), action: uid('Action', 'r'), resource: uid('Doc', 'd'), context: {} } }, { acr: 'x' }, NOW_MS)).toBeUndefined();
  });
});

describe('finding a step-up', () => {
  it('answers the first level, in order, under which the decision allows', async () => {
    const tried: unknown[] = [];
    const decide = async (request: DecisionRequest) => (tried.push(acrOf(request)), record(acrOf(request) === 'urn:acr:hw' || acrOf(request) === 'urn:acr:bio' ? 'allow' : 'deny'));
    const found = await findStepUp(record('deny'), REQUEST, FACTS([{ acr: 'urn:acr:mfa' }, { acr: 'urn:acr:hw', maxAgeSec: 60 }, { acr: 'urn:acr:bio' }]), decide);
    expect(found).toEqual({ acr: 'urn:acr:hw', maxAgeSec: 60 });
    expect(tried).toEqual(['urn:acr:mfa', 'urn:acr:hw']);
  });

  it('fails closed: an error in a re-evaluation ends the search with no step-up', async () => {
    const decide = async (request: DecisionRequest) => {
      if (acrOf(request) === 'urn:acr:mfa') throw new VerityError('ERR_DECISION_LIMIT', 'over the budget');
      return record('allow');
    };
    expect(await findStepUp(record('deny'), REQUEST, FACTS([{ acr: 'urn:acr:mfa' }, { acr: 'urn:acr:hw' }]), decide)).toBeUndefined();
  });

  it('is not searched for an allow, with the risk engine off, or when no level allows', async () => {
    let calls = 0;
    const allow = async () => (calls++, record('allow'));
    expect(await findStepUp(record('allow'), REQUEST, FACTS([{ acr: 'urn:acr:mfa' }]), allow)).toBeUndefined();
    expect(await findStepUp(record('deny'), REQUEST, { ...FACTS([{ acr: 'urn:acr:mfa' }]), settings: {} }, allow)).toBeUndefined();
    expect(calls).toBe(0);
    expect(await findStepUp(record('deny'), REQUEST, FACTS([{ acr: 'urn:acr:mfa' }]), async () => record('deny'))).toBeUndefined();
  });
});

describe('a deny\'s reasons', () => {
  const annotations = { reasons: new Map([['scope', { user: 'Out of scope.', admin: 'forbid scope' }], ['quiet', {}]]), stepUps: [] };
  const settings = { reasons: { default_user: 'Not permitted.', default_admin: 'no policy permits it' } };

  it('come from the determining policies, else from the tenant defaults; an allow has none', () => {
    expect(reasonsOf(record('deny', ['scope']), annotations, settings)).toEqual({ reasonUser: 'Out of scope.', reasonAdmin: 'forbid scope' });
    expect(reasonsOf(record('deny', ['quiet']), annotations, settings)).toEqual({ reasonUser: 'Not permitted.', reasonAdmin: 'no policy permits it' });
    expect(reasonsOf(record('deny'), annotations, {})).toEqual({});
    expect(reasonsOf(record('allow', ['scope']), annotations, settings)).toEqual({});
  });
});
