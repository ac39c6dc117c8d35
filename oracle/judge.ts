/** Verity's outcome against the oracle's answer, and the tallies a run prints. */
import type { OracleAnswer } from './cedar-oracle.js';
import type { Judged, Mismatch, OracleRequest, OracleStore, Outcome, PathName, Verdict } from './model.js';

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const mapped = (ids: readonly string[], idMap: Record<string, string> | undefined) => [...new Set(ids.map((id) => idMap?.[id] ?? id))].sort();

/**
 * The invariant: Verity's decision, determining policies and erroring policies equal the
 * oracle's, or Verity refuses with a stable code; never an answer where Cedar refuses (except
 * the documented deny for an action the schema does not declare), never an allow Cedar does
 * not give. `errors` is compared only when the path reports them.
 */
export function judge(oracle: OracleAnswer, outcome: Outcome, idMap: Record<string, string> | undefined): Judged {
  switch (outcome.kind) {
    case 'inexpressible':
      return { verdict: 'inexpressible', detail: outcome.why };
    case 'failed':
      return { verdict: 'mismatch', detail: `Verity failed: ${outcome.message.slice(0, 300)}` };
    case 'refused':
      return oracle.ok ? { verdict: 'verity-refused', detail: `${outcome.stage}:${outcome.code}` } : { verdict: 'agree-refused', detail: outcome.code };
    case 'decided': {
      const reasons = mapped(outcome.reasons, idMap);
      const errors = outcome.errors === undefined ? undefined : mapped(outcome.errors, idMap);
      if (!oracle.ok) {
        if (outcome.decision === 'deny' && reasons.length === 0 && outcome.errors?.includes('schema')) return { verdict: 'agree-refused', detail: 'schema-deny' };
        // The SDK reports no errors: a deny with no determining policy is all it can say.
        if (outcome.decision === 'deny' && reasons.length === 0 && outcome.errors === undefined) return { verdict: 'agree-refused', detail: 'deny (errors not reported)' };
        return { verdict: 'mismatch', detail: `Cedar refused the request (${oracle.message.slice(0, 300)}) but Verity answered ${outcome.decision} [${reasons.join(', ')}]` };
      }
      const problems: string[] = [];
      if (outcome.decision !== oracle.decision) problems.push(`decision ${outcome.decision} ≠ Cedar ${oracle.decision}`);
      if (!same(reasons, oracle.reasons)) problems.push(`determining [${reasons.join(', ')}] ≠ Cedar [${oracle.reasons.join(', ')}]`);
      if (errors !== undefined && !same(errors, oracle.errors)) problems.push(`erroring [${errors.join(', ')}] ≠ Cedar [${oracle.errors.join(', ')}]`);
      return problems.length === 0 ? { verdict: 'agree', detail: '' } : { verdict: 'mismatch', detail: problems.join('; ') };
    }
  }
}

export interface PathTally {
  total: number;
  verdicts: Record<Verdict, number>;
  /** Refusals where Cedar decided, by `stage:code`. */
  refusals: Record<string, number>;
  inexpressible: Record<string, number>;
  mismatches: number;
  /** Agreements on an allow (the rest of `agree` are denies). */
  agreeAllows: number;
  /** Mismatches whose policy ids name the same policy texts as Cedar's (a naming bug, not a decision one). */
  namingMismatches: number;
  /** Mismatches where Verity allowed and Cedar did not. */
  unsafeAllows: number;
}

export interface Tally {
  stores: number;
  requests: number;
  paths: Partial<Record<PathName, PathTally>>;
  /** The oracle against the test files' own expected answers (corpus). */
  oracleVsExpected: { checked: number; agree: number; differ: number; refused: number };
  /** The first mismatches, in full (all are counted). */
  mismatches: Mismatch[];
  /**
   * PDP decisions whose audit record could not be written (a record holding text the store
   * cannot hold once blocked the audit queue of every tenant): must stay 0.
   */
  unauditable: { count: number; stores: string[] };
  /** Push / entity-import refusals, by store. */
  setupRefusals: Array<{ store: string; stage: string; code: string; message: string }>;
}

export function emptyTally(): Tally {
  return { stores: 0, requests: 0, paths: {}, oracleVsExpected: { checked: 0, agree: 0, differ: 0, refused: 0 }, unauditable: { count: 0, stores: [] }, mismatches: [], setupRefusals: [] };
}

const MAX_KEPT = 200;

export function record(tally: Tally, path: PathName, store: OracleStore, request: OracleRequest, oracle: OracleAnswer, outcome: Outcome): Judged {
  const judged = judge(oracle, outcome, store.idMap);
  const t = (tally.paths[path] ??= {
    total: 0,
    verdicts: { agree: 0, 'agree-refused': 0, 'verity-refused': 0, inexpressible: 0, mismatch: 0 },
    refusals: {},
    inexpressible: {},
    agreeAllows: 0,
    mismatches: 0,
    namingMismatches: 0,
    unsafeAllows: 0,
  });
  t.total += 1;
  if (judged.verdict === 'agree' && oracle.ok && oracle.decision === 'allow') t.agreeAllows += 1;
  t.verdicts[judged.verdict] += 1;
  if (judged.verdict === 'verity-refused') t.refusals[judged.detail] = (t.refusals[judged.detail] ?? 0) + 1;
  if (judged.verdict === 'inexpressible') t.inexpressible[judged.detail] = (t.inexpressible[judged.detail] ?? 0) + 1;
  if (judged.verdict === 'mismatch') {
    t.mismatches += 1;
    if (outcome.kind === 'decided' && outcome.decision === 'allow' && !(oracle.ok && oracle.decision === 'allow')) t.unsafeAllows += 1;
    const kind = store.idMapByText && judge(oracle, outcome, store.idMapByText).verdict === 'agree' ? 'naming' : 'decision';
    if (kind === 'naming') t.namingMismatches += 1;
    const kept = tally.mismatches.filter((m) => m.kind === kind).length;
    if (kept < MAX_KEPT / 2) tally.mismatches.push({ path, store: store.name, request, oracle, outcome, detail: judged.detail, kind });
  }
  return judged;
}

/** Checks the oracle against a test file's expected answer (the corpus's own ground truth). */
export function checkOracle(tally: Tally, request: OracleRequest, oracle: OracleAnswer): void {
  if (!request.expected) return;
  const o = tally.oracleVsExpected;
  o.checked += 1;
  if (!oracle.ok) o.refused += 1;
  else if (oracle.decision === request.expected.decision && same(oracle.reasons, [...request.expected.reasons].sort()) && same(oracle.errors, [...new Set(request.expected.errors)].sort())) o.agree += 1;
  else o.differ += 1;
}

export function mergeTallies(into: Tally, from: Tally): void {
  into.stores += from.stores;
  into.unauditable.count += from.unauditable.count;
  into.unauditable.stores.push(...from.unauditable.stores.slice(0, Math.max(0, 20 - into.unauditable.stores.length)));
  into.requests += from.requests;
  for (const key of ['checked', 'agree', 'differ', 'refused'] as const) into.oracleVsExpected[key] += from.oracleVsExpected[key];
  for (const [path, t] of Object.entries(from.paths) as Array<[PathName, PathTally]>) {
    const target = (into.paths[path] ??= { total: 0, verdicts: { agree: 0, 'agree-refused': 0, 'verity-refused': 0, inexpressible: 0, mismatch: 0 }, refusals: {}, inexpressible: {}, agreeAllows: 0, mismatches: 0, namingMismatches: 0, unsafeAllows: 0 });
    target.total += t.total;
    target.agreeAllows += t.agreeAllows;
    target.mismatches += t.mismatches;
    target.namingMismatches += t.namingMismatches;
    target.unsafeAllows += t.unsafeAllows;
    for (const [k, v] of Object.entries(t.verdicts) as Array<[Verdict, number]>) target.verdicts[k] += v;
    for (const [k, v] of Object.entries(t.refusals)) target.refusals[k] = (target.refusals[k] ?? 0) + v;
    for (const [k, v] of Object.entries(t.inexpressible)) target.inexpressible[k] = (target.inexpressible[k] ?? 0) + v;
  }
  for (const m of from.mismatches) if (into.mismatches.filter((k) => k.kind === m.kind).length < MAX_KEPT / 2) into.mismatches.push(m);
  into.setupRefusals.push(...from.setupRefusals);
}

const PATH_ORDER: PathName[] = ['pdp-http', 'pdp-authzen', 'sdk-local', 'policy-test'];

/** A plain-text summary: per path, agree / refused (by code) / inexpressible / mismatches. */
export function formatTally(title: string, tally: Tally, maxMismatches = 20): string {
  const lines = [`${title}: ${tally.stores} stores, ${tally.requests} requests`];
  const o = tally.oracleVsExpected;
  if (o.checked > 0) lines.push(`  oracle vs the tests' expected answers: ${o.checked} checked, ${o.agree} agree, ${o.differ} differ, ${o.refused} refused by cedar-wasm`);
  for (const path of PATH_ORDER) {
    const t = tally.paths[path];
    if (!t) continue;
    const v = t.verdicts;
    lines.push(
      `  ${path.padEnd(12)} ${t.total} requests: ${v.agree} agree (${t.agreeAllows} allow), ${v['agree-refused']} both refuse, ${v['verity-refused']} Verity refused, ${v.inexpressible} inexpressible, ${v.mismatch} MISMATCHES (${t.namingMismatches} policy-id naming only, ${t.unsafeAllows} unsafe allows)`,
    );
    for (const [code, n] of Object.entries(t.refusals).sort((a, b) => b[1] - a[1])) lines.push(`      refused ${code}: ${n}`);
    for (const [why, n] of Object.entries(t.inexpressible).sort((a, b) => b[1] - a[1])) lines.push(`      inexpressible (${why}): ${n}`);
  }
  if (tally.unauditable.count > 0) lines.push(`  PDP decisions whose audit record holds U+0000 (unwritable, they block the audit queue): ${tally.unauditable.count}, e.g. in ${tally.unauditable.stores.slice(0, 3).join(', ')}`);
  if (tally.setupRefusals.length > 0) {
    const byCode = new Map<string, number>();
    for (const r of tally.setupRefusals) byCode.set(`${r.stage}:${r.code}`, (byCode.get(`${r.stage}:${r.code}`) ?? 0) + 1);
    lines.push(`  stores refused at setup: ${[...byCode].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    for (const r of tally.setupRefusals.slice(0, 10)) lines.push(`      ${r.store} ${r.stage}:${r.code} ${r.message.slice(0, 200)}`);
  }
  // Decision mismatches first: naming ones are many and alike.
  const shown = [...tally.mismatches.filter((m) => m.kind === 'decision'), ...tally.mismatches.filter((m) => m.kind === 'naming').slice(0, 3)];
  for (const m of shown.slice(0, maxMismatches)) lines.push(`  MISMATCH (${m.kind}) ${describeMismatch(m)}`);
  return lines.join('\n');
}

export function describeMismatch(m: Mismatch): string {
  const r = m.request;
  const uid = (u: { type: string; id: string }) => `${u.type}::${JSON.stringify(u.id)}`;
  const oracle = m.oracle.ok ? `${m.oracle.decision} [${m.oracle.reasons.join(', ')}] errors [${m.oracle.errors.join(', ')}]` : `refused: ${m.oracle.message.slice(0, 200)}`;
  const outcome = m.outcome.kind === 'decided' ? `${m.outcome.decision} [${m.outcome.reasons.join(', ')}]${m.outcome.errors ? ` errors [${m.outcome.errors.join(', ')}]` : ''}` : JSON.stringify(m.outcome).slice(0, 300);
  return `${m.path} ${r.label}: ${uid(r.principal)} ${uid(r.action)} ${uid(r.resource)} — ${m.detail}\n      Cedar: ${oracle}\n      Verity: ${outcome}`;
}
