/**
 * The load generator of the enforcement section (bench/enforce.ts). Like bench/http-client.ts it
 * runs in a worker thread, so the client's own CPU does not share the services' event loop. First,
 * for every target, a correctness check (an allowed and, where there is authorization, a refused
 * caller) and a warm-up; then sequential requests, then `workers` callers in parallel, each phase
 * in `rounds` rounds that visit the targets in turn, so drift over the run (JIT, GC, the box)
 * spreads over every target instead of landing on whichever ran first. All GET with a bearer
 * token over keep-alive sockets.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { measure } from './stats.js';

export interface EnforceTarget {
  /** Key of the scenario in the results. */
  key: string;
  /** The full URL to GET. */
  url: string;
  /** The bearer token of the allowed caller. */
  token: string;
  /** A caller the policy refuses, and the status the service must answer it with; absent without authorization. */
  deny?: { token: string; status: number };
}

export interface EnforceClientJob {
  targets: EnforceTarget[];
  /** Rounds per phase; `n` and `budgetMs` are per target over all rounds. */
  rounds: number;
  /** Pause between two targets, so one service's background work (the PDP's audit writes) settles. */
  pauseMs: number;
  sequential: { warmup: number; n: number; budgetMs: number };
  concurrent: { workers: number; warmupRounds: number; n: number; budgetMs: number };
}

export interface EnforceRun {
  samples: number[];
  wallNs: number;
}

export type EnforceClientResults = Record<string, { sequential: EnforceRun; concurrent: EnforceRun }>;

/** Messages to the parent: progress lines, then one result or one error. */
export type EnforceClientMessage = { kind: 'progress'; line: string } | { kind: 'done'; results: EnforceClientResults } | { kind: 'failed'; error: string };

const job = workerData as EnforceClientJob;
// One keep-alive socket per concurrent caller and service: no connection set-up is measured.
const agent = new Agent({ keepAlive: true, maxSockets: job.concurrent.workers });

/** GET `url` with the token; resolves to the status once the body is read. */
function get(url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'GET', path: url.pathname, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET that must answer 200: anything else (a deny, a 503 from a failing PDP) stops the run. */
async function allowed(url: URL, token: string, key: string): Promise<void> {
  const status = await get(url, token);
  if (status !== 200) throw new Error(`${key}: the allowed caller got HTTP ${status}`);
}

/** `workers` callers in parallel, each sequential, until `n` requests or the time budget. */
async function concurrent(target: EnforceTarget, url: URL, n: number, budgetMs: number): Promise<EnforceRun> {
  const samples: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(budgetMs) * 1_000_000n;
  let issued = 0;
  const caller = async () => {
    while (issued < n && process.hrtime.bigint() < deadline) {
      issued++;
      const t0 = process.hrtime.bigint();
      await allowed(url, target.token, target.key);
      samples.push(Number(process.hrtime.bigint() - t0));
    }
  };
  await Promise.all(Array.from({ length: job.concurrent.workers }, caller));
  return { samples, wallNs: Number(process.hrtime.bigint() - started) };
}

function append(into: EnforceRun, run: EnforceRun): void {
  for (const sample of run.samples) into.samples.push(sample);
  into.wallNs += run.wallNs;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, job.pauseMs));
const progress = (line: string) => parentPort?.postMessage({ kind: 'progress', line } satisfies EnforceClientMessage);

async function main(): Promise<EnforceClientResults> {
  const { targets, rounds, sequential, concurrent: parallel } = job;
  const results: EnforceClientResults = {};
  const urls = new Map(targets.map((target) => [target.key, new URL(target.url)]));
  progress('checking every service, then warming it up');
  for (const target of targets) {
    const url = urls.get(target.key) as URL;
    await allowed(url, target.token, target.key);
    if (target.deny) {
      const status = await get(url, target.deny.token);
      if (status !== target.deny.status) throw new Error(`${target.key}: the refused caller got HTTP ${status}, expected ${target.deny.status}`);
    }
    for (let i = 0; i < sequential.warmup; i++) await allowed(url, target.token, target.key);
    for (let i = 0; i < parallel.warmupRounds; i++) await Promise.all(Array.from({ length: parallel.workers }, () => allowed(url, target.token, target.key)));
    results[target.key] = { sequential: { samples: [], wallNs: 0 }, concurrent: { samples: [], wallNs: 0 } };
    await pause();
  }
  for (let round = 1; round <= rounds; round++) {
    progress(`sequential, round ${round}/${rounds}`);
    for (const target of targets) {
      const run = await measure(() => allowed(urls.get(target.key) as URL, target.token, target.key), { warmup: 0, n: Math.ceil(sequential.n / rounds), budgetMs: Math.ceil(sequential.budgetMs / rounds) });
      append(results[target.key]?.sequential as EnforceRun, run);
      await pause();
    }
  }
  for (let round = 1; round <= rounds; round++) {
    progress(`concurrency ${parallel.workers}, round ${round}/${rounds}`);
    for (const target of targets) {
      const run = await concurrent(target, urls.get(target.key) as URL, Math.ceil(parallel.n / rounds), Math.ceil(parallel.budgetMs / rounds));
      append(results[target.key]?.concurrent as EnforceRun, run);
      await pause();
    }
  }
  return results;
}

main().then(
  (results) => {
    agent.destroy();
    parentPort?.postMessage({ kind: 'done', results } satisfies EnforceClientMessage);
  },
  (error: unknown) => {
    agent.destroy();
    parentPort?.postMessage({ kind: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies EnforceClientMessage);
  },
);
