/**
 * Engine isolation end to end: a hostile tenant does everything the decision-path findings
 * describe — deep policies, runaway `like` patterns, resources that reach thousands of
 * entities — while a calm tenant's decisions keep coming back correct. The calm tenant's
 * latency under that load is printed (p50/p99): a number to watch, not an assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EXPRESSION_DEPTH, MAX_LIKE_WORK, MAX_PATTERN_TOTAL } from '@verity/core';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

const CALM_POLICIES = `@id("staff-read") permit(principal in Group::"staff", action == Action::"read", resource);
@id("owner-write") permit(principal, action == Action::"write", resource) when { resource has owner && resource.owner == principal };
@id("no-banned") forbid(principal in Group::"banned", action, resource);`;
const CALM_ENTITIES = [
  { uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [] },
  { uid: { type: 'User', id: 'eve' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }, { type: 'Group', id: 'banned' }] },
  { uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'bob' } } }, parents: [] },
];
/** The calm tenant's questions and Cedar's answers to them. */
const CALM_CASES: Array<[string, string, boolean]> = [
  ['ann', 'read', true],
  ['bob', 'read', false],
  ['bob', 'write', true],
  ['ann', 'write', false],
  ['eve', 'read', false],
];

const deepChain = (n: number) => `permit(principal, action, resource) when { context${'.a'.repeat(n)} == 1 };`;
const nestedIf = (n: number) => {
  let e = 'true';
  for (let i = 0; i < n; i++) e = `if true then ${e} else false`;
  return `permit(principal, action, resource) when { ${e} };`;
};

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  for (const id of ['calm', 'hostile']) expect((await server.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
  expect((await server.admin.post('/admin/v1/tenants/calm/policies', { files: { 'p.cedar': CALM_POLICIES } })).status).toBe(201);
  expect((await server.admin.request('PUT', '/admin/v1/tenants/calm/entities', { entities: CALM_ENTITIES })).status).toBe(200);
  // The hostile tenant's store: 2,000 documents one resource points at, and a chain of groups.
  const docs = Array.from({ length: 2000 }, (_, i) => ({ uid: { type: 'Doc', id: `r${i}` }, attrs: {}, parents: [] }));
  const groups = Array.from({ length: 400 }, (_, i) => ({ uid: { type: 'Group', id: `g${i}` }, attrs: {}, parents: i === 0 ? [] : [{ type: 'Group', id: `g${i - 1}` }] }));
  const entities = [
    ...docs,
    ...groups,
    { uid: { type: 'Doc', id: 'wide' }, attrs: { refs: docs.map((d) => ({ __entity: d.uid })) }, parents: [] },
    { uid: { type: 'User', id: 'deep' }, attrs: {}, parents: [{ type: 'Group', id: 'g399' }] },
  ];
  expect((await server.admin.request('PUT', '/admin/v1/tenants/hostile/entities', { entities })).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

describe('a hostile tenant next to a calm one', () => {
  it('never breaks, stalls or changes the calm tenant\'s decisions', async () => {
    // Pushes past the limits are refused, naming the limit.
    for (const policy of [deepChain(150), deepChain(400), nestedIf(MAX_EXPRESSION_DEPTH + 10), `permit(principal, action, resource) when { context.s like "*${'a'.repeat(50_000)}b" };`]) {
      const pushed = await server.admin.post('/admin/v1/tenants/hostile/policies', { files: { 'p.cedar': policy } });
      expect(pushed.status).toBe(422);
      expect(pushed.body.code).toBe('ERR_POLICY_TOO_COMPLEX');
    }
    // The heaviest store it may push: nesting just within the limit, and every like element
    // the version may hold, in patterns built to make Cedar's matcher backtrack.
    const patterns = Array.from({ length: MAX_PATTERN_TOTAL / 1024 }, (_, i) => `@id("like${i}") permit(principal, action == Action::"like", resource) when { context.s like "*${'a'.repeat(1022)}b" };`);
    const heavy = [deepChain(MAX_EXPRESSION_DEPTH - 3), nestedIf(MAX_EXPRESSION_DEPTH - 3), ...patterns, '@id("all") permit(principal, action, resource);', '@id("ban") forbid(principal in Group::"g0", action, resource);'].join('\n');
    const pushed = await server.admin.post('/admin/v1/tenants/hostile/policies', { files: { 'p.cedar': heavy } });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);

    const longest = Math.floor(MAX_LIKE_WORK / MAX_PATTERN_TOTAL);
    const hostileRequests = [
      // like work at the limit: decided; past it: refused.
      { expect: 200, body: { subject: { type: 'User', id: 'x' }, action: { name: 'like' }, resource: { type: 'Doc', id: 'd' }, context: { s: 'a'.repeat(longest) } } },
      { expect: 400, body: { subject: { type: 'User', id: 'x' }, action: { name: 'like' }, resource: { type: 'Doc', id: 'd' }, context: { s: 'a'.repeat(150_000) } } },
      // A resource that reaches 2,000 stored entities: refused, never decided on part of them.
      { expect: 400, body: { subject: { type: 'User', id: 'x' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'wide' } } },
      // A principal under a 400-deep group chain: past the ancestor-pair limit, refused.
      { expect: 400, body: { subject: { type: 'User', id: 'deep' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } } },
      // The deep conditions, evaluated.
      { expect: 200, body: { subject: { type: 'User', id: 'x' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { a: 1 } } },
    ];

    let stop = false;
    const hostile = (async () => {
      let rounds = 0;
      while (!stop) {
        const answers = await Promise.all(hostileRequests.map((r) => pdp.post('/tenants/hostile/access/v1/evaluation', r.body)));
        // Each hostile request gets its answer, or, when the loaded machine cannot finish it within
        // the request deadline, a fail-closed 503 with its stable code: never another status, and
        // never a decision on part of the entities (the calm tenant's checks below stay exact).
        answers.forEach((answer, i) => {
          const failedClosed = answer.status === 503 && ['ERR_DEADLINE_EXCEEDED', 'ERR_OVERLOADED'].includes(answer.body?.code);
          if (!failedClosed) expect(answer.status, JSON.stringify(answer.body).slice(0, 200)).toBe(hostileRequests[i]?.expect);
        });
        rounds++;
      }
      return rounds;
    })();

    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const [subject, action, allowed] = CALM_CASES[i % CALM_CASES.length] as [string, string, boolean];
      const started = performance.now();
      const answer = await pdp.post('/tenants/calm/access/v1/evaluation', { subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } });
      latencies.push(performance.now() - started);
      expect(answer.status).toBe(200);
      expect(answer.body.decision, `${subject} ${action}`).toBe(allowed);
      if (i % 50 === 0) {
        expect((await pdp.get('/healthz')).status).toBe(200);
        expect((await pdp.get('/readyz')).status).toBe(200);
        expect((await server.admin.get('/admin/v1/tenants/calm/policies/versions')).status).toBe(200);
      }
    }
    stop = true;
    const rounds = await hostile;
    expect(rounds).toBeGreaterThan(0);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`calm tenant under a hostile neighbour (${rounds} hostile rounds of ${hostileRequests.length}): p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${(sorted.at(-1) as number).toFixed(1)} ms over ${sorted.length} decisions`);
  });
});
