/**
 * One differential case on both sides: cedar-wasm's stateless `isAuthorized` (the oracle) and
 * Verity's Cedar engine (`createCedarEngine({ evaluator: 'compiled' })`). They agree when both
 * refuse, or when decision, determining policies and erroring policies are the same (error
 * messages may differ). Each decided answer says which evaluator gave it: the compiled one, or
 * cedar-wasm as its fallback (an answer without `evaluator` counts as cedar-wasm).
 */
import type { CedarValue, Engine, EngineResult, Entity, PolicyStoreContent, PreparedPolicySet } from '@verity/core';
import { createCedarEngine, type CedarEngineOptions } from '@verity/core/cedar';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { oracleIsAuthorized, type OracleAnswer } from '../cedar-oracle.js';
import { caseOf, type DiffCase, type DiffGroup, type DiffPolicySet, type DiffRequest } from './generate.js';

/** Verity's answer, normalized like the oracle's. */
export type VerityAnswer =
  | { ok: true; decision: 'allow' | 'deny'; reasons: string[]; errors: string[]; evaluator: 'compiled' | 'cedar-wasm' }
  | { ok: false; code: string; message: string; stage: 'prepare' | 'authorize' };

/** Who decided a case on Verity's side. */
export type DecidedBy = 'compiled' | 'cedar-wasm' | 'refused';

export interface CaseOutcome {
  id: string;
  agree: boolean;
  /** What differs, when they disagree. */
  why?: string;
  oracle: OracleAnswer;
  verity: VerityAnswer;
  decidedBy: DecidedBy;
  /** Verity refused for one of its own limits (ERR_POLICY_TOO_COMPLEX …), not a Cedar refusal: not judged. */
  skipped?: boolean;
}

/** What `prepare` says about the evaluator of a set (absent until the compiled path lands). */
export type SetEvaluator = { kind: 'compiled' } | { kind: 'cedar-wasm'; reason: string } | undefined;

/** Codes meaning "Cedar refuses this input" (the same outcome as the oracle's `ok: false`). */
const CEDAR_REFUSALS = new Set(['ERR_DECISION_INVALID_REQUEST', 'ERR_POLICY_PARSE', 'ERR_POLICY_SCHEMA_PARSE']);
/** Codes of Verity's own limits: the case says nothing about the evaluator. */
const VERITY_LIMITS = new Set(['ERR_POLICY_TOO_COMPLEX', 'ERR_DECISION_LIMIT']);

/** The engine under test: the compiled evaluator (the option is ignored by engines without it). */
export function createEngineUnderTest(): Engine {
  const options: Record<string, unknown> = { evaluator: 'compiled', maxPrepared: 2_000 };
  return createCedarEngine(options as CedarEngineOptions);
}

export function contentOf(set: DiffPolicySet): PolicyStoreContent {
  return {
    validationMode: 'off',
    policies: set.policies,
    templates: set.templates,
    links: set.links,
    ...(set.schema === undefined ? {} : { schema: set.schema }),
  };
}

export function oracleAnswer(set: DiffPolicySet, request: DiffRequest): OracleAnswer {
  try {
    return oracleIsAuthorized({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: request.context,
      schema: set.schema,
      validateRequest: false,
      policies: {
        staticPolicies: set.policies,
        templates: set.templates,
        templateLinks: set.links.map((link) => ({ templateId: link.templateId, newId: link.id, values: { ...link.values } as Record<string, { type: string; id: string }> })),
      },
      entities: request.entities,
    });
  } catch (error) {
    // cedar-wasm's glue throws (rather than answering a failure) on input it cannot even read.
    return { ok: false, message: `threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

const sorted = (ids: Iterable<string>) => [...new Set(ids)].sort();

function refusal(error: unknown, stage: 'prepare' | 'authorize'): VerityAnswer {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : 'THROWN';
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, code, message: message.slice(0, 2000), stage };
}

function normalize(result: EngineResult): VerityAnswer {
  const evaluator = (result as EngineResult & { evaluator?: string }).evaluator === 'compiled' ? 'compiled' : 'cedar-wasm';
  return { ok: true, decision: result.decision, reasons: sorted(result.reasons), errors: sorted(result.errors.map((e) => e.policyId)), evaluator };
}

/** Undefined when the answers agree, else what differs. */
export function disagreement(oracle: OracleAnswer, verity: VerityAnswer): string | undefined {
  if (!oracle.ok && !verity.ok) return CEDAR_REFUSALS.has(verity.code) ? undefined : `both refuse, but Verity with ${verity.code} (${verity.message.slice(0, 300)})`;
  if (!oracle.ok) return `cedar-wasm refuses (${oracle.message.slice(0, 300)}) but Verity decides ${verity.ok ? verity.decision : ''}`;
  if (!verity.ok) return `Verity refuses (${verity.code} at ${verity.stage}: ${verity.message.slice(0, 300)}) but cedar-wasm decides ${oracle.decision}`;
  const diffs: string[] = [];
  if (oracle.decision !== verity.decision) diffs.push(`decision ${verity.decision}, cedar-wasm ${oracle.decision}`);
  if (oracle.reasons.join('\n') !== verity.reasons.join('\n')) diffs.push(`reasons [${verity.reasons.join(', ')}], cedar-wasm [${oracle.reasons.join(', ')}]`);
  if (oracle.errors.join('\n') !== verity.errors.join('\n')) diffs.push(`erroring [${verity.errors.join(', ')}], cedar-wasm [${oracle.errors.join(', ')}]`);
  return diffs.length ? diffs.join('; ') : undefined;
}

function outcome(id: string, oracle: OracleAnswer, verity: VerityAnswer): CaseOutcome {
  const decidedBy: DecidedBy = verity.ok ? verity.evaluator : 'refused';
  if (!verity.ok && VERITY_LIMITS.has(verity.code)) return { id, agree: true, oracle, verity, decidedBy, skipped: true };
  const why = disagreement(oracle, verity);
  return { id, agree: why === undefined, ...(why === undefined ? {} : { why }), oracle, verity, decidedBy };
}

let keyCounter = 0;

export interface GroupResult {
  evaluator: SetEvaluator;
  outcomes: CaseOutcome[];
}

/**
 * Every request of a group: one `prepare`, the decisions sent together (they run on the
 * engine's thread while the oracle answers on this one).
 */
export async function compareGroup(engine: Engine, group: DiffGroup): Promise<GroupResult> {
  const ids = group.requests.map((_, i) => caseOf(group, i).id);
  return compareRequests(engine, group, group.requests, ids);
}

/** One self-contained case. */
export async function compareCase(engine: Engine, c: DiffCase): Promise<CaseOutcome> {
  const { outcomes } = await compareRequests(engine, c, [c], [c.id]);
  return outcomes[0] as CaseOutcome;
}

/** Freeze a case's data: neither side may change its input (a change throws, and shows). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

async function compareRequests(engine: Engine, set: DiffPolicySet, requests: readonly DiffRequest[], ids: readonly string[]): Promise<GroupResult> {
  deepFreeze(set);
  deepFreeze(requests);
  let prepared: PreparedPolicySet | undefined;
  let prepareError: VerityAnswer | undefined;
  try {
    prepared = await engine.prepare(`diff-${process.pid}-${keyCounter++}@1`, contentOf(set));
  } catch (error) {
    prepareError = refusal(error, 'prepare');
  }
  const evaluator = prepared ? (prepared as PreparedPolicySet & { evaluator?: SetEvaluator }).evaluator : undefined;
  const pending = requests.map((req) =>
    prepared
      ? engine
          .authorize(prepared, { principal: req.principal, action: req.action, resource: req.resource, context: req.context as Record<string, CedarValue> }, req.entities as Entity[])
          .then(normalize, (error: unknown) => refusal(error, 'authorize'))
      : Promise.resolve(prepareError as VerityAnswer),
  );
  const oracles = requests.map((req) => oracleAnswer(set, req));
  const answers = await Promise.all(pending);
  return { evaluator, outcomes: answers.map((verity, i) => outcome(ids[i] as string, oracles[i] as OracleAnswer, verity)) };
}

type Json = Record<string, unknown>;

/**
 * Smaller versions of one policy or template, through Cedar's JSON form: without one of its
 * conditions or annotations, or with one expression replaced by one of its operands or by a
 * constant, biggest cuts first.
 */
function shrinkPolicy(text: string, template: boolean): string[] {
  const parsed = template ? cedar.templateToJson(text) : cedar.policyToJson(text);
  if (parsed.type !== 'success') return [];
  const json = parsed.json as unknown as Json;
  const out: string[] = [];
  const emit = (candidate: Json) => {
    const printed = template ? cedar.templateToText(candidate as never) : cedar.policyToText(candidate as never);
    if (printed.type === 'success' && printed.text !== text) out.push(printed.text);
  };
  const conditions = (json['conditions'] ?? []) as Json[];
  conditions.forEach((_, i) => emit({ ...json, conditions: conditions.filter((_c, k) => k !== i) }));
  if (json['annotations'] && Object.keys(json['annotations'] as Json).length) emit({ ...json, annotations: {} });
  for (const part of ['principal', 'action', 'resource']) if ((json[part] as Json | undefined)?.['op'] !== 'All') emit({ ...json, [part]: { op: 'All' } });
  // Every expression node, as a path from the condition body, breadth first.
  const children = (node: unknown): Array<Array<string | number>> => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return [];
    const [op] = Object.keys(node);
    if (op === undefined || op === 'Value' || op === 'Var' || op === 'Slot' || op === 'unknown') return [];
    const payload = (node as Json)[op];
    if (Array.isArray(payload)) return payload.map((_, i) => [op, i]);
    if (typeof payload !== 'object' || payload === null) return [];
    return Object.keys(payload)
      .filter((key) => typeof (payload as Json)[key] === 'object' && (payload as Json)[key] !== null && key !== 'pattern')
      .map((key) => [op, key]);
  };
  const at = (root: unknown, path: Array<string | number>): unknown => path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], root);
  conditions.forEach((condition, i) => {
    const queue: Array<Array<string | number>> = [[]];
    while (queue.length && out.length < 60) {
      const path = queue.shift() as Array<string | number>;
      const node = at(condition['body'], path);
      const replacements: unknown[] = [{ Value: true }, { Value: false }, ...children(node).map((sub) => at(node, sub))];
      for (const replacement of replacements) {
        if (JSON.stringify(replacement) === JSON.stringify(node)) continue;
        const body = structuredClone(condition['body']) as Json;
        let newBody: unknown = replacement;
        if (path.length) {
          const parent = at(body, path.slice(0, -1)) as Record<string | number, unknown>;
          parent[path[path.length - 1] as string | number] = replacement;
          newBody = body;
        }
        emit({ ...json, conditions: conditions.map((c, k) => (k === i ? { ...c, body: newBody } : c)) });
      }
      for (const sub of children(node)) queue.push([...path, ...sub]);
    }
  });
  return out;
}

/**
 * A smaller case that still disagrees (greedy: drop policies, templates, entities, context
 * keys, attributes, tags and parents one at a time, then shrink the conditions), within
 * `budget` re-runs.
 */
export async function minimize(engine: Engine, c: DiffCase, budget = 600): Promise<DiffCase> {
  let best = c;
  let runs = 0;
  const stillFails = async (candidate: DiffCase) => {
    runs++;
    return !(await compareCase(engine, candidate)).agree;
  };
  const attempt = async (candidates: () => Generator<DiffCase>) => {
    let progress = false;
    for (const candidate of candidates()) {
      if (runs >= budget) return progress;
      if (await stillFails(candidate)) {
        best = candidate;
        progress = true;
      }
    }
    return progress;
  };
  const entityList = () => best.entities as Array<Record<string, unknown>>;
  function* dropPolicies(): Generator<DiffCase> {
    if (best.schema !== undefined) {
      const { schema: _schema, ...withoutSchema } = best;
      yield withoutSchema;
    }
    for (const id of Object.keys(best.policies)) {
      const policies = { ...best.policies };
      delete policies[id];
      yield { ...best, policies };
    }
    for (const id of Object.keys(best.templates)) {
      const templates = { ...best.templates };
      delete templates[id];
      yield { ...best, templates, links: best.links.filter((l) => l.templateId !== id) };
    }
    for (let i = 0; i < best.links.length; i++) yield { ...best, links: best.links.filter((_, k) => k !== i) };
  }
  function* dropEntities(): Generator<DiffCase> {
    for (let i = entityList().length - 1; i >= 0; i--) yield { ...best, entities: best.entities.filter((_, k) => k !== i) };
  }
  function* dropContext(): Generator<DiffCase> {
    for (const key of Object.keys(best.context)) {
      const context = { ...best.context };
      delete context[key];
      yield { ...best, context };
    }
  }
  function* dropParts(): Generator<DiffCase> {
    const list = entityList();
    for (let i = 0; i < list.length; i++) {
      const entity = list[i] as Record<string, unknown>;
      for (const part of ['attrs', 'tags'] as const) {
        const record = entity[part];
        if (typeof record !== 'object' || record === null) continue;
        for (const key of Object.keys(record)) {
          const smaller = { ...(record as Record<string, unknown>) };
          delete smaller[key];
          yield { ...best, entities: list.map((e, k) => (k === i ? { ...entity, [part]: smaller } : e)) };
        }
      }
      const parents = entity['parents'];
      if (Array.isArray(parents)) {
        for (let p = 0; p < parents.length; p++) yield { ...best, entities: list.map((e, k) => (k === i ? { ...entity, parents: parents.filter((_, q) => q !== p) } : e)) };
      }
    }
  }
  /** One accepted shrink of one policy or template (the candidates of the others go stale). */
  const shrinkOnce = async (): Promise<boolean> => {
    for (const kind of ['policies', 'templates'] as const) {
      for (const [id, text] of Object.entries(best[kind])) {
        for (const smaller of shrinkPolicy(text, kind === 'templates')) {
          if (runs >= 0.7 * budget) return false;
          const candidate = { ...best, [kind]: { ...best[kind], [id]: smaller } };
          if (await stillFails(candidate)) {
            best = candidate;
            return true;
          }
        }
      }
    }
    return false;
  };
  // Repeat the passes while any of them makes progress.
  for (let round = 0; round < 4 && runs < budget; round++) {
    const a = await attempt(dropPolicies);
    const b = await attempt(dropEntities);
    const d = await attempt(dropContext);
    const e = await attempt(dropParts);
    let f = false;
    // Shrinking takes at most 70 % of the budget: the drops after it stay affordable.
    while (runs < 0.7 * budget && (await shrinkOnce())) f = true;
    if (!a && !b && !d && !e && !f) break;
  }
  return { ...best, id: `${c.id}-min` };
}

/** Counters over many outcomes. */
export interface Tally {
  cases: number;
  agree: number;
  disagree: number;
  compiled: number;
  fallback: number;
  refused: number;
  skipped: number;
  allow: number;
  deny: number;
  withErrors: number;
  setsCompiled: number;
  setsFallback: number;
  setsUnknown: number;
  setsRefused: number;
  fallbackReasons: Record<string, number>;
}

export function emptyTally(): Tally {
  return { cases: 0, agree: 0, disagree: 0, compiled: 0, fallback: 0, refused: 0, skipped: 0, allow: 0, deny: 0, withErrors: 0, setsCompiled: 0, setsFallback: 0, setsUnknown: 0, setsRefused: 0, fallbackReasons: {} };
}

export function addGroup(tally: Tally, result: GroupResult): void {
  const refusedAtPrepare = result.outcomes.length > 0 && result.outcomes.every((o) => !o.verity.ok && o.verity.stage === 'prepare');
  if (refusedAtPrepare) tally.setsRefused++;
  else if (result.evaluator === undefined) tally.setsUnknown++;
  else if (result.evaluator.kind === 'compiled') tally.setsCompiled++;
  else {
    tally.setsFallback++;
    const reason = result.evaluator.reason.slice(0, 80);
    tally.fallbackReasons[reason] = (tally.fallbackReasons[reason] ?? 0) + 1;
  }
  for (const o of result.outcomes) {
    tally.cases++;
    if (o.skipped) tally.skipped++;
    if (o.agree) tally.agree++;
    else tally.disagree++;
    if (o.decidedBy === 'compiled') tally.compiled++;
    else if (o.decidedBy === 'cedar-wasm') tally.fallback++;
    else tally.refused++;
    if (o.oracle.ok) {
      if (o.oracle.decision === 'allow') tally.allow++;
      else tally.deny++;
      if (o.oracle.errors.length) tally.withErrors++;
    }
  }
}

const pct = (n: number, of: number) => (of === 0 ? '–' : `${((100 * n) / of).toFixed(1)} %`);

/** Share of decided cases (not refused) that the compiled evaluator decided. */
export const compiledShare = (t: Tally) => (t.compiled + t.fallback === 0 ? 0 : t.compiled / (t.compiled + t.fallback));

export function formatTally(t: Tally, seconds: number): string {
  const decided = t.compiled + t.fallback;
  return [
    `cases ${t.cases}, agree ${t.agree}, DISAGREE ${t.disagree}${t.skipped ? `, skipped (Verity limits) ${t.skipped}` : ''}`,
    `decided by compiled ${t.compiled} (${pct(t.compiled, decided)} of decided), by cedar-wasm ${t.fallback}, refused ${t.refused} (${pct(t.refused, t.cases)})`,
    `oracle: allow ${t.allow} (${pct(t.allow, t.allow + t.deny)}), deny ${t.deny}, with erroring policies ${t.withErrors} (${pct(t.withErrors, t.allow + t.deny)})`,
    `policy sets: compiled ${t.setsCompiled}, fallback ${t.setsFallback}, no evaluator field ${t.setsUnknown}, refused at prepare ${t.setsRefused}`,
    ...Object.entries(t.fallbackReasons)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([reason, n]) => `  fallback ×${n}: ${reason}`),
    `${(t.cases / Math.max(seconds, 1e-9)).toFixed(0)} cases/s over ${seconds.toFixed(1)} s`,
  ].join('\n');
}
