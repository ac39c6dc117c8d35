/**
 * `npm run chaos`: the fault experiments of e2e/faults*.test.ts, run longer (minutes in all),
 * as a table on stdout and in bench/RESULTS.md under "## Chaos (issue 9)" (replaced each run).
 *
 *   npm run chaos                          # every experiment, phases 8× the tests' length
 *   npm run chaos -- --scale 3 --only reset,pglite-kill --no-write
 *
 * Flags: --scale N (phase length multiplier, default 8), --concurrency N (loops per replica,
 * default 8), --connections N (overload, default 200), --only a,b (experiment keys below),
 * --database-url URL (default VERITY_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test;
 * a scratch database is created on it and dropped), --no-write (table on stdout only),
 * --note TEXT (said with the run in RESULTS.md, e.g. which branch).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { fileURLToPath } from 'node:url';
import { startPgCluster, startPgliteNode, type PgCluster, type PgliteNode } from '../e2e/helpers/fault-cluster.js';
import { databaseOutage, killReplica, overload, policyChurn, pushDuringPartition, stopPglite, terminateWhilePaused, TEST_SHAPE, type ExperimentResult, type LoadShape, type ShutdownOutcome } from '../e2e/helpers/fault-experiments.js';
import { createScratchDatabase } from '../e2e/helpers/postgres.js';
import { destroyAllReplicas } from '../e2e/helpers/replica.js';
import { formatMachine, machineFacts } from './report.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    connections: { type: 'string', default: '200' },
    only: { type: 'string' },
    'database-url': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    note: { type: 'string' },
  },
});

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${flag} must be a positive number, got '${text}'`);
  return n;
}

const scale = positive(values.scale, 'scale');
const shape: LoadShape = {
  concurrency: Math.round(positive(values.concurrency, 'concurrency')),
  warmMs: TEST_SHAPE.warmMs * scale,
  faultMs: TEST_SHAPE.faultMs * scale,
  afterMs: TEST_SHAPE.afterMs * scale,
};
const connections = Math.round(positive(values.connections, 'connections'));

interface Systems {
  pg(): Promise<PgCluster>;
  pglite(): Promise<PgliteNode>;
  databaseUrl(): Promise<string>;
}

const EXPERIMENTS: Record<string, (s: Systems) => Promise<ExperimentResult>> = {
  reset: async (s) => databaseOutage(await s.pg(), 'reset', shape),
  blackhole: async (s) => databaseOutage(await s.pg(), 'blackhole', shape),
  kill: async (s) => killReplica(await s.pg(), shape),
  'term-paused': async (s) => terminateWhilePaused(await s.pg(), shape),
  partition: async (s) => pushDuringPartition(await s.pg(), shape),
  // The soak: 200 versions; at the default scale one every 1.2 s (about 4 minutes).
  churn: async (s) => policyChurn(await s.pg(), { versions: 200, intervalMs: Math.round(150 * scale) }, shape),
  overload: async (s) => overload(await s.databaseUrl(), { connections, maxInflightRequests: 32, durationMs: shape.faultMs * 2 }),
  'pglite-kill': async (s) => stopPglite(await s.pglite(), 'SIGKILL', shape),
  'pglite-term': async (s) => stopPglite(await s.pglite(), 'SIGTERM', shape),
};

const selected = values.only === undefined ? Object.keys(EXPERIMENTS) : values.only.split(',').map((key) => key.trim());
for (const key of selected) if (!(key in EXPERIMENTS)) throw new TypeError(`--only: unknown experiment '${key}' (known: ${Object.keys(EXPERIMENTS).join(', ')})`);

const ms = (value: number | null | undefined) => (value === null || value === undefined || !Number.isFinite(value) ? '-' : `${Math.round(value)} ms`);

/** One table row: the columns issue 9 asks for, and what the experiment measured besides. */
function row(r: ExperimentResult): string[] {
  const shed = Object.entries(r.failures)
    .sort(([, a], [, b]) => b - a)
    .map(([key, n]) => `${n} × ${key}`)
    .join(', ');
  const recovery = Object.entries(r.recoveryMs)
    .map(([name, value]) => `${name} ${value === null ? 'never' : ms(value)}`)
    .join(', ');
  const dead = r.processes.filter((p) => !p.samePid).map((p) => `${p.name} ${p.exit ? `exited (${p.exit.signal ?? `code ${p.exit.code}`})` : 'replaced'}`);
  const notes: string[] = [];
  if (r.answeredDuringOutage !== null) notes.push(`${r.answeredDuringOutage} answered during the outage`);
  const shutdown = r.details['shutdown'] as ShutdownOutcome | null | undefined;
  if (shutdown) notes.push(shutdown.exitMs === null ? 'SIGTERM: still running at the deadline' : `SIGTERM: exit ${shutdown.code} after ${ms(shutdown.exitMs)}`);
  if (r.details['shedMaxMs'] !== undefined) notes.push(`503 p50/p99/max ${ms(r.details['shedP50Ms'] as number | null)}/${ms(r.details['shedP99Ms'] as number | null)}/${ms(r.details['shedMaxMs'] as number | null)}, 200 p99 ${ms(r.details['answeredP99Ms'] as number | null)}`);
  if (r.details['staleAnswers'] !== undefined) notes.push(`${String(r.details['staleAnswers'])} answers from a version superseded for longer than the bound; longest stale window ${ms(r.details['maxStaleWindowMs'] as number | null)}`);
  if (r.details['readyzWhileStale'] !== undefined) notes.push(`/readyz while stale: ${[...new Set(r.details['readyzWhileStale'] as number[])].join('/') || '-'}`);
  if (r.withoutRetryAfter > 0) notes.push(`${r.withoutRetryAfter} 503s without Retry-After`);
  if (dead.length > 0) notes.push(`died: ${dead.join(', ')}`);
  return [
    r.experiment,
    `${(r.durationMs / 1000).toFixed(0)} s`,
    String(r.answered),
    shed || '-',
    String(r.unaudited.length),
    r.allowsAfterBound === null ? '-' : String(r.allowsAfterBound),
    ms(r.maxStallMs),
    recovery || '-',
    (r.verify.ok ? 'ok' : `FAILED (${r.verify.problems.length})`) + (r.verify.ms === undefined ? '' : ` (${r.verify.checked} in ${ms(r.verify.ms)})`),
    notes.join('; ') || '-',
  ];
}

const HEADER = ['experiment', 'duration', 'answered (200)', 'not answered, by status and code', 'answered but unaudited', 'allows after deny + bound', 'max stall', 'recovery', 'verify', 'notes'];

function markdownTable(rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(HEADER), line(HEADER.map(() => '---')), ...rows.map(line)].join('\n');
}

const SECTION = '## Chaos (issue 9)';

/** Replace (or append) the chaos section of bench/RESULTS.md: from its heading to the next `## `. */
async function writeSection(body: string): Promise<void> {
  const path = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  const text = await readFile(path, 'utf8');
  const start = text.indexOf(`\n${SECTION}\n`);
  const section = `${SECTION}\n\n${body.trim()}\n`;
  if (start === -1) return writeFile(path, `${text.trimEnd()}\n\n${section}`);
  const next = text.indexOf('\n## ', start + SECTION.length + 1);
  await writeFile(path, `${text.slice(0, start + 1)}${section}${next === -1 ? '' : `${text.slice(next)}`}`);
}

async function main(): Promise<void> {
  process.env['VERITY_TEST_DATABASE_URL'] = values['database-url'] ?? process.env['VERITY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  let database: Awaited<ReturnType<typeof createScratchDatabase>> | undefined;
  let cluster: PgCluster | undefined;
  let node: PgliteNode | undefined;
  const systems: Systems = {
    async databaseUrl() {
      database ??= await createScratchDatabase();
      return database.url;
    },
    async pg() {
      cluster ??= await startPgCluster(await systems.databaseUrl());
      return cluster;
    },
    async pglite() {
      node ??= await startPgliteNode();
      return node;
    },
  };
  const rows: string[][] = [];
  const started = new Date();
  try {
    for (const key of selected) {
      process.stderr.write(`chaos: ${key}…\n`);
      const result = await (EXPERIMENTS[key] as (s: Systems) => Promise<ExperimentResult>)(systems);
      rows.push(row(result));
      process.stderr.write(`chaos: ${key}: ${result.answered} answered, ${result.unaudited.length} unaudited, verify ${result.verify.ok ? 'ok' : 'FAILED'}\n`);
    }
  } finally {
    await cluster?.close();
    await node?.close();
    await destroyAllReplicas();
    await database?.drop();
  }
  const table = markdownTable(rows);
  process.stdout.write(`${table}\n`);
  if (values['no-write']) return;
  await writeSection(
    [
      '`npm run chaos` (bench/chaos.ts) runs the fault experiments of `e2e/faults.pg.test.ts` and',
      '`e2e/faults.test.ts` longer: real `verity serve` child processes, a TCP fault proxy per',
      'replica link (reset / blackhole), SIGKILL and SIGTERM under load, 200-connection overload.',
      'Each row checks every decision id answered 200 against the tenant audit and runs the chain',
      'verify. "Allows after deny + bound": allows sent later than the deny\'s activation +',
      '`maxStalenessMs` + 500 ms. "Recovery": fault end (or restart) to the first 200.',
      '',
      `Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC${values.note === undefined ? '' : ` (${values.note})`}: \`npm run chaos -- --scale ${scale}\` (load ${shape.concurrency} loops per replica; warm ${shape.warmMs / 1000} s, fault ${shape.faultMs / 1000} s, after ${shape.afterMs / 1000} s), settings \`VERITY_MAX_STALENESS_MS=1000 VERITY_REQUEST_TIMEOUT_MS=2000 VERITY_STORE_TIMEOUT_MS=2000 VERITY_SHUTDOWN_TIMEOUT_MS=3000\` (e2e/helpers/fault-cluster.ts).`,
      `Machine: ${formatMachine(machineFacts(cedar.getCedarVersion()))}.`,
      '',
      table,
    ].join('\n'),
  );
  process.stderr.write('chaos: table written to bench/RESULTS.md\n');
}

await main();
