/**
 * A worker thread that runs a TypeScript module of the benches. Module hooks do not reach worker
 * threads on Node.js 20, so the worker registers Verity's loader (`@verity/cli/loader`) itself
 * before it imports `module`.
 */
import { Worker } from 'node:worker_threads';

export function startTsWorker(module: URL, workerData: unknown): Worker {
  const boot = `import(${JSON.stringify(import.meta.resolve('@verity/cli/loader'))}).then(() => import(${JSON.stringify(module.href)}));`;
  return new Worker(boot, { eval: true, workerData });
}

/** `execArgv` of a forked bench process: the same loader as this one. */
export const LOADER_EXEC_ARGV: readonly string[] = ['--import', import.meta.resolve('@verity/cli/loader')];
