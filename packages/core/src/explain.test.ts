/**
 * The explanation against cedar-wasm's own `isAuthorized` as the oracle, on generated policy sets
 * and every request over their entities: a permit reported as applying is one that allows on its
 * own, one reported as failing (scope or clause) does not, and an allow reports exactly its
 * determining permits. Also the text dissection it rests on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { createCedarEngine } from './cedar/index.js';
import { createDecisionPipeline, type PolicyView } from './decision-pipeline.js';
import { explainDecision, MAX_EXPLAIN_TEXT, SCOPE_MISS_DISTANCE, type PolicyExplanation } from './explain.js';
import type { Engine } from './engine.js';
import { cedarStringLiteral, dissectPolicy, fillSlots } from './explain-text.js';
import type { CedarRequest, Entity, EntityUid, PolicyStoreContent } from './types.js';

const engine = createCedarEngine();
const pipeline = createDecisionPipeline({ engine });
afterAll(() => engine.close());

const uid = (type: string, id: string): EntityUid => ({ type, id });
const ref = (type: string, id: string) => ({ __entity: uid(type, id) });

describe('dissectPolicy', () => {
  it('reads annotations, the scope and the clauses as written, past strings and comments', () => {
    const text = [
      '@id("p(1)") @reason_user("no, {not} you")',
      'permit (principal in Group::"a,b", // who, really)',
      '  action in [Action::"read", Action::"edit"], resource is Doc)',
      'when { principal.dept == "x}y" } // a comment with { a brace',
      'unless { resource.tags.contains("a;b") && [1, 2].contains(3) };',
    ].join('\n');
    expect(dissectPolicy(text)).toEqual({
      effect: 'permit',
      scope: ['principal in Group::"a,b"', '// who, really)\n  action in [Action::"read", Action::"edit"]', 'resource is Doc'],
      clauses: [
        { kind: 'when', body: ' principal.dept == "x}y" ' },
        { kind: 'unless', body: ' resource.tags.contains("a;b") && [1, 2].contains(3) ' },
      ],
    });
    expect(dissectPolicy('forbid(principal, action, resource);')).toEqual({ effect: 'forbid', scope: ['principal', 'action', 'resource'], clauses: [] });
    expect(dissectPolicy('permit(principal, action);')).toBeNull();
  });

  it('fills template slots with Cedar literals, and writes Cedar (not JSON) escapes', () => {
    expect(fillSlots('principal == ?principal', { '?principal': uid('User', 'a"b\\c') })).toBe('principal == User::"a\\"b\\\\c"');
    expect(fillSlots('resource in ?resource', {})).toBeNull();
    expect(fillSlots('resource == Doc::"?resource"', {})).toBe('resource == Doc::"?resource"');
    expect(cedarStringLiteral('a\u0001\nb')).toBe('"a\\u{1}\\u{a}b"');
  });
});

/** A small random generator with a seed, so a failure can be run again. */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return { next, pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T };
}

const PRINCIPALS = ['', 'principal == User::"alice"', 'principal in Group::"staff"', 'principal is User', 'principal is User in Group::"staff"'];
const ACTIONS = ['', 'action == Action::"read"', 'action in [Action::"read", Action::"edit"]', 'action == Action::"delete"'];
const RESOURCES = ['', 'resource == Doc::"d1"', 'resource is Doc', 'resource in Folder::"f"'];
const CONDITIONS = [
  'principal.level > 2',
  'resource.owner == principal',
  'context.mfa',
  'resource.public',
  'principal.dept == resource.dept // same department, {really}',
  'principal.dept != "x}y,z"',
  'principal.missing == 1', // errors: no such attribute
  'principal.level * 1000000000000 * 1000000000 > 0', // errors: overflow for a level of 1 or more
  'principal in resource.readers',
];

function generatedPolicy(rng: ReturnType<typeof random>, effect: 'permit' | 'forbid', n: number): string {
  const scope = [rng.pick(PRINCIPALS) || 'principal', rng.pick(ACTIONS) || 'action', rng.pick(RESOURCES) || 'resource'];
  const clauses = Array.from({ length: Math.floor(rng.next() * (effect === 'permit' ? 4 : 2)) }, () => `${rng.next() < 0.75 ? 'when' : 'unless'} { ${rng.pick(CONDITIONS)}\n}`);
  const reason = rng.next() < 0.5 ? `@reason_user("reason ${n}") ` : '';
  return `@id("${effect}${n}") ${reason}${effect}(${scope.join(', ')})\n${clauses.join(' ')};`;
}

const ENTITIES: Entity[] = [
  { uid: uid('User', 'alice'), attrs: { level: 3, dept: 'eng' }, parents: [uid('Group', 'staff')] },
  { uid: uid('User', 'bob'), attrs: { level: 1, dept: 'ops' }, parents: [] },
  { uid: uid('User', 'carol'), attrs: { level: 0, dept: 'eng' }, parents: [uid('Group', 'staff')] },
  { uid: uid('Group', 'staff'), attrs: {}, parents: [] },
  { uid: uid('Folder', 'f'), attrs: {}, parents: [] },
  { uid: uid('Doc', 'd1'), attrs: { owner: ref('User', 'alice'), public: false, dept: 'eng', readers: ref('Group', 'staff') }, parents: [uid('Folder', 'f')] },
  { uid: uid('Doc', 'd2'), attrs: { owner: ref('User', 'bob'), public: true, dept: 'ops', readers: ref('Group', 'staff') }, parents: [] },
];

function requests(): CedarRequest[] {
  const all: CedarRequest[] = [];
  for (const p of ['alice', 'bob', 'carol']) {
    for (const a of ['read', 'edit', 'delete']) {
      for (const r of ['d1', 'd2']) {
        for (const context of [{ mfa: true }, { mfa: false }]) all.push({ principal: uid('User', p), action: uid('Action', a), resource: uid('Doc', r), context });
      }
    }
  }
  return all;
}

/** cedar-wasm's answer on the whole entity set (never a slice). */
function oracle(policies: Record<string, string>, request: CedarRequest, templates: PolicyStoreContent['templates'] = {}, links: PolicyStoreContent['links'] = []) {
  const answer = cedar.isAuthorized({
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    context: request.context as never,
    policies: { staticPolicies: policies, templates, templateLinks: links.map((l) => ({ templateId: l.templateId, newId: l.id, values: l.values as Record<string, EntityUid> })) },
    entities: ENTITIES as never,
  });
  if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '));
  return { decision: answer.response.decision, reasons: [...answer.response.diagnostics.reason].sort(), errors: answer.response.diagnostics.errors.map((e) => e.policyId) };
}

async function viewOf(key: string, content: PolicyStoreContent): Promise<PolicyView> {
  return { tenant: 'oracle', version: 1, settings: {}, prepared: await engine.prepare(`oracle@${key}`, content) };
}

const lookup = (uids: EntityUid[]) => ENTITIES.filter((e) => uids.some((u) => u.type === e.uid.type && u.id === e.uid.id));

async function decideAndExplain(view: PolicyView, request: CedarRequest): Promise<{ decision: string; reasons: string[]; explanation: PolicyExplanation }> {
  const meta = { requestId: null, tier: null };
  const decisionRequest = { kind: 'cedar', request } as const;
  const record = await pipeline.decide(view, decisionRequest, lookup, meta);
  const explanation = await explainDecision({ engine, pipeline, view, request: decisionRequest, lookup, record, closest: 1000 });
  return { decision: record.decision, reasons: record.reasons, explanation };
}

describe('explainDecision against cedar-wasm', () => {
  it('agrees with the oracle on every request over generated policy sets (eight sets, 36 requests each)', async () => {
    let checked = 0;
    let failedClauses = 0;
    let scopeMisses = 0;
    for (let set = 0; set < 8; set++) {
      const rng = random(1000 + set);
      const policies: Record<string, string> = {};
      for (let n = 0; n < 5; n++) policies[`permit${n}`] = generatedPolicy(rng, 'permit', n);
      if (rng.next() < 0.7) policies.forbid0 = generatedPolicy(rng, 'forbid', 0);
      const templates = { grant: 'permit(principal == ?principal, action == Action::"edit", resource in ?resource) when { context.mfa };' };
      const links = [{ id: 'grant-bob', templateId: 'grant', values: { '?principal': uid('User', 'bob'), '?resource': uid('Folder', 'f') } }];
      const content: PolicyStoreContent = { validationMode: 'off', policies, templates, links };
      const view = await viewOf(`set${set}`, content);
      const permitIds = [...Object.keys(policies).filter((id) => id.startsWith('permit')), 'grant-bob'];
      for (const request of requests()) {
        const expected = oracle(policies, request, templates, links);
        const { decision, reasons, explanation } = await decideAndExplain(view, request);
        const at = `set ${set} ${JSON.stringify(request)}`;
        expect(decision, at).toBe(expected.decision);
        expect(explanation.decision, at).toBe(decision);
        expect(explanation.notes, at).toEqual([]);
        if (decision === 'allow') {
          // (ii) every determining permit is reported, as applying.
          expect(explanation.permits.map((p) => p.policyId).sort(), at).toEqual([...reasons].sort());
          for (const p of explanation.permits) expect(p.applies, `${at} ${p.policyId}`).toBe(true);
        } else {
          expect(explanation.permits.length + explanation.morePermits, at).toBe(permitIds.length);
          expect(explanation.forbids.map((f) => f.policyId).sort(), at).toEqual(expected.reasons);
        }
        for (const p of explanation.permits) {
          const alone = p.policyId === 'grant-bob' ? oracle({}, request, templates, links) : oracle({ [p.policyId]: policies[p.policyId] as string }, request);
          // (i) reported as applying ⇔ allows on its own; (iii) reported as failing ⇒ it does not.
          expect(p.applies, `${at} ${p.policyId}`).toBe(alone.decision === 'allow');
          if (p.failed.length + p.errored.length > 0 || p.unmatchedScope.length > 0) expect(alone.decision, `${at} ${p.policyId}`).toBe('deny');
          expect(p.distance >= SCOPE_MISS_DISTANCE, at).toBe(p.unmatchedScope.length > 0);
          const parts = p.policyId === 'grant-bob' ? null : dissectPolicy(policies[p.policyId] as string);
          if (parts !== null) {
            // Each scope part alone: reported unmatched ⇔ cedar-wasm says it does not match.
            parts.scope.forEach((constraint, k) => {
              const part = (['principal', 'action', 'resource'] as const)[k] as 'principal';
              const only = `permit(${['principal', 'action', 'resource'].map((q, j) => (j === k ? constraint : q)).join(',\n')});`;
              expect(oracle({ only }, request).decision === 'deny', `${at} ${p.policyId} ${part}`).toBe(p.unmatchedScope.includes(part));
            });
            // A clause reported failing is false alone (no error); one reported erroring errors alone.
            for (const clause of [...p.failed, ...p.errored]) {
              const c = parts.clauses[clause.index] as { kind: string; body: string };
              const answer = oracle({ c: `permit(${parts.scope.join(',\n')}) ${c.kind} {\n${c.body}\n};` }, request);
              expect(answer.decision, at).toBe('deny');
              expect(answer.errors.length > 0, `${at} ${p.policyId} clause ${clause.index}`).toBe(clause.message !== undefined);
            }
          }
          failedClauses += p.failed.length + p.errored.length;
          scopeMisses += p.unmatchedScope.length;
          checked++;
        }
      }
    }
    // The generator reaches every kind of answer.
    expect(checked).toBeGreaterThan(1000);
    expect(failedClauses).toBeGreaterThan(100);
    expect(scopeMisses).toBeGreaterThan(100);
  }, 60_000);

  it('names the scope part and the clause that failed, the closest first, with their reasons', async () => {
    const policies = {
      'owner-edits': '@reason_user("only owners edit") @reason_admin("owner-edits: resource.owner") permit(principal, action == Action::"edit", resource)\nwhen { resource.owner == principal }\nwhen { context.mfa };',
      'alice-only': 'permit(principal == User::"alice", action, resource);',
      'no-juniors': '@reason_user("juniors may not") forbid(principal, action, resource) when { principal.level < 1 };',
    };
    const content: PolicyStoreContent = { validationMode: 'off', policies, templates: {}, links: [] };
    const view = await viewOf('named', content);
    const bob = await decideAndExplain(view, { principal: uid('User', 'bob'), action: uid('Action', 'edit'), resource: uid('Doc', 'd1'), context: { mfa: false } });
    expect(bob.decision).toBe('deny');
    expect(bob.explanation.permits).toEqual([
      { policyId: 'owner-edits', applies: false, distance: 2, unmatchedScope: [], clauses: 2, failed: [{ index: 0, kind: 'when', text: 'resource.owner == principal' }, { index: 1, kind: 'when', text: 'context.mfa' }], errored: [], reasonUser: 'only owners edit', reasonAdmin: 'owner-edits: resource.owner' },
      { policyId: 'alice-only', applies: false, distance: SCOPE_MISS_DISTANCE + 1, unmatchedScope: ['principal'], clauses: 0, failed: [], errored: [] },
    ]);
    const carol = await decideAndExplain(view, { principal: uid('User', 'carol'), action: uid('Action', 'edit'), resource: uid('Doc', 'd1'), context: { mfa: true } });
    expect(carol.explanation.forbids).toEqual([{ policyId: 'no-juniors', reasonUser: 'juniors may not' }]);
    const alice = await decideAndExplain(view, { principal: uid('User', 'alice'), action: uid('Action', 'edit'), resource: uid('Doc', 'd1'), context: { mfa: true } });
    expect(alice.explanation).toMatchObject({ decision: 'allow', forbids: [], notes: [] });
    expect(alice.explanation.permits.map((p) => [p.policyId, p.applies])).toEqual([['alice-only', true], ['owner-edits', true]]);
  });

  it('says so when a deny came from outside the policies, and never changes the decision', async () => {
    const view = await viewOf('outside', { validationMode: 'off', policies: { all: 'permit(principal, action, resource);' }, templates: {}, links: [] });
    const request = { kind: 'cedar', request: { principal: uid('User', 'alice'), action: uid('Action', 'read'), resource: uid('Doc', 'd1'), context: {} } } as const;
    const allowed = await pipeline.decide(view, request, lookup, { requestId: null, tier: null });
    // As the workload gate makes it: a deny, no determining policy, the gate's error.
    const refused = { ...allowed, decision: 'deny' as const, reasons: [], errors: [{ policyId: 'verity:workload', message: 'deregistered' }] };
    const explanation = await explainDecision({ engine, pipeline, view, request, lookup, record: refused });
    expect(explanation).toMatchObject({ decision: 'deny', permits: [{ policyId: 'all', applies: true }], notes: [expect.stringContaining('verity:workload')] });
  });

  it('says so when no policy was asked: an action the schema does not declare', async () => {
    const schema = 'entity User; entity Doc; action read appliesTo { principal: User, resource: Doc };';
    const content: PolicyStoreContent = { validationMode: 'strict', schema, policies: { p: 'permit(principal, action == Action::"read", resource);' }, templates: {}, links: [] };
    const view = await viewOf('schema', content);
    const meta = { requestId: null, tier: null };
    const request = { kind: 'cedar', request: { principal: uid('User', 'a'), action: uid('Action', 'write'), resource: uid('Doc', 'd'), context: {} } } as const;
    const record = await pipeline.decide(view, request, () => [], meta);
    const explanation = await explainDecision({ engine, pipeline, view, request, lookup: () => [], record });
    expect(explanation).toMatchObject({ decision: 'deny', permits: [], notes: [expect.stringContaining('not declared')] });
  });

  describe('the text it builds is bounded (MAX_EXPLAIN_TEXT), not only the number of variants', () => {
    /** The engine, counting the characters of every variant set it is asked to prepare. */
    function measuring(): { engine: Engine; built: () => number } {
      let chars = 0;
      const measured: Engine = Object.create(engine) as Engine;
      measured.prepare = (key, content) => {
        if (key.includes('~explain@')) chars += [...Object.values(content.policies), ...Object.values(content.templates)].reduce((sum, text) => sum + text.length, 0);
        return engine.prepare(key, content);
      };
      return { engine: measured, built: () => chars };
    }

    async function explainBounded(key: string, content: PolicyStoreContent): Promise<{ explanation: PolicyExplanation; built: number; ms: number }> {
      const view = await viewOf(key, content);
      const request = { kind: 'cedar', request: { principal: uid('User', 'alice'), action: uid('Action', 'read'), resource: uid('Doc', 'd1'), context: {} } } as const;
      const record = await pipeline.decide(view, request, lookup, { requestId: null, tier: null });
      const { engine: measured, built } = measuring();
      const started = performance.now();
      const explanation = await explainDecision({ engine: measured, pipeline, view, request, lookup, record });
      return { explanation, built: built(), ms: performance.now() - started };
    }

    it('a long scope (a comment, an entity list) times many clauses: every clause explained, the scope not repeated per clause', async () => {
      // 100 KB of scope, 500 clauses: 50 MB of variants if each repeated the scope (the attack's draft: 6.4 GB).
      const text = `@id("big") permit(principal, action, resource\n// ${'A'.repeat(100_000)}\n)${' when { true }'.repeat(499)} when { false };`;
      const { explanation, built, ms } = await explainBounded('long-comment', { validationMode: 'off', policies: { big: text }, templates: {}, links: [] });
      expect(built).toBeLessThan(3 * text.length);
      expect(explanation).toMatchObject({ decision: 'deny', permits: [{ policyId: 'big', clauses: 500, applies: false, distance: 1, failed: [{ index: 499, kind: 'when', text: 'false' }] }], notes: [] });
      const actions = Array.from({ length: 2_000 }, (_, i) => `Action::"a${i}"`).join(', ');
      const listed = `@id("listed") permit(principal, action in [Action::"read", ${actions}], resource)${' when { true }'.repeat(500)};`;
      const long = await explainBounded('long-list', { validationMode: 'off', policies: { listed }, templates: {}, links: [] });
      expect(long.built).toBeLessThan(3 * listed.length);
      expect(long.explanation).toMatchObject({ decision: 'allow', permits: [{ policyId: 'listed', clauses: 500, applies: true }], notes: [] });
      expect(ms + long.ms).toBeLessThan(5_000);
    });

    it('a long template scope linked many times: the links past the bound are left out, with a note', async () => {
      // A 100 KB template scope and 100 links: each link's filled scope is new text (10 MB).
      const template = `permit(principal == ?principal, action, resource\n// ${'B'.repeat(100_000)}\n);`;
      const links = Array.from({ length: 100 }, (_, i) => ({ id: `l${i}`, templateId: 't', values: { '?principal': uid('User', `u${i}`) } }));
      const { explanation, built, ms } = await explainBounded('long-template', { validationMode: 'off', policies: {}, templates: { t: template }, links });
      expect(built).toBeLessThanOrEqual(MAX_EXPLAIN_TEXT);
      expect(explanation.decision).toBe('deny');
      expect(explanation.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^\d+ template link\(s\) not explained \(l\d+, .*MAX_EXPLAIN_TEXT/)]));
      expect(ms).toBeLessThan(5_000);
    });
  });
});
