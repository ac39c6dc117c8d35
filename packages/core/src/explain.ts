/**
 * Why a decision came out as it did (issue 14, docs/explain.md): for a deny, the permits that
 * came closest and what kept each from applying (a scope constraint that did not match, the
 * `when` / `unless` clauses that failed or errored); for an allow, the determining permits; and
 * the forbids that applied, each with its `@reason_user` / `@reason_admin` texts.
 *
 * Advisory only: the decision is always the one the normal evaluation made (the record passed
 * in), never changed here. Each permit is taken apart into variants — its scope alone, each
 * constrained scope part alone, and (once the scope matched) each clause alone — which are decided as one
 * policy set through the same decision pipeline, request and entity lookup as the decision: a
 * variant in the answer's reasons held, one in its errors errored. A clause that fails alone
 * fails in the whole policy (a policy is its scope and all its clauses), and a permit whose
 * variants all hold applies; the tests hold this against cedar-wasm.
 */
import { VerityError } from './errors.js';
import type { Engine, PreparedPolicySet } from './engine.js';
import type { DecideOptions, DecisionPipeline, EntityLookup, PolicyView } from './decision-pipeline.js';
import type { DecisionRecord, PolicyStoreContent } from './types.js';
import { hashPolicyContent } from './policy-content.js';
import { MAX_POLICIES } from './limits.js';
import { MAX_TEXT_LENGTH } from './policy-text-limits.js';
import { clauseSummary, dissectPolicy, fillSlots, type PolicyParts } from './explain-text.js';

/** The scope parts of a policy, in order. */
export type ScopePart = 'principal' | 'action' | 'resource';
const SCOPE_PARTS: readonly ScopePart[] = ['principal', 'action', 'resource'];

/** One clause of a permit that kept it from applying: its index among the policy's clauses (from 0), kind and text. */
export interface ExplainedClause {
  index: number;
  kind: 'when' | 'unless';
  /** The clause's body as written, white space collapsed, at most 300 characters. */
  text: string;
  /** Cedar's message, for a clause that errored. */
  message?: string;
}

/** One permit and why it did (not) apply. */
export interface ExplainedPermit {
  policyId: string;
  /** Its scope matched and every clause held: it permits this request (on a deny, a forbid overrode it). */
  applies: boolean;
  /**
   * How far it was from applying: 0 applies; else the number of clauses that failed or errored;
   * a scope that did not match ranks after every scope that did ({@link SCOPE_MISS_DISTANCE}
   * plus the parts that did not match).
   */
  distance: number;
  /** The scope parts that did not match (empty: the scope matched). */
  unmatchedScope: ScopePart[];
  /** How many `when` / `unless` clauses the policy has. */
  clauses: number;
  /** Clauses that were false (`when`) or true (`unless`); evaluated only when the scope matched. */
  failed: ExplainedClause[];
  /** Clauses whose evaluation errored (Cedar skips a policy that errors). */
  errored: ExplainedClause[];
  reasonUser?: string;
  reasonAdmin?: string;
}

/** A forbid that applied (a determining policy of a deny). */
export interface ExplainedForbid {
  policyId: string;
  reasonUser?: string;
  reasonAdmin?: string;
}

/** The explanation of one decision. */
export interface PolicyExplanation {
  /** The decision explained (the normal evaluation's, unchanged). */
  decision: 'allow' | 'deny';
  /** An allow: its determining permits. A deny: the closest permits, closest first. */
  permits: ExplainedPermit[];
  /** A deny: how many more permits there are than those listed. */
  morePermits: number;
  /** A deny: the forbids that applied (its determining policies). */
  forbids: ExplainedForbid[];
  /** What could not be explained, and why (an empty list: nothing left out). */
  notes: string[];
}

export interface ExplainOptions {
  engine: Engine;
  /** The pipeline that decided (variants are decided through it as the decision was). */
  pipeline: DecisionPipeline;
  /** The policy view the decision was made on. */
  view: PolicyView;
  /** The request as it was decided. */
  request: Parameters<DecisionPipeline['decide']>[1];
  /** The entity lookup the decision used. */
  lookup: EntityLookup;
  /** The normal evaluation's record: its decision and determining policies are what is explained. */
  record: DecisionRecord;
  /** The decision's options (its risk outcome), so variants see the context it saw. */
  decideOptions?: DecideOptions;
  /** How many permits a deny lists (default 3). */
  closest?: number;
}

/** Where a scope that did not match starts in {@link ExplainedPermit.distance}. */
export const SCOPE_MISS_DISTANCE = 1000;

/**
 * At most this many characters of policy text are built for one explanation (template links'
 * filled scopes and every variant, all stages): 2 MiB, twice a policy file's text limit (Cedar
 * parses it on the engine's thread: about a second for 2 MiB of long entity lists). Clause
 * variants do not repeat the scope, but template links do (a long scope linked 10,000 times),
 * as do the scope variants. Past it, what is left is not explained and a note says so; the
 * decision is not affected.
 */
export const MAX_EXPLAIN_TEXT = 2 * MAX_TEXT_LENGTH;

const TEXT_BOUND = `${MAX_EXPLAIN_TEXT / (1024 * 1024)} MiB of variant text, MAX_EXPLAIN_TEXT`;

/** What is left of an explanation's {@link MAX_EXPLAIN_TEXT}. */
interface TextBudget {
  left: number;
}

/** Take `chars` from the budget; false (nothing taken) when it does not hold that many. */
function take(budget: TextBudget, chars: number): boolean {
  if (chars > budget.left) return false;
  budget.left -= chars;
  return true;
}

/** One policy (static, or a template link with its slots filled) taken apart. */
interface Dissected {
  policyId: string;
  parts: PolicyParts;
}

/** The variants of one stage: their texts by id, and what each stands for. */
interface Stage {
  policies: Record<string, string>;
  meaning: Map<string, { permit: number; what: 'scope' | ScopePart | number }>;
}

/** The length of {@link variantText} at most: its parts and the syntax around them. */
const variantLength = (scope: readonly string[], clause?: PolicyParts['clauses'][number]): number =>
  scope.reduce((sum, part) => sum + part.length, 0) + (clause?.body.length ?? 0) + 32;

/** A permit's text rebuilt from parts, one per line (a part may end in a `//` comment). */
function variantText(scope: readonly string[], clause?: PolicyParts['clauses'][number]): string {
  const head = `permit(\n${scope.join('\n,\n')}\n)`;
  return clause === undefined ? `${head};` : `${head} ${clause.kind} {\n${clause.body}\n};`;
}

/**
 * The static policies and template links of a content, taken apart; the ids of those that could
 * not be, and of the links left out because their filled scopes would pass the budget.
 */
function dissectContent(content: PolicyStoreContent, budget: TextBudget): { policies: Dissected[]; unread: string[]; overBudget: string[] } {
  const policies: Dissected[] = [];
  const unread: string[] = [];
  const overBudget: string[] = [];
  for (const [policyId, text] of Object.entries(content.policies)) {
    const parts = dissectPolicy(text);
    if (parts === null) unread.push(policyId);
    else policies.push({ policyId, parts });
  }
  for (const link of content.links) {
    const template = content.templates[link.templateId];
    const parts = template === undefined ? null : dissectPolicy(template);
    // A filled scope is new text (a link per template can repeat a long scope 10,000 times).
    if (parts !== null && !take(budget, variantLength(parts.scope))) {
      overBudget.push(link.id);
      continue;
    }
    const scope = parts?.scope.map((constraint) => fillSlots(constraint, link.values));
    if (parts === null || scope === undefined || scope.some((s) => s === null)) unread.push(link.id);
    else policies.push({ policyId: link.id, parts: { ...parts, scope: scope as PolicyParts['scope'] } });
  }
  return { policies, unread, overBudget };
}

/** Decide a stage's variants; which held and which errored (with Cedar's message). */
async function decideStage(options: ExplainOptions, stage: Stage): Promise<{ held: Set<string>; errors: Map<string, string>; foreign: string[] }> {
  const { view, engine } = options;
  const content: PolicyStoreContent = { validationMode: 'off', policies: stage.policies, templates: {}, links: [] };
  if (view.prepared.content.schema !== undefined) content.schema = view.prepared.content.schema;
  // A lane of its own (`<tenant>~explain`): variant sets never evict the tenant's prepared versions.
  const prepared: PreparedPolicySet = await engine.prepare(`${view.tenant}~explain@${hashPolicyContent(content).slice(0, 16)}`, content);
  const record = await options.pipeline.decide({ ...view, prepared }, options.request, options.lookup, { requestId: null, tier: null }, options.decideOptions ?? {});
  const errors = new Map<string, string>();
  const foreign: string[] = [];
  for (const e of record.errors) {
    if (stage.meaning.has(e.policyId)) errors.set(e.policyId, e.message);
    else foreign.push(e.message);
  }
  return { held: new Set(record.reasons), errors, foreign };
}

const reasonsOf = (view: PolicyView, policyId: string): { reasonUser?: string; reasonAdmin?: string } => {
  const found = view.prepared.annotations.reasons.get(policyId);
  const out: { reasonUser?: string; reasonAdmin?: string } = {};
  if (found?.user !== undefined) out.reasonUser = found.user;
  if (found?.admin !== undefined) out.reasonAdmin = found.admin;
  return out;
};

const byDistance = (a: ExplainedPermit, b: ExplainedPermit) => a.distance - b.distance || (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0);

/**
 * Explain `options.record`. Never rejects for the request's or the policies' sake: what cannot
 * be explained (a request refused before any policy was asked, a set too large to take apart)
 * is said in `notes`. Rejects only for an engine failure that is not a VerityError.
 */
export async function explainDecision(options: ExplainOptions): Promise<PolicyExplanation> {
  const { record, view } = options;
  const explanation: PolicyExplanation = { decision: record.decision, permits: [], morePermits: 0, forbids: [], notes: [] };
  if (record.decision === 'deny') explanation.forbids = record.reasons.map((policyId) => ({ policyId, ...reasonsOf(view, policyId) }));
  const budget: TextBudget = { left: MAX_EXPLAIN_TEXT };
  const { policies, unread, overBudget } = dissectContent(view.prepared.content, budget);
  for (const id of unread) explanation.notes.push(`policy ${id}: its text could not be taken apart, so it is not explained`);
  if (overBudget.length > 0) explanation.notes.push(`${overBudget.length} template link(s) not explained (${overBudget.slice(0, 5).join(', ')}${overBudget.length > 5 ? ', …' : ''}): past the explanation's bound of ${TEXT_BOUND}`);
  const permits = policies.filter((p) => p.parts.effect === 'permit');
  try {
    const explained = await explainPermits(options, permits, explanation.notes, budget);
    if (record.decision === 'allow') {
      const determining = new Set(record.reasons);
      explanation.permits = explained.filter((p) => determining.has(p.policyId));
      for (const p of explanation.permits) if (!p.applies) explanation.notes.push(`policy ${p.policyId} determined the allow, but deciding its parts alone did not show why`);
    } else {
      const closest = options.closest ?? 3;
      explanation.permits = explained.slice(0, closest);
      explanation.morePermits = Math.max(0, explained.length - closest);
      // A permit held and no forbid did: what denied was not a policy (a refused workload, a
      // Txn-Token for someone else), which the errors name.
      if (record.reasons.length === 0 && explained.some((p) => p.applies)) {
        explanation.notes.push(`a permit applies, yet the decision is a deny: it was refused outside the policies (${record.errors.map((e) => e.policyId).join(', ') || 'no error named'})`);
      }
    }
  } catch (error) {
    if (!(error instanceof VerityError)) throw error;
    explanation.notes.push(`the permits could not be explained: ${error.message.slice(0, 500)}`);
  }
  return explanation;
}

/** Every permit explained, closest first. */
async function explainPermits(options: ExplainOptions, permits: readonly Dissected[], notes: string[], budget: TextBudget): Promise<ExplainedPermit[]> {
  if (permits.length === 0) return [];
  // Stage 1: each permit's scope, and each constrained part of it alone.
  const scopes: Stage = { policies: {}, meaning: new Map() };
  permits.forEach(({ parts }, n) => {
    // Its scope, and at most each part of it alone: not more than twice its length.
    if (!take(budget, 2 * variantLength(parts.scope) + 128)) throw new VerityError('ERR_POLICY_TOO_COMPLEX', `the permits' scopes pass the explanation's bound of ${TEXT_BOUND}`);
    scopes.policies[`v${n}s`] = variantText(parts.scope);
    scopes.meaning.set(`v${n}s`, { permit: n, what: 'scope' });
    parts.scope.forEach((constraint, k) => {
      const part = SCOPE_PARTS[k] as ScopePart;
      if (constraint === part) return; // unconstrained: it matches everything
      scopes.policies[`v${n}s${k}`] = variantText(SCOPE_PARTS.map((p, j) => (j === k ? constraint : p)));
      scopes.meaning.set(`v${n}s${k}`, { permit: n, what: part });
    });
  });
  if (scopes.meaning.size > MAX_POLICIES) throw new VerityError('ERR_POLICY_TOO_COMPLEX', `the version has too many permits to explain (${permits.length})`);
  const first = await decideStage(options, scopes);
  if (first.foreign.length > 0) {
    // The request was refused before any policy was asked (e.g. an action the schema does not declare).
    notes.push(...first.foreign.map((m) => m.slice(0, 500)));
    return [];
  }
  // Stage 2: the clauses of the permits whose scope matched, each alone under an open scope: for
  // this request the scope holds (stage 1) and a scope never errors, so `scope && clause` is
  // `clause`, and the scope's text (a long entity list, a comment) is not repeated per clause.
  // Each repeats its permit's scope: past MAX_POLICIES variants or the text budget, the rest are
  // left unevaluated (counted in each permit's distance, and noted).
  const clauses: Stage = { policies: {}, meaning: new Map() };
  let full = false;
  permits.forEach(({ parts }, n) => {
    if (!first.held.has(`v${n}s`)) return;
    parts.clauses.forEach((clause, i) => {
      full ||= clauses.meaning.size >= MAX_POLICIES || !take(budget, variantLength(SCOPE_PARTS, clause));
      if (full) return;
      clauses.policies[`v${n}c${i}`] = variantText(SCOPE_PARTS, clause);
      clauses.meaning.set(`v${n}c${i}`, { permit: n, what: i });
    });
  });
  const second = clauses.meaning.size === 0 ? { held: new Set<string>(), errors: new Map<string, string>(), foreign: [] } : await decideStage(options, clauses);
  return permits
    .map(({ policyId, parts }, n): ExplainedPermit => {
      const unmatchedScope = first.held.has(`v${n}s`) ? [] : SCOPE_PARTS.filter((part, k) => parts.scope[k] !== part && !first.held.has(`v${n}s${k}`));
      const explained: ExplainedPermit = { policyId, applies: false, distance: 0, unmatchedScope, clauses: parts.clauses.length, failed: [], errored: [], ...reasonsOf(options.view, policyId) };
      if (!first.held.has(`v${n}s`)) {
        // A scope error (none is possible today) or a mismatch: either way, it did not apply.
        explained.distance = SCOPE_MISS_DISTANCE + Math.max(1, unmatchedScope.length);
        return explained;
      }
      parts.clauses.forEach((clause, i) => {
        const id = `v${n}c${i}`;
        if (!clauses.meaning.has(id)) return;
        const shown: ExplainedClause = { index: i, kind: clause.kind, text: clauseSummary(clause.body) };
        const message = second.errors.get(id);
        if (message !== undefined) explained.errored.push({ ...shown, message: message.slice(0, 500) });
        else if (!second.held.has(id)) explained.failed.push(shown);
      });
      const unevaluated = parts.clauses.length - parts.clauses.filter((_, i) => clauses.meaning.has(`v${n}c${i}`)).length;
      if (unevaluated > 0) notes.push(`policy ${policyId}: ${unevaluated} clause(s) not evaluated (the explanation's bounds: MAX_POLICIES variants, ${TEXT_BOUND})`);
      explained.distance = explained.failed.length + explained.errored.length + unevaluated;
      explained.applies = explained.distance === 0;
      return explained;
    })
    .sort(byDistance);
}
