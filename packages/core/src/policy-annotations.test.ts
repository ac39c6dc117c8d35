import { afterAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from './cedar/cedar-engine.js';
import { annotationFactsOf, MAX_STEP_UP_LEVELS, reasonTextsOf } from './policy-annotations.js';
import type { CedarPolicyJson } from './policy-analysis.js';

const engine = createCedarEngine();
afterAll(() => engine.close());

/** Cedar's own parsed form of each policy in `text`, keyed by its `@id`. */
async function parsed(text: string): Promise<Map<string, CedarPolicyJson>> {
  const parts = await engine.splitPolicyText(text, 'test.cedar');
  return new Map(parts.map((part, i) => [part.annotatedId ?? `p${i}`, part.json]));
}

describe('reasons from annotations', () => {
  it('reads @reason_user / @reason_admin per policy, trimmed, and joins the determining ones in policy-id order', async () => {
    const facts = annotationFactsOf(
      await parsed(`@id("b") @reason_user(" Not from there. ") forbid(principal, action, resource);
@id("a") @reason_user("Not now.") @reason_admin("forbid a") forbid(principal, action, resource);
@id("c") @reason_user("Not now.") forbid(principal, action, resource);
@id("quiet") @reason_user("") forbid(principal, action, resource);`),
    );
    expect(facts.reasons.get('b')).toEqual({ user: 'Not from there.' });
    expect(facts.reasons.has('quiet')).toBe(false);
    expect(reasonTextsOf(facts, ['c', 'b', 'a'])).toEqual({ user: 'Not now. Not from there.', admin: 'forbid a' });
    expect(reasonTextsOf(facts, ['quiet'])).toEqual({});
    expect(reasonTextsOf(facts, [])).toEqual({});
  });

  it('gives a template\'s reasons to its links', async () => {
    const template = await engine.splitPolicyText('@reason_user("Not yours.") forbid(principal == ?principal, action, resource);', 't.cedar');
    const facts = annotationFactsOf(new Map([['t', (template[0] as { json: CedarPolicyJson }).json]]), [{ id: 'link-1', templateId: 't', values: { '?principal': { type: 'User', id: 'u' } } }]);
    expect(reasonTextsOf(facts, ['link-1'])).toEqual({ user: 'Not yours.' });
  });
});

describe('step-up levels from annotations', () => {
  it('lists distinct levels in the order of the first policy id naming each, with max_age in seconds', async () => {
    const facts = annotationFactsOf(
      await parsed(`@id("z") @step_up_acr("urn:acr:mfa") permit(principal, action, resource);
@id("m") @step_up_acr("urn:acr:hw") @step_up_max_age("60") permit(principal, action, resource);
@id("a") @step_up_acr("urn:acr:mfa") @step_up_max_age("300") permit(principal, action, resource);
@id("b") @step_up_acr("urn:acr:mfa") @step_up_max_age("300") permit(principal, action, resource);
@id("n") permit(principal, action, resource);`),
    );
    expect(facts.stepUps).toEqual([{ acr: 'urn:acr:mfa', maxAgeSec: 300 }, { acr: 'urn:acr:hw', maxAgeSec: 60 }, { acr: 'urn:acr:mfa' }]);
  });

  it.each(['-1', '5m', '86401', '1.5', ''])('drops a level whose @step_up_max_age is %j (no step-up rather than a wrong one)', async (maxAge) => {
    const facts = annotationFactsOf(await parsed(`@id("a") @step_up_acr("urn:acr:mfa") @step_up_max_age("${maxAge}") permit(principal, action, resource);`));
    // An empty max_age is no max_age; anything else that is not whole seconds up to a day drops the level.
    expect(facts.stepUps).toEqual(maxAge === '' ? [{ acr: 'urn:acr:mfa' }] : []);
  });

  it(`tries at most ${MAX_STEP_UP_LEVELS} levels`, async () => {
    const text = Array.from({ length: MAX_STEP_UP_LEVELS + 2 }, (_, i) => `@id("p${i}") @step_up_acr("urn:acr:${i}") permit(principal, action, resource);`).join('\n');
    const facts = annotationFactsOf(await parsed(text));
    expect(facts.stepUps.map((level) => level.acr)).toEqual(Array.from({ length: MAX_STEP_UP_LEVELS }, (_, i) => `urn:acr:${i}`));
  });
});
