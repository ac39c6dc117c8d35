/**
 * `npm run bench`: decision latency on the demo tenant — raw cedar-wasm, Verity in-process,
 * and Verity over HTTP — then token verification (bench/tokens.ts), then enforcement on an HTTP
 * route (bench/enforce.ts), then engine time at the edge of every limit (bench/limits.ts), in
 * one run, as numbers and ratios (see bench/RESULTS.md). `--json`
 * prints the results as JSON instead of tables.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHttp, throughputJob } from './ts-worker.js';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startServer } from '@verity/server';
import { buildCedarBaseline, decisionOf } from './cedar-baseline.js';
import { formatEnforceSection, runEnforceBench } from './enforce.js';
import { formatMachine, formatTable, machineFacts, withRatios, type Row } from './report.js';
import { batchBody, MIX } from './requests.js';
import { measure, summarize, type Summary } from './stats.js';
import { formatTokenSection, runTokenBench } from './tokens.js';
import { formatLimitsSection, runLimitsBench } from './limits.js';

const json = process.argv.includes('--json');
// Progress goes to stderr in both modes, so a crash names its phase and --json stays clean.
const log = (line: string) => process.stderr.write(`${line}\n`);
const DEMO = fileURLToPath(new URL('../examples/demo', import.meta.url));
const TENANT = 'demo';
const BATCH = MIX.length;
/** The HTTP batch: the mix ten times over, 100 evaluations in one request. */
const HTTP_BATCH = Array.from({ length: 100 }, (_, i) => MIX[i % MIX.length] as (typeof MIX)[number]);


async function main(): Promise<void> {
  const machine = machineFacts(cedar.getCedarVersion());
  log(`machine: ${formatMachine(machine)}`);
  const summaries: Summary[] = [];
  const started = Date.now();
  let rows: Row[];
  let auditStats: { written: number; pending: number; failures: number };

  // 1. Raw cedar-wasm on the same policies, request and entity slice.
  const baseline = await buildCedarBaseline(DEMO, MIX, 'bench-raw');
  MIX.forEach((entry, i) => {
    const raw = decisionOf(cedar.isAuthorized(baseline.calls[i] as cedar.AuthorizationCall));
    const stateful = decisionOf(cedar.statefulIsAuthorized(baseline.statefulCalls[i] as cedar.StatefulAuthorizationCall));
    if (raw !== entry.expect || stateful !== entry.expect) throw new Error(`${entry.name}: cedar said ${raw}/${stateful}, expected ${entry.expect}`);
  });
  let k = 0;
  log('raw cedar-wasm isAuthorized (parses policies every call)…');
  const raw = await measure(() => decisionOf(cedar.isAuthorized(baseline.calls[k++ % BATCH] as cedar.AuthorizationCall)), { warmup: 1000, n: 20_000, budgetMs: 6000 });
  log('raw cedar-wasm statefulIsAuthorized (preparsed)…');
  const stateful = await measure(() => decisionOf(cedar.statefulIsAuthorized(baseline.statefulCalls[k++ % BATCH] as cedar.StatefulAuthorizationCall)), { warmup: 2000, n: 50_000, budgetMs: 4000 });
  summaries.push(summarize('cedar-wasm isAuthorized', raw.samples, raw.wallNs), summarize('cedar-wasm statefulIsAuthorized', stateful.samples, stateful.wallNs));

  // 2. Verity in-process: mapping, entity slice (cache hot), engine, audit queueing.
  // A throwaway on-disk store, as `npm start` uses, so audit writes cost what they cost there.
  // The in-process goal measures the pipeline plus the audit enqueue, not the durable write
  // (issue 9): batched with no lag bound here; the HTTP figures use the default, durable.
  const dataDir = await mkdtemp(join(tmpdir(), 'verity-bench-'));
  const serverOptions = { port: 0, dataDir, demo: true, decisionAuth: 'open', adminToken: `vrt_${randomBytes(32).toString('base64url')}`, print: () => {}, logLevel: 'warn' } as const;
  let server = await startServer({ ...serverOptions, auditDurability: 'batched', maxAuditLagMs: 2 ** 31 - 1 });
  try {
    const { decisions } = server.components;
    let { audit } = server.components;
    const meta = { requestId: null, tier: null };
    for (const entry of MIX) {
      const record = await decisions.decide({ tenant: TENANT, request: { kind: 'authzen', request: entry.request }, meta });
      if (record.decision !== entry.expect) throw new Error(`${entry.name}: Verity said ${record.decision}, expected ${entry.expect}`);
    }
    log('Verity in-process decideAuthzen…');
    const inProcess = await measure(() => decisions.decide({ tenant: TENANT, request: { kind: 'authzen', request: (MIX[k++ % BATCH] as (typeof MIX)[number]).request }, meta }), { warmup: 2000, n: 50_000, budgetMs: 8000 });
    summaries.push(summarize('Verity in-process decideAuthzen', inProcess.samples, inProcess.wallNs));
    // Write the audit backlog now so it does not land on the next figures.
    await audit.flush();
    // Diagnostic: the same path with auditing off, to show what the audit write costs.
    log('Verity in-process decideAuthzen, audit off…');
    const unaudited = await measure(() => decisions.decide({ tenant: TENANT, request: { kind: 'authzen', request: (MIX[k++ % BATCH] as (typeof MIX)[number]).request }, meta, audit: 'never' }), { warmup: 2000, n: 50_000, budgetMs: 4000 });
    summaries.push(summarize('Verity in-process, audit off (diagnostic)', unaudited.samples, unaudited.wallNs));

    // 3–4. Over HTTP from a worker thread, so client and server have a core each; durable audit.
    await server.close();
    server = await startServer(serverOptions);
    audit = server.components.audit;
    log('Verity over HTTP, durable audit (healthz floor, evaluation, evaluations ×10, concurrency 16)…');
    const http = await runHttp({
      url: server.url,
      bodies: MIX.map((entry) => JSON.stringify(entry.request)),
      expected: MIX.map((entry) => entry.expect === 'allow'),
      batchBody: JSON.stringify(batchBody(HTTP_BATCH)),
      batchExpected: HTTP_BATCH.map((entry) => entry.expect === 'allow'),
      sequential: { warmup: 1000, n: 10_000, budgetMs: 6000 },
      batch: { warmup: 200, n: 2000, budgetMs: 6000 },
      concurrent: { workers: 16, n: 50_000, budgetMs: 8000 },
    });
    await audit.flush();
    summaries.push(
      summarize('HTTP GET /healthz (transport floor)', http.healthz.samples, http.healthz.wallNs),
      summarize('HTTP POST evaluation, sequential', http.evaluation.samples, http.evaluation.wallNs),
      summarize(`HTTP POST evaluations ×${HTTP_BATCH.length}, per decision`, http.evaluations.samples, http.evaluations.wallNs, HTTP_BATCH.length),
      summarize('HTTP POST evaluation, concurrency 16', http.concurrent.samples, http.concurrent.wallNs),
    );
    // 4b. Throughput at 32 connections: a bare node:http server answering the same JSON, then
    // Verity as `verity serve` runs it (durable audit) with a PEP credential on every request.
    log('HTTP throughput, 32 connections: bare node:http, then Verity with a PEP credential…');
    const job = (url: string, authorization?: string) => throughputJob(url, { n: 100_000, budgetMs: 8000, ...(authorization === undefined ? {} : { authorization }) });
    const bare = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = '{"decision":true}';
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const bareRun = await runHttp(job(`http://127.0.0.1:${(bare.address() as AddressInfo).port}`));
    await new Promise<void>((resolve) => bare.close(() => resolve()));
    await server.close();
    server = await startServer({ ...serverOptions, decisionAuth: 'required' });
    audit = server.components.audit;
    const pep = await server.components.credentials.issue({ role: 'pep', tenant: TENANT, label: 'bench' });
    const verityRun = await runHttp(job(server.url, `Bearer ${pep.token}`));
    await audit.flush();
    summaries.push(
      summarize('bare node:http, same JSON, 32 connections', bareRun.concurrent.samples, bareRun.concurrent.wallNs),
      summarize('HTTP POST evaluation, PEP credential, durable audit, 32 connections', verityRun.concurrent.samples, verityRun.concurrent.wallNs),
    );

    auditStats = audit.stats();
    const baselineP50 = summaries[1]?.p50Us ?? Number.NaN;
    rows = withRatios(summaries, baselineP50);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(`${dataDir}.master-key`, { force: true });
  }

  // 5. Token verification, after the server is gone so nothing else shares the event loop.
  const tokens = await runTokenBench(log);
  // 6. Enforcement on an HTTP route: the SDK, its PDP (a child process) and the peers.
  const enforce = await runEnforceBench(log);
  // 7. Engine time at the edge of every limit (docs/security.md).
  const limits = await runLimitsBench(log);
  const totalSeconds = (Date.now() - started) / 1000;
  if (json) {
    process.stdout.write(`${JSON.stringify({ command: 'npm run bench', machine, baseline: 'cedar-wasm statefulIsAuthorized p50', audit: auditStats, totalSeconds, results: rows, tokens, enforce, limits }, null, 2)}\n`);
  } else {
    process.stdout.write(`\nmachine: ${formatMachine(machine)}\n`);
    process.stdout.write(`demo tenant, ${BATCH}-request AuthZEN Todo/gateway mix; ratio = p50 / cedar-wasm statefulIsAuthorized p50\n\n`);
    process.stdout.write(`${formatTable(rows)}\n\n`);
    process.stdout.write(`audit records written: ${auditStats.written} (pending ${auditStats.pending}, failures ${auditStats.failures})\n\n`);
    process.stdout.write(`${formatTokenSection(tokens)}\n\n`);
    process.stdout.write(`${formatEnforceSection(enforce)}\n\n`);
    process.stdout.write(`${formatLimitsSection(limits)}\n\n`);
    process.stdout.write(`run took ${totalSeconds.toFixed(1)} s\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
