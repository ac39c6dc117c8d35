/**
 * What a policy set can make the engine do, read from Cedar's own parsed form of each policy
 * (its JSON policy format, never a parser of ours): how deep its expressions nest, how much
 * `like` work it can ask for, and which entities it names in a way that reads their data.
 */
import { VerityError, type Diagnostic } from './errors.js';
import { ENGINE_COST_US, MAX_EXPRESSION_DEPTH, MAX_LIKE_WORK, MAX_PATTERN_LENGTH, MAX_PATTERN_TOTAL, MAX_POLICIES, MAX_VERSION_ESTIMATE_MS } from './limits.js';
import { formatEntityUid } from './entity-uid.js';
import type { EntityUid } from './types.js';

/** Cedar's JSON form of one policy or template, as `policyToJson`/`templateToJson` give it. */
export interface CedarPolicyJson {
  effect: 'permit' | 'forbid';
  principal: CedarScopeJson;
  action: CedarScopeJson;
  resource: CedarScopeJson;
  conditions: Array<{ kind: 'when' | 'unless'; body: unknown }>;
  annotations?: Record<string, string | null>;
}

/** A scope constraint in Cedar's JSON form (`op` is All, ==, in or is). */
export interface CedarScopeJson {
  op: string;
  entity?: unknown;
  entities?: unknown[];
  slot?: string;
  entity_type?: string;
  in?: { entity?: unknown; slot?: string };
}

/** A principal or resource scope, reduced to what can rule a policy out for a request. */
export type ScopeSummary = { kind: 'any' } | { kind: 'eq'; uid: EntityUid } | { kind: 'is'; type: string };

/** Entities a policy reads the data of, and the scope that must match before it can. */
export interface ObservedEntities {
  policyId: string;
  principal: ScopeSummary;
  /** The action scope: one action (`==`), actions or their groups (`in`), or null for any; `keys`: the uids as `Type::"id"`. */
  actions: { op: '==' | 'in'; uids: EntityUid[]; keys: string[] } | null;
  resource: ScopeSummary;
  uids: EntityUid[];
}

/** The analysis of one policy-store version. */
export interface PolicySetAnalysis {
  /** Sum of the elements of every `like` pattern a decision can match (a template's once per link): multiplies the longest request string. */
  patternElements: number;
  /** Policies (and templates) that read the data of entities they name. */
  observed: ObservedEntities[];
  /** Actions named in scope constraints, for action search when there is no schema. */
  actions: EntityUid[];
  /** Estimated engine time of the policies alone, per decision, in µs (see ENGINE_COST_US). */
  costUs: number;
  /** Length of the longest string literal in the policies: a `like` may match it too. */
  longestLiteral: number;
}

/** One policy's limit problem, before it is anchored to a file position. */
export interface PolicyLimitProblem {
  policyId: string;
  message: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An entity uid in Cedar JSON (`{type, id}` or `{__entity: {type, id}}`), or null. */
function uidOf(value: unknown): EntityUid | null {
  if (!isObject(value)) return null;
  const inner = isObject(value.__entity) ? value.__entity : value;
  return typeof inner.type === 'string' && typeof inner.id === 'string' ? { type: inner.type, id: inner.id } : null;
}

function summarize(scope: CedarScopeJson): ScopeSummary {
  if (scope.op === '==') {
    const uid = uidOf(scope.entity);
    if (uid) return { kind: 'eq', uid };
  }
  if (scope.op === 'is' && typeof scope.entity_type === 'string') return { kind: 'is', type: scope.entity_type };
  return { kind: 'any' };
}

function scopeActions(scope: CedarScopeJson): { op: '==' | 'in'; uids: EntityUid[] } | null {
  if (scope.op === '==') return { op: '==', uids: [uidOf(scope.entity)].filter((uid): uid is EntityUid => uid !== null) };
  if (scope.op === 'in') return { op: 'in', uids: (scope.entities ?? [scope.entity]).map(uidOf).filter((uid): uid is EntityUid => uid !== null) };
  return null;
}

/** Operators whose operands are compared by identity only: an entity there needs no data. */
const COMPARING = new Set(['==', '!=', 'contains', 'containsAll', 'containsAny']);
/** Operators whose left operand's data (attributes, tags or ancestors) is read. */
const READING_LEFT = new Set(['.', 'has', 'getTag', 'hasTag', 'like', 'in']);

interface WalkResult {
  depth: number;
  /** Expression nodes: what evaluating the condition visits at most. */
  nodes: number;
  patterns: number[];
  observed: EntityUid[];
  longestLiteral: number;
}

/**
 * Walk one expression (iteratively: the input may be deep). `free` marks a position whose
 * value is only compared, never read: an entity literal there needs no load.
 */
function walkExpression(root: unknown): WalkResult {
  const result: WalkResult = { depth: 0, nodes: 0, patterns: [], observed: [], longestLiteral: 0 };
  const stack: Array<{ node: unknown; depth: number; free: boolean }> = [{ node: root, depth: 1, free: false }];
  while (stack.length > 0) {
    const { node, depth, free } = stack.pop() as { node: unknown; depth: number; free: boolean };
    if (depth > result.depth) result.depth = depth;
    result.nodes++;
    if (!isObject(node)) continue;
    const push = (child: unknown, childFree: boolean) => stack.push({ node: child, depth: depth + 1, free: childFree });
    for (const [op, body] of Object.entries(node)) {
      if (op === 'Value') {
        if (typeof body === 'string' && body.length > result.longestLiteral) result.longestLiteral = body.length;
        if (!free) collectLiteralEntities(body, result.observed);
      } else if (op === 'Var' || op === 'Slot') {
        // Variables are the request's own entities: roots of the slice already.
      } else if (op === 'Set' && Array.isArray(body)) {
        for (const item of body) push(item, free);
      } else if (op === 'Record' && isObject(body)) {
        for (const item of Object.values(body)) push(item, free);
      } else if (op === 'if-then-else' && isObject(body)) {
        push(body.if, false);
        push(body.then, free);
        push(body.else, free);
      } else if (op === 'is' && isObject(body)) {
        // `x is T` reads only the type; `x is T in y` reads x's ancestors.
        push(body.left, body.in === undefined);
        if (body.in !== undefined) push(body.in, true);
      } else if (op === 'like' && isObject(body)) {
        result.patterns.push(Array.isArray(body.pattern) ? body.pattern.length : 0);
        push(body.left, false);
      } else if (isObject(body) && ('left' in body || 'arg' in body)) {
        if ('arg' in body) push(body.arg, false);
        if ('left' in body) push(body.left, COMPARING.has(op) && !READING_LEFT.has(op));
        // `a in b` reads a's ancestors, never b's data; compared operands are identities.
        if ('right' in body) push(body.right, COMPARING.has(op) || op === 'in');
      } else if (Array.isArray(body)) {
        // An extension function or method call: arguments are values, read conservatively.
        for (const item of body) push(item, false);
      }
    }
  }
  return result;
}

/** Entity uids inside a literal value (an entity, or entities nested in a set or record). */
function collectLiteralEntities(value: unknown, into: EntityUid[]): void {
  const stack = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) stack.push(...item);
    else if (isObject(item)) {
      if (isObject(item.__entity)) {
        const uid = uidOf(item);
        if (uid) into.push(uid);
      } else stack.push(...Object.values(item));
    }
  }
}

/**
 * Analyse every policy and template of a version and check the structural limits. Problems
 * come back per policy so the caller can point at the file; an empty list means within limits.
 * `links` gives, for each template, how many links instantiate it (a template counts once per
 * link; ids not in it are static policies).
 */
export function analyzePolicySet(policies: ReadonlyMap<string, CedarPolicyJson>, links: ReadonlyMap<string, number> = new Map()): { analysis: PolicySetAnalysis; problems: PolicyLimitProblem[] } {
  const problems: PolicyLimitProblem[] = [];
  if (policies.size > MAX_POLICIES) problems.push({ policyId: '', message: `a policy-store version may hold at most ${MAX_POLICIES} policies and templates (MAX_POLICIES)` });
  const observed: ObservedEntities[] = [];
  const actions = new Map<string, EntityUid>();
  let patternElements = 0;
  let costUs = 0;
  let longestLiteral = 0;
  for (const [policyId, policy] of policies) {
    const instances = links.get(policyId) ?? 1;
    for (const uid of scopeActions(policy.action)?.uids ?? []) actions.set(formatEntityUid(uid), uid);
    const uids = new Map<string, EntityUid>();
    let depth = 0;
    let nodes = 0;
    for (const condition of policy.conditions) {
      const walked = walkExpression(condition.body);
      depth = Math.max(depth, walked.depth);
      nodes += walked.nodes;
      for (const length of walked.patterns) {
        // A template's pattern is matched once per link that instantiates it.
        patternElements += length * instances;
        if (length > MAX_PATTERN_LENGTH) problems.push({ policyId, message: `a like pattern has ${length} elements; at most ${MAX_PATTERN_LENGTH} are allowed (MAX_PATTERN_LENGTH)` });
      }
      for (const uid of walked.observed) uids.set(formatEntityUid(uid), uid);
      longestLiteral = Math.max(longestLiteral, walked.longestLiteral);
    }
    costUs += instances * (ENGINE_COST_US.perPolicy + nodes * ENGINE_COST_US.perConditionNode);
    if (depth > MAX_EXPRESSION_DEPTH) {
      problems.push({ policyId, message: `the condition nests ${depth} levels deep; at most ${MAX_EXPRESSION_DEPTH} are allowed (MAX_EXPRESSION_DEPTH): split it into several policies` });
    }
    if (uids.size > 0) {
      const actions = scopeActions(policy.action);
      observed.push({
        policyId,
        principal: summarize(policy.principal),
        actions: actions === null ? null : { op: actions.op, uids: actions.uids, keys: actions.uids.map(formatEntityUid) },
        resource: summarize(policy.resource),
        uids: [...uids.values()],
      });
    }
  }
  if (patternElements > MAX_PATTERN_TOTAL) {
    problems.push({ policyId: '', message: `the like patterns of this version have ${patternElements} elements together; at most ${MAX_PATTERN_TOTAL} are allowed (MAX_PATTERN_TOTAL)` });
  }
  if (patternElements * longestLiteral > MAX_LIKE_WORK) {
    problems.push({
      policyId: '',
      message: `a string literal of ${longestLiteral} characters against this version's ${patternElements} like-pattern elements is past the like work limit (MAX_LIKE_WORK ${MAX_LIKE_WORK}): a decision could spend seconds matching them`,
    });
  }
  if (costUs / 1000 > MAX_VERSION_ESTIMATE_MS) {
    problems.push({
      policyId: '',
      message: `evaluating this version would take about ${(costUs / 1000).toFixed(0)} ms of engine time per decision; at most ${MAX_VERSION_ESTIMATE_MS} ms are allowed (MAX_VERSION_ESTIMATE_MS): fewer or smaller policies, or templates with scopes that rule them out`,
    });
  }
  return { analysis: { patternElements, observed, actions: [...actions.values()], costUs, longestLiteral }, problems };
}

/** How many links instantiate each template (0 for one nobody links): the `links` of {@link analyzePolicySet}. */
export function templateInstances(templateIds: Iterable<string>, links: ReadonlyArray<{ templateId: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of templateIds) counts.set(id, 0);
  for (const link of links) counts.set(link.templateId, (counts.get(link.templateId) ?? 0) + 1);
  return counts;
}

/** Throw ERR_POLICY_TOO_COMPLEX with one diagnostic per problem (positions added by `anchor`). */
export function assertWithinPolicyLimits(problems: readonly PolicyLimitProblem[], anchor: (problem: PolicyLimitProblem) => Diagnostic = (p) => ({ message: p.message, ...(p.policyId ? { policyId: p.policyId } : {}) })): void {
  if (problems.length === 0) return;
  const first = problems[0] as PolicyLimitProblem;
  throw new VerityError('ERR_POLICY_TOO_COMPLEX', `${first.policyId ? `${first.policyId}: ` : ''}${first.message}`, { diagnostics: problems.map(anchor) });
}

/** Whether a scope summary can match `uid`. */
function scopeMayMatch(scope: ScopeSummary, uid: EntityUid): boolean {
  if (scope.kind === 'eq') return scope.uid.type === uid.type && scope.uid.id === uid.id;
  if (scope.kind === 'is') return scope.type === uid.type;
  return true;
}

/**
 * The entities the policies that may apply to this request read the data of. A policy whose
 * scope cannot match (another principal, type or action) is never evaluated past its scope, so
 * its entities are not needed. `action`: the request action's `Type::"id"`; `actionAncestors`
 * are its groups, when known.
 */
export function observedEntitiesFor(
  analysis: PolicySetAnalysis,
  request: { principal: EntityUid; resource: EntityUid },
  action: string,
  actionAncestors: ReadonlySet<string> | null,
): EntityUid[] {
  const found: EntityUid[] = [];
  for (const entry of analysis.observed) {
    if (!scopeMayMatch(entry.principal, request.principal) || !scopeMayMatch(entry.resource, request.resource)) continue;
    if (entry.actions !== null) {
      const named = entry.actions.keys;
      // `==` needs no hierarchy; `in` can be ruled out only when the action's groups are known.
      if (entry.actions.op === '==' && !named.includes(action)) continue;
      if (entry.actions.op === 'in' && actionAncestors !== null && !named.some((key) => key === action || actionAncestors.has(key))) continue;
    }
    found.push(...entry.uids);
  }
  return found;
}
