/**
 * Every core: `verity serve --workers 1` against `--workers 2`, as a user runs them (PGlite data
 * folder, durable audit, a PEP credential on every request), under the same HTTP load (32
 * keep-alive connections, the demo mix) from a worker thread of this process. Both servers run
 * at once on their own data folders and are loaded in turn, `--rounds` times each, so the box's
 * load falls on both alike. Reported per run: decisions/s, p50 and p99 latency, and CPU time per
 * decision of the whole server (primary and workers, every thread: /proc/<pid>/stat).
 *
 *   node --import @verity/cli/loader bench/workers.ts [--rounds 3] [--seconds 6] [--json] [-- <more serve flags>]
 *
 * Flags after `--` go to both `verity serve` commands (`--audit-durability batched`, or
 * `--database-url URL`: each server then gets its own scratch database `<name>_w1`/`_w2`,
 * created and dropped by the bench).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './stats.js';
import { runHttp, throughputJob } from './ts-worker.js';

const BIN = fileURLToPath(new URL('../packages/cli/bin/verity.mjs', import.meta.url));
const dashes = process.argv.indexOf('--');
const args = dashes === -1 ? process.argv.slice(2) : process.argv.slice(2, dashes);
const SERVE_ARGS = dashes === -1 ? [] : process.argv.slice(dashes + 1);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const ROUNDS = option('rounds', 3);
const SECONDS = option('seconds', 6);
const JSON_OUT = args.includes('--json');
const ADMIN_TOKEN = `vrt_${randomBytes(32).toString('base64url')}`;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Served {
  workers: number;
  child: ChildProcess;
  url: string;
  pep: string;
}

/** `--database-url URL` in SERVE_ARGS: a scratch database per server (pg, from the workspace). */
async function storeArgs(workers: number, dataDir: string): Promise<{ args: string[]; drop: () => Promise<void> }> {
  const at = SERVE_ARGS.indexOf('--database-url');
  if (at === -1) return { args: ['--data', dataDir, ...SERVE_ARGS], drop: async () => {} };
  const base = new URL(SERVE_ARGS[at + 1] as string);
  const name = `verity_bench_workers_${workers}_${process.pid}`;
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const rest = SERVE_ARGS.filter((_, i) => i !== at && i !== at + 1);
  return {
    args: ['--database-url', url.toString(), ...rest],
    drop: async () => {
      const again = new pg.Client({ connectionString: base.toString() });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}

const drops: Array<() => Promise<void>> = [];

async function serve(workers: number, dataDir: string): Promise<Served> {
  const store = await storeArgs(workers, dataDir);
  drops.push(store.drop);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--demo', '--log-level', 'error', '--workers', String(workers), ...store.args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, VERITY_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /Verity listening on (\S+)/.exec(out)?.[1];
      if (found) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`verity serve --workers ${workers} exited (${code})`)));
  });
  child.stdout?.resume();
  const response = await fetch(`${url}/admin/v1/tenants/demo/credentials`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'pep', label: 'bench' }) });
  const created = (await response.json()) as { token?: string };
  if (response.status !== 201 || created.token === undefined) throw new Error(`PEP credential: HTTP ${response.status}`);
  return { workers, child, url, pep: created.token };
}

/** CPU time (µs) of a process and its children so far, every thread (utime + stime). */
async function treeCpuUs(pid: number): Promise<number> {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((child) => child > 0);
  let total = 0;
  for (const one of [pid, ...children]) {
    const stat = await readFile(`/proc/${one}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / ticks; // utime, stime (fields 14, 15)
  }
  return total * 1e6;
}


interface Run {
  workers: number;
  round: number;
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerDecision: number;
}

async function load(served: Served, round: number): Promise<Run> {
  const job = throughputJob(served.url, { n: 1_000_000, budgetMs: SECONDS * 1000, authorization: `Bearer ${served.pep}` });
  const pid = served.child.pid as number;
  const cpuBefore = await treeCpuUs(pid);
  const results = await runHttp(job);
  const cpuAfter = await treeCpuUs(pid);
  const summary = summarize(`--workers ${served.workers}`, results.concurrent.samples, results.concurrent.wallNs);
  // The warm-up (100 × 32 requests) is inside the CPU window too.
  const decisions = results.concurrent.samples.length + 3200;
  return { workers: served.workers, round, decisionsPerSec: summary.opsPerSec, p50Us: summary.p50Us, p99Us: summary.p99Us, cpuUsPerDecision: (cpuAfter - cpuBefore) / decisions };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'verity-bench-workers-'));
  const servers: Served[] = [];
  try {
    log('starting verity serve --workers 1 and --workers 2…');
    servers.push(await serve(1, join(folder, 'one')), await serve(2, join(folder, 'two')));
    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const served of round % 2 === 1 ? servers : [...servers].reverse()) {
        const run = await load(served, round);
        log(`round ${round}, --workers ${run.workers}: ${run.decisionsPerSec.toFixed(0)} decisions/s, p50 ${run.p50Us.toFixed(0)} µs, p99 ${run.p99Us.toFixed(0)} µs, ${run.cpuUsPerDecision.toFixed(0)} µs CPU per decision`);
        runs.push(run);
      }
    }
    const paired = Array.from({ length: ROUNDS }, (_, i) => {
      const one = runs.find((run) => run.round === i + 1 && run.workers === 1) as Run;
      const two = runs.find((run) => run.round === i + 1 && run.workers === 2) as Run;
      return { throughput: two.decisionsPerSec / one.decisionsPerSec, cpu: two.cpuUsPerDecision / one.cpuUsPerDecision };
    });
    const ratios = { throughput: median(paired.map((pair) => pair.throughput)), cpuPerDecision: median(paired.map((pair) => pair.cpu)) };
    if (JSON_OUT) {
      process.stdout.write(`${JSON.stringify({ command: 'bench/workers.ts', serveArgs: SERVE_ARGS.map((arg) => (arg.includes('://') ? '<url>' : arg)), rounds: ROUNDS, seconds: SECONDS, runs, paired, ratios }, null, 2)}\n`);
      return;
    }
    process.stdout.write('\n| workers | round | decisions/s | p50 µs | p99 µs | CPU µs per decision |\n|---:|---:|---:|---:|---:|---:|\n');
    for (const run of runs) process.stdout.write(`| ${run.workers} | ${run.round} | ${run.decisionsPerSec.toFixed(0)} | ${run.p50Us.toFixed(0)} | ${run.p99Us.toFixed(0)} | ${run.cpuUsPerDecision.toFixed(0)} |\n`);
    process.stdout.write(`\n2 workers / 1 worker, median of ${ROUNDS} paired rounds: throughput ${ratios.throughput.toFixed(2)}×, CPU per decision ${ratios.cpuPerDecision.toFixed(2)}×\n`);
  } finally {
    for (const served of servers) served.child.kill('SIGTERM');
    await Promise.all(servers.map((served) => new Promise((exited) => (served.child.exitCode === null ? served.child.once('exit', exited) : exited(null)))));
    await rm(folder, { recursive: true, force: true });
    for (const drop of drops) await drop();
  }
}

await main();
