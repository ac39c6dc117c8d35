/**
 * `node --import @verity/cli/loader bench/audit-durability.ts [--json] [--compare]`: decisions/s and latency over HTTP with
 * each audit durability — `durable` (default: answered once the record is committed, group
 * commit), `batched` with the 100 ms lag bound, and `batched` without a bound (the behaviour
 * before issue 9: answered first, records held in memory) as the baseline — on a PGlite data
 * folder, sequential and at concurrency 16. See bench/RESULTS.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTsWorker } from './ts-worker.js';
import { startServer, type StartServerOptions } from '@verity/server';
import type { DurabilityJob, DurabilityRun } from './audit-durability-client.js';
import { MIX } from './requests.js';
import { summarize } from './stats.js';

const json = process.argv.includes('--json');
/** `--compare`: each variant also with the audit chained on the server's thread (the store without the driver's appendAudit, as before issue 13). */
const compare = process.argv.includes('--compare');
const log = (line: string) => process.stderr.write(`${line}\n`);
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 8000);

const VARIANTS: Array<{ name: string; options: Partial<StartServerOptions> }> = [
  { name: 'batched, no lag bound (before issue 9)', options: { auditDurability: 'batched', maxAuditLagMs: 2 ** 31 - 1 } },
  { name: 'batched, --max-audit-lag 100', options: { auditDurability: 'batched', maxAuditLagMs: 100 } },
  { name: 'durable (default)', options: { auditDurability: 'durable' } },
];

function runClient(job: DurabilityJob): Promise<DurabilityRun> {
  return new Promise((resolve, reject) => {
    const worker = startTsWorker(new URL('./audit-durability-client.ts', import.meta.url), job);
    worker.once('message', (message: { ok: true; results: DurabilityRun } | { ok: false; error: string }) => {
      void worker.terminate();
      if (message.ok) resolve(message.results);
      else reject(new Error(`client: ${message.error}`));
    });
    worker.once('error', reject);
  });
}

interface Row {
  variant: string;
  workers: number;
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  refused: number;
  written: number;
}

async function measureVariant(name: string, options: Partial<StartServerOptions>, chainedHere = false): Promise<Row[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'verity-bench-audit-'));
  const server = await startServer({ port: 0, dataDir, demo: true, decisionAuth: 'open', adminToken: `vrt_${randomBytes(32).toString('base64url')}`, print: () => {}, logLevel: 'fatal', ...options });
  // The store's audit.append then chains on this thread over the driver's transactions.
  if (chainedHere) delete (server.components.store.db as { appendAudit?: unknown }).appendAudit;
  const rows: Row[] = [];
  try {
    for (const workers of [1, 16, 64]) {
      log(`${name}, concurrency ${workers}…`);
      const bodies = MIX.map((entry) => JSON.stringify(entry.request));
      const run = await runClient({ url: server.url, bodies, workers, warmupMs: 1000, budgetMs: BUDGET_MS });
      await server.components.audit.flush();
      const summary = summarize(name, run.samples, run.wallNs);
      rows.push({ variant: name, workers, decisionsPerSec: summary.opsPerSec, p50Us: summary.p50Us, p99Us: summary.p99Us, refused: run.refused, written: server.components.audit.stats().written });
    }
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(`${dataDir}.master-key`, { force: true });
  }
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const variant of VARIANTS) {
    rows.push(...(await measureVariant(variant.name, variant.options)));
    if (compare) rows.push(...(await measureVariant(`${variant.name}, chained on the server's thread (before issue 13)`, variant.options, true)));
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ command: 'node --import @verity/cli/loader bench/audit-durability.ts', budgetMs: BUDGET_MS, rows }, null, 2)}\n`);
    return;
  }
  const fixed = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  process.stdout.write('| audit durability | concurrency | decisions/s | p50 µs | p99 µs | refused (503) |\n|---|---:|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.variant} | ${r.workers} | ${fixed(r.decisionsPerSec)} | ${fixed(r.p50Us, 1)} | ${fixed(r.p99Us, 1)} | ${r.refused} |\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
