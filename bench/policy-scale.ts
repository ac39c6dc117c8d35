/**
 * `node --import @verity/cli/loader bench/policy-scale.ts [--json] [--max 100000]`: does a decision's cost
 * depend on how many policies the tenant has? One tenant-shaped policy set at 10, 1,000,
 * 10,000 and 100,000 policies (one per user, `principal == User::"uN"`, plus role policies and
 * a forbid that apply to everyone), the same request, decided by the compiled evaluator (its
 * scope index picks the candidate policies) and by cedar-wasm `statefulIsAuthorized` (which
 * tests every policy), in one run. Engine only: no pipeline, no audit, no cache.
 *
 * The policies are parsed by cedar-wasm (`policyToJson`) and compiled straight from that JSON:
 * a version pushed through the API may hold at most MAX_POLICIES (10,000) policies.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compilePolicySet } from '../packages/core/src/cedar/compiled/policy-set.js';
import type { CedarPolicyJson } from '@verity/core';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const maxArg = process.argv.indexOf('--max');
const max = maxArg >= 0 ? Number(process.argv[maxArg + 1]) : 100_000;
const log = (line: string) => process.stderr.write(`${line}\n`);

const GENERAL = [
  'permit(principal in Role::"admin", action, resource);',
  'permit(principal, action == Action::"read", resource) when { resource has public && resource.public };',
  'forbid(principal, action == Action::"delete", resource) when { resource.locked };',
  'permit(principal is User, action == Action::"list", resource is Folder);',
  'forbid(principal, action, resource) when { principal has suspended && principal.suspended };',
];
const perUser = (i: number) => `permit(principal == User::"u${i}", action in [Action::"read", Action::"write"], resource in Folder::"f${i % 100}") when { resource.level <= principal.level };`;

function policiesOf(n: number): Map<string, CedarPolicyJson> {
  const map = new Map<string, CedarPolicyJson>();
  const texts = [...GENERAL, ...Array.from({ length: Math.max(0, n - GENERAL.length) }, (_, i) => perUser(i))].slice(0, n);
  texts.forEach((text, i) => {
    const answer = cedar.policyToJson(text);
    if (answer.type !== 'success') throw new Error(`policy ${i}: ${answer.errors.map((e) => e.message).join('; ')}`);
    map.set(`p${i}`, answer.json as unknown as CedarPolicyJson);
  });
  return map;
}

const request = { principal: { type: 'User', id: 'u3' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd3' }, context: {} };
const entities = [
  { uid: { type: 'User', id: 'u3' }, attrs: { level: 3 }, parents: [{ type: 'Role', id: 'staff' }] },
  { uid: { type: 'Doc', id: 'd3' }, attrs: { level: 2, locked: false }, parents: [{ type: 'Folder', id: 'f3' }] },
];

const summaries: Summary[] = [];
const sizes = [10, 1_000, 10_000, 100_000].filter((n) => n <= max);
for (const n of sizes) {
  log(`${n} policies: parsing…`);
  const policies = policiesOf(n);
  const compiled = compilePolicySet({ policies, templates: new Map(), links: [], schema: null, actionAncestors: null });
  if (!compiled.ok) throw new Error(`not compiled: ${compiled.reason}`);
  const set = compiled.set;
  const answer = set.authorize(request, entities);
  if (answer.decision !== 'allow' || answer.reasons.join() !== 'p8') throw new Error(`compiled: ${JSON.stringify(answer)}`);
  const texts = Object.fromEntries([...policies.keys()].map((id, i) => [id, i < GENERAL.length ? (GENERAL[i] as string) : perUser(i - GENERAL.length)]));
  const key = `scale-${n}`;
  const prepared = cedar.preparsePolicySet(key, { staticPolicies: texts });
  if (prepared.type !== 'success') throw new Error('preparse failed');
  const call = { ...request, entities, preparsedPolicySetId: key } as cedar.StatefulAuthorizationCall;
  const wasm = cedar.statefulIsAuthorized(call);
  if (wasm.type !== 'success' || wasm.response.decision !== 'allow') throw new Error(`cedar-wasm: ${JSON.stringify(wasm)}`);
  log(`${n} policies: measuring…`);
  const fast = await measure(() => set.authorize(request, entities), { warmup: 2000, n: 50_000, budgetMs: 3000 });
  summaries.push(summarize(`compiled evaluator, ${n} policies`, fast.samples, fast.wallNs));
  const slow = await measure(() => cedar.statefulIsAuthorized(call), { warmup: n >= 10_000 ? 5 : 200, n: n >= 10_000 ? 200 : 5000, budgetMs: 4000 });
  summaries.push(summarize(`cedar-wasm statefulIsAuthorized, ${n} policies`, slow.samples, slow.wallNs));
}
const p50 = (scenario: string) => summaries.find((s) => s.scenario === scenario)?.p50Us ?? Number.NaN;
const largest = sizes[sizes.length - 1] as number;
printReport(summaries, {
  [`compiled p50 at ${largest} / at 10 policies`]: p50(`compiled evaluator, ${largest} policies`) / p50('compiled evaluator, 10 policies'),
  [`cedar-wasm p50 at ${largest} / at 10 policies`]: p50(`cedar-wasm statefulIsAuthorized, ${largest} policies`) / p50('cedar-wasm statefulIsAuthorized, 10 policies'),
}, json);
