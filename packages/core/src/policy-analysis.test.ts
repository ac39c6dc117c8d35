import { afterAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from './cedar/cedar-engine.js';
import { analyzePolicySet, observedEntitiesFor, type CedarPolicyJson } from './policy-analysis.js';
import { MAX_EXPRESSION_DEPTH, MAX_PATTERN_LENGTH, MAX_PATTERN_TOTAL } from './limits.js';

const engine = createCedarEngine();
afterAll(() => engine.close());

/** Cedar's own parsed form of each policy in `text`, keyed p0, p1, … */
async function parsed(text: string): Promise<Map<string, CedarPolicyJson>> {
  const parts = await engine.splitPolicyText(text, 'test.cedar');
  return new Map(parts.map((part, i) => [`p${i}`, part.json]));
}

const observed = async (condition: string) => {
  const { analysis } = analyzePolicySet(await parsed(`permit(principal, action, resource) when { ${condition} };`));
  return analysis.observed.flatMap((entry) => entry.uids.map((uid) => `${uid.type}::${uid.id}`)).sort();
};

describe('entities a policy reads', () => {
  it.each([
    ['attribute access', 'Group::"g".members.contains(principal)'],
    ['has', 'Group::"g" has members'],
    ['getTag', 'Group::"g".getTag("k") == 1'],
    ['hasTag', 'Group::"g".hasTag("k")'],
    ['the left of in (its ancestors)', 'Group::"g" in principal'],
    ['the left of is … in', 'Group::"g" is Group in principal'],
    ['an attribute of an entity flowing through if', '(if context.x then Group::"g" else Group::"h").open'],
    ['an attribute of an entity in a record', '{a: Group::"g"}.a.open'],
  ])('are loaded when the policy reads them: %s', async (_name, condition) => {
    expect((await observed(condition))[0]).toBe('Group::g');
  });

  it.each([
    ['equality', 'principal == Group::"g"'],
    ['inequality', 'principal != Group::"g"'],
    ['the right of in', 'principal in Group::"g"'],
    ['a set on the right of in', 'principal in [Group::"g", Group::"h"]'],
    ['contains on a set literal', '[Group::"g"].contains(principal)'],
    ['the argument of contains', 'principal.groups.contains(Group::"g")'],
    ['is without in', 'Group::"g" is Group'],
  ])('need no load when only compared: %s', async (_name, condition) => {
    expect(await observed(condition)).toEqual([]);
  });

  it('skips policies whose scope cannot match the request', async () => {
    const { analysis } = analyzePolicySet(
      await parsed(
        [
          'permit(principal == User::"a", action, resource) when { Flag::"a".on };',
          'permit(principal is Service, action, resource) when { Flag::"b".on };',
          'permit(principal, action == Action::"write", resource) when { Flag::"c".on };',
          'permit(principal, action in [Action::"readAll"], resource) when { Flag::"d".on };',
          'forbid(principal, action, resource == Doc::"x") when { Flag::"e".on };',
        ].join('\n'),
      ),
    );
    const request = { principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'y' } };
    const ids = (ancestors: ReadonlySet<string> | null) => observedEntitiesFor(analysis, request, 'Action::"read"', ancestors).map((uid) => uid.id).sort();
    // Without an action hierarchy, an `in` action scope might match: kept.
    expect(ids(null)).toEqual(['a', 'd']);
    // With the schema's hierarchy, `read` in `readAll` is known.
    expect(ids(new Set(['Action::"readAll"']))).toEqual(['a', 'd']);
    expect(ids(new Set())).toEqual(['a']);
  });
});

describe('structural limits on the parsed form', () => {
  it('measures nesting depth on Cedar\'s parsed form, whatever the construct', async () => {
    const chain = (n: number) => `context${'.a'.repeat(n)} == 1`;
    const ite = (n: number) => {
      let e = 'true';
      for (let i = 0; i < n; i++) e = `if true then ${e} else false`;
      return e;
    };
    for (const condition of [chain(MAX_EXPRESSION_DEPTH + 5), ite(MAX_EXPRESSION_DEPTH)]) {
      const { problems } = analyzePolicySet(await parsed(`permit(principal, action, resource) when { ${condition} };`));
      expect(problems.map((p) => p.message).join()).toMatch(/MAX_EXPRESSION_DEPTH/);
    }
    const { problems } = analyzePolicySet(await parsed(`permit(principal, action, resource) when { ${chain(MAX_EXPRESSION_DEPTH - 5)} };`));
    expect(problems).toEqual([]);
  });

  it('limits one like pattern, and all of a version\'s patterns together', async () => {
    const like = (n: number) => `permit(principal, action, resource) when { context.s like "*${'a'.repeat(n)}" };`;
    expect(analyzePolicySet(await parsed(like(MAX_PATTERN_LENGTH))).problems.map((p) => p.message).join()).toMatch(/MAX_PATTERN_LENGTH/);
    const many = Array.from({ length: Math.ceil(MAX_PATTERN_TOTAL / 500) + 1 }, () => like(499)).join('\n');
    const { analysis, problems } = analyzePolicySet(await parsed(many));
    expect(analysis.patternElements).toBeGreaterThan(MAX_PATTERN_TOTAL);
    expect(problems.map((p) => p.message).join()).toMatch(/MAX_PATTERN_TOTAL/);
  });

  it('counts a template\'s like pattern once per link: links multiply the matching work', async () => {
    const template = await engine.splitPolicyText(`forbid(principal, action, resource in ?resource) when { context.s like "*${'a'.repeat(998)}b" };`, 't.cedar');
    const json = new Map([['t', (template[0] as { json: CedarPolicyJson }).json]]);
    expect(analyzePolicySet(json, new Map([['t', 1]])).analysis.patternElements).toBe(1000);
    const linked = analyzePolicySet(json, new Map([['t', 400]]));
    expect(linked.analysis.patternElements).toBe(400_000);
    expect(linked.problems.map((p) => p.message).join()).toMatch(/MAX_PATTERN_TOTAL/);
  });
});
