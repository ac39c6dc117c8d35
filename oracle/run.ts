/**
 * `npm run oracle`: the whole Cedar integration corpus and the generated fixtures through the
 * PDP over HTTP, the SDK's local mode and `verity policy test` (in-process), each decision
 * judged against cedar-wasm's own isAuthorized. Prints a summary; exits 1 on any mismatch.
 *
 *   npm run oracle                         # everything: corpus (62,472 requests) + 40,000 generated
 *   npm run oracle -- --corpus-every 50    # every 50th corpus test only
 *   npm run oracle -- --corpus-from 1000 --corpus-limit 250 --no-generated
 *   npm run oracle -- --corpus-match '\d{16}' --no-generated   # tests with 64-bit integers
 *   npm run oracle -- --no-corpus --cases 20000 --seed 7
 *   npm run oracle -- --json               # the tallies as JSON on stdout
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ADMIN_TOKEN, startTestServer } from '../e2e/helpers/verity.js';
import { cedarVersion, OracleThreads } from './cedar-oracle.js';
import { extractCorpus, handwrittenTests, loadCorpusTest } from './corpus.js';
import { generatedStores, splitStore } from './fixtures.js';
import { emptyTally, formatTally, mergeTallies, type Tally } from './judge.js';
import type { OracleStore } from './model.js';
import { runStore } from './paths.js';
import { sharedCedarEngine } from '@verity/core/cedar';

const { values } = parseArgs({
  options: {
    'corpus-every': { type: 'string', default: '1' },
    'corpus-limit': { type: 'string' },
    'corpus-from': { type: 'string', default: '0' },
    /** Only corpus tests whose test or entities file matches this regular expression. */
    'corpus-match': { type: 'string' },
    'no-corpus': { type: 'boolean', default: false },
    'no-generated': { type: 'boolean', default: false },
    cases: { type: 'string', default: '40000' },
    seed: { type: 'string', default: '1' },
    /** Stores decided at once (their tenants are independent). */
    parallel: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

const log = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const mismatchesOf = (tally: Tally) => Object.values(tally.paths).reduce((n, t) => n + t.mismatches, 0);

const scratch = mkdtempSync(join(tmpdir(), 'verity-oracle-folders-'));
const oracle = new OracleThreads(1);
const parallel = Number(values.parallel);
const tallies = { handwritten: emptyTally(), corpus: emptyTally(), generated: emptyTally() };

/*
 * A decision record holding U+0000 (a Cedar error message quoting policy text with `\0`) can
 * never be written to the audit store, and it blocks the audit queue the PDP shares between
 * tenants: every later decision retries a failing batch, and past auditMaxQueue records every
 * decision waits. The corpus has many such policies, so when the PDP's audit writer fails the
 * oracle lets the stores in flight finish, reports it, and goes on with a fresh PDP.
 */
type Server = Awaited<ReturnType<typeof startTestServer>>;
const auditTotals = { written: 0, failures: 0, restarts: 0, poisonedWhile: [] as string[][] };
let server: Server = await startTestServer({ decisionAuth: 'open', print: () => {} });
const pdp = { url: server.url, adminToken: ADMIN_TOKEN };
const options = { scratch, oracle };

async function retire(current: Server): Promise<void> {
  const stats = current.components.audit.stats();
  auditTotals.written += stats.written;
  auditTotals.failures += stats.failures;
  await current.close().catch(() => undefined);
}

/** The stores started last (the suspects when the audit writer fails). */
const lastNames: string[] = [];
const poisoned = () => server.components.audit.stats().failures > 0;

/** Run stores `parallel` at a time; a fresh PDP whenever the audit writer has failed. */
async function runAll(count: number, make: (i: number) => OracleStore, tally: Tally, after?: (store: OracleStore) => void): Promise<void> {
  const inFlight = new Map<Promise<void>, string>();
  for (let i = 0; i < count; i++) {
    if (poisoned()) {
      await Promise.all(inFlight.keys());
      auditTotals.restarts += 1;
      if (auditTotals.poisonedWhile.length < 20) auditTotals.poisonedWhile.push(lastNames.slice());
      await retire(server);
      server = await startTestServer({ decisionAuth: 'open', print: () => {} });
      pdp.url = server.url;
    }
    while (inFlight.size >= parallel) await Promise.race(inFlight.keys());
    const store = make(i);
    lastNames.push(store.name);
    if (lastNames.length > parallel * 2) lastNames.shift();
    const run: Promise<void> = runStore(pdp, store, tally, options).then(() => {
      inFlight.delete(run);
      after?.(store);
    });
    inFlight.set(run, store.name);
  }
  await Promise.all(inFlight.keys());
}

try {
  log(`oracle: cedar-wasm ${cedarVersion()}, PDP at ${server.url}`);
  const hand = handwrittenTests();
  await runAll(hand.tests.length, (i) => loadCorpusTest(hand.root, hand.tests[i] as string, `h${i}`), tallies.handwritten);
  log(`oracle: handwritten tests done (${elapsed()})`);

  if (!values['no-corpus']) {
    const every = Number(values['corpus-every']);
    const limit = values['corpus-limit'] === undefined ? Infinity : Number(values['corpus-limit']);
    const from = Number(values['corpus-from']);
    const corpus = extractCorpus({ only: (_, i) => i >= from && (i - from) % every === 0 && i < from + limit * every });
    try {
      const match = values['corpus-match'] === undefined ? undefined : new RegExp(values['corpus-match']);
      const matches = (file: string) => match === undefined || [file, file.replace(/\.json$/, '.entities.json')].some((f) => match.test(readFileSync(join(corpus.root, f), 'utf8')));
      const chosen = corpus.tests.filter(matches);
      log(`oracle: corpus: ${chosen.length} of ${corpus.total} tests`);
      let done = 0;
      await runAll(
        chosen.length,
        (i) => loadCorpusTest(corpus.root, chosen[i] as string, `c${i}`),
        tallies.corpus,
        () => {
          if (++done % 500 === 0) log(`oracle: corpus ${done}/${chosen.length} tests, ${tallies.corpus.requests} requests, ${mismatchesOf(tallies.corpus)} mismatches, ${auditTotals.restarts} PDP restarts (${elapsed()})`);
        },
      );
    } finally {
      corpus.cleanup();
    }
    log(`oracle: corpus done (${elapsed()})`);
  }

  if (!values['no-generated']) {
    // Each fixture's requests in tenants of at most 1,000, decided side by side.
    const stores: OracleStore[] = generatedStores({ seed: Number(values.seed), requests: Number(values.cases) }).flatMap((store) => splitStore(store, 1000));
    await runAll(stores.length, (i) => stores[i] as OracleStore, tallies.generated, (store) =>
      log(`oracle: generated ${store.tenant}: ${store.requests.length} requests, ${mismatchesOf(tallies.generated)} mismatches so far (${elapsed()})`),
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
  await oracle.close();
  await retire(server);
}
const auditLine = `PDP audit writer: ${auditTotals.written} records written, ${auditTotals.failures} failed batch writes; the PDP was restarted ${auditTotals.restarts} times because its audit queue was blocked${auditTotals.poisonedWhile.length > 0 ? ` (first while deciding ${auditTotals.poisonedWhile[0]?.join(', ')})` : ''}`;

// Every path in this process decides on the shared engine: which evaluator made its decisions.
const engineStats = sharedCedarEngine().stats();
const delegatedTotal = Object.values(engineStats.delegated).reduce((a, b) => a + b, 0);
const engineLine = `engine: ${engineStats.compiledDecisions} decisions by the compiled evaluator, ${engineStats.wasmDecisions} by cedar-wasm (${delegatedTotal} delegated by compiled sets: ${JSON.stringify(engineStats.delegated)}); sets: ${engineStats.compiledSets} compiled, on cedar-wasm: ${JSON.stringify(engineStats.wasmSets)}`;

const total = emptyTally();
for (const t of Object.values(tallies)) mergeTallies(total, t);
const mismatches = mismatchesOf(total);
if (values.json) {
  process.stdout.write(`${JSON.stringify({ cedarWasm: cedarVersion(), engine: engineStats, seconds: (Date.now() - started) / 1000, audit: auditTotals, ...tallies }, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
} else {
  for (const [name, tally] of Object.entries(tallies)) if (tally.stores > 0) process.stdout.write(`${formatTally(name, tally, 40)}\n\n`);
  process.stdout.write(`${formatTally('total', { ...total, mismatches: [] })}\n`);
  process.stdout.write(`${auditLine}\n`);
  process.stdout.write(`${engineLine}\n`);
  process.stdout.write(`${mismatches === 0 ? 'no mismatches' : `${mismatches} MISMATCHES`}; took ${elapsed()}\n`);
}
process.exitCode = mismatches === 0 ? 0 : 1;
