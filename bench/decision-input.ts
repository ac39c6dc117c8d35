/**
 * `node --import @verity/cli/loader bench/decision-input.ts [--json]`: what recording a decision's
 * input (issue 14, replay) adds to a decision. Every record carries the canonical JSON text of
 * its context, request-time entities and context.risk (core's encodeDecisionInput); this
 * measures that encoding alone next to the whole in-process decision it belongs to (the one
 * pipeline, compiled evaluator, no HTTP), for a small request and for one with a token's
 * principal (claims mapped to attributes, groups as parents) and a context of ten entries.
 */
import { buildPolicyStoreContent, createDecisionPipeline, encodeDecisionInput, type Entity, type PolicyView } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const engine = sharedCedarEngine();
const content = await buildPolicyStoreContent(engine, {
  files: {
    'p.cedar': `permit(principal, action == Action::"read", resource) when { principal in Group::"staff" && context.channel == "web" };
forbid(principal, action, resource) when { context has blocked && context.blocked };`,
  },
});
const prepared = await engine.prepare('bench@input', content);
const view: PolicyView = { tenant: 'bench', version: 1, settings: {}, prepared };
const pipeline = createDecisionPipeline({ engine });
const entities: Entity[] = [{ uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'bob' } } }, parents: [] }];
const lookup = () => entities;
const meta = { requestId: null, tier: null };

const small = { kind: 'authzen' as const, request: { subject: { type: 'User', id: 'alice', properties: { department: 'eng' } }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { channel: 'web' } } };
const context = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i % 2 === 0 ? `value-${i}` : i]));
const token = {
  principal: { uid: { type: 'User', id: 'alice' }, attrs: { email: 'alice@example.com', name: 'Alice Example', department: 'eng', level: 3 }, parents: [{ type: 'Group', id: 'staff' }, { type: 'Group', id: 'eng' }] },
  context: { amr: ['pwd', 'otp'] },
};
const large = { kind: 'authzen' as const, request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { channel: 'web', ...context } }, token };

const parts = (request: typeof small | typeof large) => {
  const tokenPart = 'token' in request ? [{ uid: request.token.principal.uid, attrs: request.token.principal.attrs, parents: request.token.principal.parents }] : [];
  const properties = 'properties' in request.request.subject ? [{ uid: { type: 'User', id: 'alice' }, attrs: request.request.subject.properties }] : [];
  return { context: request.request.context, overlays: [...properties, ...tokenPart], provided: [] };
};

const summaries: Summary[] = [];
for (const [label, request] of [
  ['small request', small],
  ['token principal, 11 context entries', large],
] as const) {
  const p = parts(request);
  const decide = await measure(() => pipeline.decide(view, request, lookup, meta), { warmup: 5_000, n: 50_000, budgetMs: 5000 });
  summaries.push(summarize(`decision (pipeline, ${label})`, decide.samples, decide.wallNs));
  const encode = await measure(() => encodeDecisionInput(p), { warmup: 5_000, n: 50_000, budgetMs: 5000 });
  summaries.push(summarize(`encodeDecisionInput alone (${label}), ${encodeDecisionInput(p).length} chars`, encode.samples, encode.wallNs));
}
const [d1, e1, d2, e2] = summaries as [Summary, Summary, Summary, Summary];
printReport(summaries, { 'input / decision, small (p50)': e1.p50Us / d1.p50Us, 'input / decision, token (p50)': e2.p50Us / d2.p50Us }, json);
