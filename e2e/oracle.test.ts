/**
 * The differential oracle (issue 7), in its `npm test` size: Verity's decisions on the PDP
 * over HTTP (Cedar-native and AuthZEN), the SDK's local mode and `verity policy test`
 * (in-process) against cedar-wasm's own isAuthorized with the same schema, policies,
 * request validation and COMPLETE entity set. Cedar's handwritten integration tests, a
 * sample of its generated corpus, and generated fixtures with a fixed seed. `npm run oracle`
 * runs all of it (100k+ requests). See oracle/run.ts.
 *
 * The invariant: same decision, determining policies and erroring policies, or a refusal with
 * a stable code; never an answer where Cedar refuses (except the documented deny for an
 * action the schema does not declare), never an allow Cedar would not give.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestServer } from './helpers/verity.js';
import { extractCorpus, handwrittenTests, loadCorpusTest, type Corpus } from '../oracle/corpus.js';
import { generatedStores } from '../oracle/fixtures.js';
import { describeMismatch, emptyTally, formatTally, type Tally } from '../oracle/judge.js';
import { oracleIsAuthorized, OracleThreads } from '../oracle/cedar-oracle.js';
import { pool, runStore, type Pdp, type RunOptions } from '../oracle/paths.js';
import type { PathName } from '../oracle/model.js';

/** Every 50th corpus test (157 tests, about 1,250 requests); `npm run oracle` runs all 7,809. */
const CORPUS_EVERY = 50;
/**
 * Corpus tests that found a Verity bug in a full `npm run oracle` run: always in the sample.
 * 20e97c23…: a policy names an entity whose id holds NUL characters (`a::"…\0\0\0"`); the
 * PDP answers 500 for every request that reaches it (the SDK and policy test decide).
 */
/*
 * 08408315…: a policy reads the tag `"i\t\0c"`; Cedar's error message quotes it, the decision
 * record then holds U+0000, which the audit store cannot write: the record blocks the audit
 * queue of every tenant (checked below).
 */
const REGRESSIONS = ['corpus-tests/0840831562c72d39edd3de4c874a163f3c63bfad.json', 'corpus-tests/20e97c23e42850bc4ee2bfa093e2425e86644dba.json'];
const GENERATED_REQUESTS = 2000;
const SEED = Number(process.env.VERITY_ORACLE_SEED ?? 1);

/**
 * Codes Verity may refuse with where Cedar decides. ERR_REQUEST_INVALID: strings with NUL
 * characters (docs/design-notes.md, limits); ERR_DECISION_INVALID_REQUEST: values Verity's
 * limits refuse; ERR_ENTITY_UNKNOWN_TYPE: a type the tenant's schema does not declare.
 */
const ALLOWED_REFUSALS = new Set(['ERR_REQUEST_INVALID', 'ERR_DECISION_INVALID_REQUEST', 'ERR_ENTITY_UNKNOWN_TYPE', 'ERR_DECISION_LIMIT', 'ERR_POLICY_TOO_COMPLEX']);
const PATHS: PathName[] = ['pdp-http', 'pdp-authzen', 'sdk-local', 'policy-test'];

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Pdp;
let scratch: string;
let corpus: Corpus | undefined;
let oracle: OracleThreads;
let options: RunOptions;
/** Stores decided side by side (their tenants are independent). */
const PARALLEL = 3;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = { url: server.url, adminToken: ADMIN_TOKEN };
  scratch = mkdtempSync(join(tmpdir(), 'verity-oracle-folders-'));
  oracle = new OracleThreads(1);
  options = { scratch, oracle };
});

afterAll(async () => {
  corpus?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  await oracle?.close();
  // A poisoned audit queue makes close() reject; the audit test below reports it.
  await server?.close().catch(() => undefined);
});

const decisionMismatches = (tally: Tally) => tally.mismatches.filter((m) => m.kind === 'decision').map(describeMismatch);
const namingMismatches = (tally: Tally) => tally.mismatches.filter((m) => m.kind === 'naming').map(describeMismatch);
const refusalCodes = (tally: Tally) => Object.values(tally.paths).flatMap((t) => Object.keys(t.refusals).map((key) => key.split(':')[1] as string));
const unsafeAllows = (tally: Tally) => Object.values(tally.paths).reduce((n, t) => n + t.unsafeAllows, 0);

function expectEveryPathRan(tally: Tally): void {
  for (const path of PATHS) expect(tally.paths[path]?.total, path).toBe(tally.requests);
}

describe('differential oracle: Verity against cedar-wasm isAuthorized', () => {
  it("agrees on Cedar's handwritten integration tests, on every path", async () => {
    const hand = handwrittenTests();
    const tally = emptyTally();
    await pool(hand.tests, PARALLEL, (file, i) => runStore(pdp, loadCorpusTest(hand.root, file, `oracle-h${i}`), tally, options));
    expect(tally.requests).toBeGreaterThan(70);
    expectEveryPathRan(tally);
    // The oracle itself first: it must reproduce the tests' expected answers.
    expect(tally.oracleVsExpected.agree, formatTally('handwritten', tally)).toBe(tally.requests);
    expect(decisionMismatches(tally)).toEqual([]);
    expect(namingMismatches(tally)).toEqual([]);
    for (const path of PATHS) expect(tally.paths[path]?.verdicts.agree, `${path}\n${formatTally('handwritten', tally)}`).toBe(tally.requests);
  }, 300_000);

  it(`agrees on a sample of Cedar's generated corpus (every ${CORPUS_EVERY}th test and known regressions), on every path`, async () => {
    corpus = extractCorpus({ only: (file, i) => i % CORPUS_EVERY === 0 || REGRESSIONS.includes(file) });
    expect(corpus.total).toBe(7809);
    const tally = emptyTally();
    const chosen = corpus.tests;
    expect(chosen.filter((file) => REGRESSIONS.includes(file))).toEqual(REGRESSIONS);
    await pool(chosen, PARALLEL, (file, i) => runStore(pdp, loadCorpusTest((corpus as Corpus).root, file, `oracle-c${i}`), tally, options));
    expectEveryPathRan(tally);
    const report = formatTally('corpus sample', tally);
    // With exactly parsed integers, cedar-wasm reproduces every expected answer of the corpus.
    expect(tally.oracleVsExpected.agree, report).toBe(tally.requests);
    expect(decisionMismatches(tally)).toEqual([]);
    expect(namingMismatches(tally)).toEqual([]);
    expect(unsafeAllows(tally)).toBe(0);
    expect(refusalCodes(tally).filter((code) => !ALLOWED_REFUSALS.has(code)), report).toEqual([]);
    // Most of the sample is decided on the Cedar-native endpoint (refusals: NUL characters).
    expect(tally.paths['pdp-http']?.verdicts.agree ?? 0, report).toBeGreaterThan(tally.requests * 0.7);
  }, 600_000);

  it('writes the audit record of every decision the sample made (no record blocks the audit queue)', async () => {
    expect(corpus, 'runs after the corpus sample').toBeDefined();
    const flushed = await server.components.audit.flush().then(
      () => 'flushed',
      (error: unknown) => String(error),
    );
    expect({ flushed, ...server.components.audit.stats() }).toMatchObject({ flushed: 'flushed', pending: 0, failures: 0 });
  }, 60_000);

  describe(`generated fixtures (seed ${SEED}, ${GENERATED_REQUESTS} requests)`, () => {
    const tally = emptyTally();

    beforeAll(async () => {
      await pool(generatedStores({ seed: SEED, requests: GENERATED_REQUESTS }), PARALLEL, (store) => runStore(pdp, store, tally, options));
    }, 600_000);

    it('ran every request on every path, and decided most of them', () => {
      expect(tally.requests).toBe(GENERATED_REQUESTS);
      expectEveryPathRan(tally);
      expect(tally.paths['pdp-http']?.verdicts.inexpressible).toBe(0);
      // Both outcomes occur in quantity (the generators are not degenerate).
      const decided = tally.paths['pdp-http'];
      expect((decided?.verdicts.agree ?? 0) + (decided?.verdicts.mismatch ?? 0), formatTally('generated', tally)).toBeGreaterThan(GENERATED_REQUESTS * 0.6);
    });

    it('never decides differently from Cedar (decision, determining and erroring policies, by policy text)', () => {
      expect(decisionMismatches(tally), formatTally('generated', tally)).toEqual([]);
      expect(unsafeAllows(tally)).toBe(0);
      expect(refusalCodes(tally).filter((code) => !ALLOWED_REFUSALS.has(code)), formatTally('generated', tally)).toEqual([]);
    });

    it('names policies as documented: `<file>.<N>` is the policy in position N of the file (also past ten policies)', () => {
      // rules.cedar holds sixteen policies without @id: Verity's rules.2 must be the third.
      expect(namingMismatches(tally).slice(0, 5)).toEqual([]);
    });
  });
});

/**
 * The findings of the oracle, each as the smallest store and request that shows it, on a PDP
 * of their own (one of them breaks the audit writer of the whole process).
 */
describe('differential oracle: minimal reproductions of its findings', () => {
  let own: Awaited<ReturnType<typeof startTestServer>>;
  const twelve = Array.from({ length: 12 }, (_, i) => `permit(principal, action, resource) when { context.n == ${i} };`);

  beforeAll(async () => {
    own = await startTestServer({ decisionAuth: 'open' });
  });

  afterAll(async () => {
    await own?.close().catch(() => undefined);
  });

  async function tenant(id: string, policies: string): Promise<void> {
    expect((await own.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
    const pushed = await own.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': policies } });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  }

  it('names the policy in position N of a file `<file>.N`, also past ten policies', async () => {
    await tenant('repro-ids', twelve.join('\n'));
    const { content } = (await own.admin.get('/admin/v1/tenants/repro-ids/policies/versions/active')).body;
    // cedar-wasm's policySetTextToParts returns the parts sorted by id (policy0, policy1,
    // policy10, policy11, policy2, …), not in file order.
    expect(Object.entries(content.policies).map(([id, text]) => `${id}: ${text}`)).toEqual(twelve.map((text, i) => `p.${i}: ${text}`));
    const answer = await own.admin.post('/tenants/repro-ids/cedar/v1/is-authorized', { principal: 'User::"u"', action: 'Action::"a"', resource: 'Doc::"d"', context: { n: 2 } });
    const cedar = oracleIsAuthorized({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'a' }, resource: { type: 'Doc', id: 'd' }, context: { n: 2 }, schema: undefined, validateRequest: false, policies: { staticPolicies: twelve.join('\n') }, entities: [] });
    expect(cedar).toEqual({ ok: true, decision: 'allow', reasons: ['policy2'], errors: [] });
    expect(answer.body.determiningPolicies).toEqual(['p.2']);
  });

  it('keeps a set of sets in the request a set of sets (no allow Cedar would not give)', async () => {
    const policy = '@id("one-in-s") permit(principal, action, resource) when { context.s.contains(1) };';
    await tenant('repro-nested', policy);
    const request = { principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { s: [[1]] } };
    // [[1]].contains(1) is false: Cedar denies.
    expect(oracleIsAuthorized({ ...request, schema: undefined, validateRequest: false, policies: { staticPolicies: policy }, entities: [] })).toEqual({ ok: true, decision: 'deny', reasons: [], errors: [] });
    const native = await own.admin.post('/tenants/repro-nested/cedar/v1/is-authorized', request);
    const authzen = await own.admin.post('/tenants/repro-nested/access/v1/evaluation', { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { s: [[1]] } });
    expect([native.body.decision, authzen.body.decision]).toEqual(['deny', false]);
  });

  it('decides (never a 5xx) when a policy names an entity whose id holds U+0000', async () => {
    const policies = '@id("named") forbid(principal, action, resource) when { User::"a\\0b" has x };\n@id("all") permit(principal, action, resource);';
    await tenant('repro-nul-uid', policies);
    const request = { principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {} };
    const cedar = oracleIsAuthorized({ ...request, schema: undefined, validateRequest: false, policies: { staticPolicies: policies }, entities: [] });
    expect(cedar).toEqual({ ok: true, decision: 'allow', reasons: ['policy1'], errors: [] });
    const answer = await own.admin.post('/tenants/repro-nul-uid/cedar/v1/is-authorized', request);
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 200, body: { decision: 'allow', determiningPolicies: ['all'] } });
  });

  it("keeps writing every tenant's audit after a decision whose Cedar error message holds U+0000", async () => {
    await tenant('repro-nul-error', '@id("nul") permit(principal, action, resource) when { context["a\\0b"] == 1 };');
    await tenant('repro-calm', '@id("all") permit(principal, action, resource);');
    const request = { principal: 'User::"u"', action: 'Action::"read"', resource: 'Doc::"d"' };
    const poisoned = await own.admin.post('/tenants/repro-nul-error/cedar/v1/is-authorized', request);
    // Records hold only storable text: the NUL Cedar quotes is written as U+FFFD (security.md).
    expect(poisoned.body.errors).toEqual([{ policyId: 'nul', message: 'record does not have the attribute `a\uFFFDb`' }]);
    expect((await own.admin.post('/tenants/repro-calm/cedar/v1/is-authorized', request)).body.decision).toBe('allow');
    // Another tenant's audit: its decision must be recorded and readable.
    const audit = await own.admin.get('/admin/v1/tenants/repro-calm/audit');
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    expect(own.components.audit.stats()).toMatchObject({ pending: 0, failures: 0 });
  });
});
