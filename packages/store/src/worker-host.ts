/**
 * One worker thread that answers numbered calls ({id, …} in, {id, ok, value | error} out), and
 * the calls waiting on it: the PGlite driver's thread and the PostgreSQL audit thread. If the
 * thread dies, every pending and later call rejects with the driver's unavailable error (fail
 * closed; nothing waits forever).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { VerityError } from '@verity/core';
import type { SqlClient } from './types.js';

/** An error as the worker sends it: its message and primitive fields (SQLSTATE `code`, `constraint`, …). */
export interface WireError {
  message: string;
  fields: Record<string, string | number | boolean>;
}

type Reply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: WireError };
type WorkerMessage = Reply | { type: 'ready' } | { type: 'notify'; listener: number; payload: string };

/** Rebuild an error from the worker with the fields callers inspect (sql-errors.ts reads `code`, `constraint`). */
export function rebuildError(wire: WireError): Error {
  const error = new Error(wire.message);
  const { message: _message, stack: _stack, ...fields } = wire.fields;
  return Object.assign(error, fields);
}

/**
 * {@link Database.transaction} over numbered calls (`begin` answers a transaction id, `end`
 * commits or rolls it back): the PGlite thread's driver and a worker process's shared database.
 * `fn` runs on `clientOf(tx)`; it commits when `fn` resolves, rolls back when it throws.
 */
export async function transactionOverCalls<T>(call: (message: { op: 'begin' } | { op: 'end'; tx: number; commit: boolean }) => Promise<unknown>, clientOf: (tx: number) => SqlClient, fn: (tx: SqlClient) => Promise<T>): Promise<T> {
  const tx = (await call({ op: 'begin' })) as number;
  let result: T;
  try {
    result = await fn(clientOf(tx));
  } catch (error) {
    await call({ op: 'end', tx, commit: false }).catch(() => {});
    throw error;
  }
  await call({ op: 'end', tx, commit: true });
  return result;
}

/** One worker thread and the calls waiting on it. */
export interface WorkerHost {
  worker: Worker;
  call(message: Record<string, unknown>): Promise<unknown>;
  /** Route NOTIFY payloads of a worker-side listener id. */
  listeners: Map<number, (payload: string) => void>;
  /** Run `then` when the thread dies or is stopped (at once when it already has); returns a function that forgets it. */
  onDeath(then: (error: VerityError) => void): () => void;
  stop(): Promise<void>;
}

/** The flag for the export condition under which each `@verity/*` package exports its sources (package.json `exports`). */
const SOURCE_CONDITION = '--conditions=verity-source';

/**
 * A worker thread for `url`. Run from the TypeScript sources, this module gives the worker the
 * `verity-source` export condition, so its `@verity/*` imports (`@verity/core/audit-hash`) load the
 * same sources as this thread, never a build: a worker inherits flags, not the module hooks that
 * the `verity` bin registers in code. This thread's flags go along as they would by default,
 * unless the worker refuses one (V8 and process-wide flags such as `--max-old-space-size`, which
 * Node has no list of), and then it gets the condition alone. Built, the worker inherits as usual.
 */
function createWorker(url: URL, options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(url, options);
  try {
    return new Worker(url, { ...options, execArgv: [...process.execArgv, SOURCE_CONDITION] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return new Worker(url, { ...options, execArgv: [SOURCE_CONDITION] });
  }
}

/**
 * Start the worker at `url` and wait for its `{type: 'ready'}`. `unavailable(why, cause)` makes
 * the error calls fail with once the thread is gone. Idle, the thread does not keep the process
 * alive.
 */
export async function startWorkerHost(
  url: URL,
  options: { name: string; workerData?: unknown; unavailable: (why: string, cause?: unknown) => VerityError },
): Promise<WorkerHost> {
  const { unavailable } = options;
  const worker = createWorker(url, { name: options.name, ...(options.workerData === undefined ? {} : { workerData: options.workerData }) });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  const listeners = new Map<number, (payload: string) => void>();
  const mourners = new Set<(error: VerityError) => void>();
  let nextId = 1;
  /** Set once the thread is gone: every call fails with it. */
  let dead: VerityError | null = null;

  const fail = (error: VerityError): void => {
    if (dead !== null) return;
    dead = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    listeners.clear();
    for (const mourn of mourners) mourn(error);
    mourners.clear();
  };

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if ('id' in message) {
        const call = pending.get(message.id);
        if (call === undefined) return;
        pending.delete(message.id);
        // Idle, the thread does not keep the process alive (as PGlite on the main thread would not).
        if (pending.size === 0) worker.unref();
        if (message.ok) call.resolve(message.value);
        else call.reject(rebuildError(message.error));
      } else if (message.type === 'notify') {
        listeners.get(message.listener)?.(message.payload);
      } else {
        resolve();
      }
    });
    worker.on('error', (error) => {
      fail(unavailable('its thread failed', error));
      reject(dead);
    });
    worker.on('exit', (code) => {
      fail(unavailable(`its thread stopped (exit code ${code})`));
      reject(dead);
    });
  });
  await ready;
  worker.unref();

  return {
    worker,
    listeners,
    call(message) {
      if (dead !== null) return Promise.reject(dead);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ ...message, id });
      });
    },
    onDeath(then) {
      if (dead !== null) then(dead);
      else mourners.add(then);
      return () => void mourners.delete(then);
    },
    async stop() {
      fail(unavailable('it is closed'));
      await worker.terminate();
    },
  };
}
