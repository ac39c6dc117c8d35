/**
 * A worker thread that runs a TypeScript module of the benches. Module hooks do not reach worker
 * threads on Node.js 20, so the worker registers Verity's loader (`@verity/cli/loader`) itself
 * before it imports `module`.
 */
import { Worker } from 'node:worker_threads';
import type { HttpJob, HttpResults } from './http-client.js';
import { MIX } from './requests.js';

export function startTsWorker(module: URL, workerData: unknown): Worker {
  const boot = `import(${JSON.stringify(import.meta.resolve('@verity/cli/loader'))}).then(() => import(${JSON.stringify(module.href)}));`;
  return new Worker(boot, { eval: true, workerData });
}

/** `execArgv` of a forked bench process: the same loader as this one. */
export const LOADER_EXEC_ARGV: readonly string[] = ['--import', import.meta.resolve('@verity/cli/loader')];

/** Run the HTTP load generator (http-client.ts) on its own thread with `job`; its results, or its error. */
export function runHttp(job: HttpJob): Promise<HttpResults> {
  return new Promise((resolve, reject) => {
    const worker = startTsWorker(new URL('./http-client.ts', import.meta.url), job);
    worker.once('message', (message: { ok: true; results: HttpResults } | { ok: false; error: string }) => {
      void worker.terminate();
      if (message.ok) resolve(message.results);
      else reject(new Error(`HTTP client: ${message.error}`));
    });
    worker.once('error', reject);
  });
}

/**
 * The throughput phase alone: 32 keep-alive connections sending the demo mix round-robin, for at
 * most `n` requests or `budgetMs`, with `authorization` on every request when given.
 */
export function throughputJob(url: string, options: { authorization?: string; n: number; budgetMs: number }): HttpJob {
  return {
    url,
    bodies: MIX.map((entry) => JSON.stringify(entry.request)),
    expected: [],
    batchBody: '',
    batchExpected: [],
    sequential: { warmup: 0, n: 0, budgetMs: 0 },
    batch: { warmup: 0, n: 0, budgetMs: 0 },
    concurrent: { workers: 32, n: options.n, budgetMs: options.budgetMs },
    throughputOnly: true,
    ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
  };
}
