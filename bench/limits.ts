/**
 * Engine time at the edge of every documented limit (docs/security.md): the worst a tenant may
 * push and ask within the limits, decided through core's pipeline on the Cedar engine thread.
 * The claim it checks: any accepted policy plus any request within the limits is decided in
 * well under 50 ms of engine time. Run alone with `node --import @verity/cli/loader bench/limits.ts`, or as
 * part of `npm run bench`.
 */
import {
  createDecisionPipeline,
  ENGINE_COST_US,
  formatEntityUid,
  MAX_ANCESTOR_PAIRS,
  MAX_DECISION_ESTIMATE_MS,
  MAX_EXPRESSION_DEPTH,
  MAX_LIKE_WORK,
    MAX_POLICIES,
  MAX_SLICE_ENTITIES,
  MAX_VERSION_ESTIMATE_MS,
  type Entity,
  type EntityUid,
  type PolicyStoreContent,
} from '@verity/core';
import { createCedarEngine } from '@verity/core/cedar';
import { measure, summarize, type Summary } from './stats.js';

interface Scenario {
  name: string;
  policies: string[];
  entities: Entity[];
  subject: string;
  resource: string;
  context?: Record<string, unknown>;
}

const doc = (id: string, attrs: Entity['attrs'] = {}, parents: EntityUid[] = []): Entity => ({ uid: { type: 'Doc', id }, attrs, parents });
const group = (i: number): Entity => ({ uid: { type: 'Group', id: `g${i}` }, attrs: {}, parents: i === 0 ? [] : [{ type: 'Group', id: `g${i - 1}` }] });

/** The longest chain of groups whose closure stays within MAX_ANCESTOR_PAIRS. */
function chainWithinPairs(): Entity[] {
  let n = 1;
  while (((n + 1) * n) / 2 <= MAX_ANCESTOR_PAIRS) n++;
  return Array.from({ length: n - 1 }, (_, i) => group(i));
}

/** The most units of one kind a request may carry within the decision estimate, given the version's cost. */
const within = (costUs: number, versionUs = 0) => Math.floor((MAX_DECISION_ESTIMATE_MS * 1000 - versionUs - 100) / costUs);

function scenarios(): Scenario[] {
  const c = ENGINE_COST_US;
  // Cedar's matcher backtracks on `*aaa…b` against a long run of `a`: pattern × string steps.
  const LIKE_PATTERN = 200;
  const wide = (n: number) => Array.from({ length: n }, (_, i) => doc(`r${i}`));
  const refs = wide(Math.min(MAX_SLICE_ENTITIES - 2, within(c.perEntity + c.perValue + c.perReference)));
  const plain = wide(Math.min(MAX_SLICE_ENTITIES - 1, within(c.perEntity + c.perAncestorPair)));
  const values = Array.from({ length: within(c.perValue) - 10 }, (_, i) => i);
  const chain = chainWithinPairs();
  let ite = 'true';
  for (let i = 0; i < MAX_EXPRESSION_DEPTH - 3; i++) ite = `if true then ${ite} else false`;
  // Policies whose scope matches and whose condition runs to the end (an && chain of 40
  // comparisons): as many as the version estimate allows.
  const condition = (i: number) => Array.from({ length: 40 }, (_, j) => `context.n != ${i * 40 + j}`).join(' && ');
  // On Cedar's parsed form `context.n != 1` is 4 nodes (!=, ., context, 1); 39 && join them.
  const nodesPerPolicy = 40 * 4 + 39;
  const applicable = Math.floor((MAX_VERSION_ESTIMATE_MS * 1000) / (c.perPolicy + nodesPerPolicy * c.perConditionNode)) - 1;
  const busy = Array.from({ length: applicable }, (_, i) => `permit(principal, action, resource) when { ${condition(i)} };`);
  const scopeOnly = Math.min(MAX_POLICIES, Math.floor((MAX_VERSION_ESTIMATE_MS * 1000) / c.perPolicy) - 1);
  return [
    { name: `like: a ${LIKE_PATTERN}-element pattern × the longest string allowed (MAX_LIKE_WORK)`, policies: [`permit(principal, action, resource) when { context.s like "*${'a'.repeat(LIKE_PATTERN - 2)}b" };`], entities: [], subject: 'u', resource: 'd', context: { s: 'a'.repeat(Math.floor(MAX_LIKE_WORK / LIKE_PATTERN)) } },
    { name: `policies: ${scopeOnly} policies whose scope does not match`, policies: Array.from({ length: scopeOnly }, (_, i) => `permit(principal == User::"p${i}", action == Action::"read", resource == Doc::"d${i}");`), entities: [], subject: 'u', resource: 'd' },
    { name: `policies: ${applicable} applicable policies of ${nodesPerPolicy} nodes`, policies: busy, entities: [], subject: 'u', resource: 'd', context: { n: -1 } },
    { name: `slice: ${plain.length + 1} entities`, policies: ['permit(principal, action, resource);'], entities: [...plain, doc('wide', {}, plain.map((d) => d.uid))], subject: 'u', resource: 'wide' },
    { name: `slice: ${refs.length + 1} entities, one referring to all the others`, policies: ['permit(principal, action, resource);'], entities: [...refs, doc('wide', { refs: refs.map((d) => ({ __entity: d.uid })) })], subject: 'u', resource: 'wide' },
    { name: `values: a resource holding ${values.length} values`, policies: ['permit(principal, action, resource);'], entities: [doc('big', { values })], subject: 'u', resource: 'big' },
    { name: `hierarchy: a chain of ${chain.length} groups (~${MAX_ANCESTOR_PAIRS} ancestor pairs)`, policies: ['forbid(principal in Group::"g0", action, resource);', 'permit(principal, action, resource);'], entities: [...chain, doc('deep', {}, [{ type: 'Group', id: `g${chain.length - 1}` }])], subject: 'u', resource: 'deep' },
    {
      name: `combined: ${scopeOnly} policies and a ${within(c.perEntity + c.perAncestorPair, scopeOnly * c.perPolicy) + 1}-entity slice`,
      policies: Array.from({ length: scopeOnly }, (_, i) => `permit(principal == User::"p${i}", action == Action::"read", resource == Doc::"d${i}");`),
      entities: (() => {
        const members = wide(within(c.perEntity + c.perAncestorPair, scopeOnly * c.perPolicy) - 1);
        return [...members, doc('wide', {}, members.map((d) => d.uid))];
      })(),
      subject: 'u',
      resource: 'wide',
    },
    { name: `depth: conditions ${MAX_EXPRESSION_DEPTH - 3} levels deep`, policies: [`permit(principal, action, resource) when { context${'.a'.repeat(MAX_EXPRESSION_DEPTH - 3)} == 1 };`, `permit(principal, action, resource) when { ${ite} };`], entities: [], subject: 'u', resource: 'd', context: { a: 1 } },
  ];
}

export interface LimitsResult {
  rows: Summary[];
}

export async function runLimitsBench(log: (line: string) => void): Promise<LimitsResult> {
  const engine = createCedarEngine({ callTimeoutMs: 60_000 });
  const pipeline = createDecisionPipeline({ engine });
  const rows: Summary[] = [];
  try {
    for (const scenario of scenarios()) {
      log(`limits: ${scenario.name}…`);
      const content: PolicyStoreContent = { validationMode: 'off', policies: Object.fromEntries(scenario.policies.map((p, i) => [`p${i}`, p])), templates: {}, links: [] };
      const prepared = await engine.prepare(`bench@${rows.length}`, content);
      const byKey = new Map(scenario.entities.map((e) => [formatEntityUid(e.uid), e]));
      const lookup = (uids: EntityUid[]) => uids.flatMap((uid) => byKey.get(formatEntityUid(uid)) ?? []);
      const view = { tenant: 'bench', version: 1, settings: {}, prepared };
      const request = { kind: 'authzen' as const, request: { subject: { type: 'User', id: scenario.subject }, action: { name: 'read' }, resource: { type: 'Doc', id: scenario.resource }, ...(scenario.context ? { context: scenario.context } : {}) } };
      const meta = { requestId: null, tier: null };
      const result = await measure(() => pipeline.decide(view, request, lookup, meta), { warmup: 3, n: 40, budgetMs: 8000 });
      rows.push(summarize(scenario.name, result.samples, result.wallNs));
    }
  } finally {
    await engine.close();
  }
  return { rows };
}

export function formatLimitsSection(result: LimitsResult): string {
  const lines = ['engine time at the edge of each limit (one decision through the pipeline, engine thread round trip included)', '', '| scenario | n | p50 ms | p99 ms | mean ms |', '|---|---:|---:|---:|---:|'];
  for (const row of result.rows) lines.push(`| ${row.scenario} | ${row.n} | ${(row.p50Us / 1000).toFixed(1)} | ${(row.p99Us / 1000).toFixed(1)} | ${(row.meanUs / 1000).toFixed(1)} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runLimitsBench((line) => process.stderr.write(`${line}\n`)).then(
    (result) => process.stdout.write(`${formatLimitsSection(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
