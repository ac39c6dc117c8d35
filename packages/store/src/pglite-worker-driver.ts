/**
 * PGlite on its own thread behind the {@link Database} port: opening a data folder, a long
 * query or a big transaction runs there, so the caller's event loop keeps answering.
 */
import { Worker } from 'node:worker_threads';
import { VerityError } from '@verity/core';
import type { CreatePgliteDatabaseOptions } from './pglite-driver.js';
import type { Database, SqlClient } from './types.js';

/** An error as the worker sends it: its message and primitive fields (SQLSTATE `code`, `constraint`, …). */
interface WireError {
  message: string;
  fields: Record<string, string | number | boolean>;
}

type Reply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: WireError };
type WorkerMessage = Reply | { type: 'ready'; dump?: ArrayBuffer } | { type: 'failed'; error: WireError } | { type: 'notify'; listener: number; payload: string };

/** What `listen` resolves to: callable as the unsubscribe function, and the listener's methods. */
export type WorkerListener = (() => Promise<void>) & {
  /** NOTIFY on the channel (`SELECT pg_notify`). */
  notify(payload: string): Promise<void>;
  /** Nothing to reconnect: PGlite is in this process. */
  reset(): void;
  close(): Promise<void>;
};

/** A {@link Database} on a PGlite worker thread. */
export interface PgliteWorkerDatabase extends Database {
  /** The thread holding PGlite (diagnostics; terminating it stands for a crash in tests). */
  readonly worker: Worker;
}

/**
 * The just-initialized data folder of the first in-memory database (a tar, uncompressed), kept
 * per process: later in-memory databases restore it instead of running initdb (seconds of Wasm).
 */
let fresh: Promise<ArrayBuffer> | undefined;

/**
 * Open (creating when needed) a PGlite database on a worker thread. Same semantics as
 * {@link createPgliteDatabase}: one connection, so a query outside `tx` while a transaction
 * runs waits for it. SQL errors keep their SQLSTATE `code` (and `constraint`, `detail`, …).
 * If the thread dies, every pending and later call rejects with VerityError
 * ERR_STORE_UNAVAILABLE (fail closed; nothing waits forever).
 *
 * @example
 * const db = await createPgliteWorkerDatabase({ dataDir: './data' });
 * const store = await createStore(db);
 */
export async function createPgliteWorkerDatabase(options: CreatePgliteDatabaseOptions = {}): Promise<PgliteWorkerDatabase> {
  if (options.dataDir !== undefined) return spawnPglite({ dataDir: options.dataDir, load: null, dump: false });
  if (fresh === undefined) {
    let dumped!: (dump: ArrayBuffer) => void;
    let failed!: (error: unknown) => void;
    fresh = new Promise<ArrayBuffer>((resolve, reject) => ((dumped = resolve), (failed = reject)));
    fresh.catch(() => (fresh = undefined));
    try {
      return await spawnPglite({ dataDir: null, load: null, dump: true }, dumped);
    } catch (error) {
      failed(error);
      throw error;
    }
  }
  return spawnPglite({ dataDir: null, load: await fresh, dump: false });
}

interface WorkerOptions {
  dataDir: string | null;
  load: ArrayBuffer | null;
  dump: boolean;
}

function unavailable(why: string, cause?: unknown): VerityError {
  return new VerityError('ERR_STORE_UNAVAILABLE', `the embedded store is unavailable: ${why}`, cause === undefined ? undefined : { cause });
}

/** Rebuild an error from the worker with the fields callers inspect (sql-errors.ts reads `code`, `constraint`). */
function rebuildError(wire: WireError): Error {
  const error = new Error(wire.message);
  const { message: _message, stack: _stack, ...fields } = wire.fields;
  return Object.assign(error, fields);
}

async function spawnPglite(workerOptions: WorkerOptions, onDump?: (dump: ArrayBuffer) => void): Promise<PgliteWorkerDatabase> {
  const worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: workerOptions, name: 'verity-pglite' });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  const listeners = new Map<number, (payload: string) => void>();
  let nextId = 1;
  /** Set once the thread is gone (or closed): every call fails with it. */
  let dead: VerityError | null = null;

  const fail = (error: VerityError): void => {
    if (dead !== null) return;
    dead = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    listeners.clear();
  };

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if ('id' in message) {
        const call = pending.get(message.id);
        if (call === undefined) return;
        pending.delete(message.id);
        if (pending.size === 0) worker.unref();
        if (message.ok) call.resolve(message.value);
        else call.reject(rebuildError(message.error));
      } else if (message.type === 'notify') {
        listeners.get(message.listener)?.(message.payload);
      } else if (message.type === 'ready') {
        if (message.dump !== undefined) onDump?.(message.dump);
        resolve();
      } else {
        reject(rebuildError(message.error));
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
  try {
    await ready;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  // Idle, the thread does not keep the process alive (as PGlite on the main thread would not).
  worker.unref();

  const call = (message: Record<string, unknown>): Promise<unknown> => {
    if (dead !== null) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...message, id });
    });
  };

  const clientOf = (tx: number | undefined): SqlClient => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const rows = (await call({ op: 'query', sql, params: params === undefined ? undefined : [...params], ...(tx === undefined ? {} : { tx }) })) as R[];
      return { rows };
    },
  });

  return {
    kind: 'pglite',
    worker,
    query: clientOf(undefined).query,
    async transaction(fn) {
      const tx = (await call({ op: 'begin' })) as number;
      let result;
      try {
        result = await fn(clientOf(tx));
      } catch (error) {
        await call({ op: 'end', tx, commit: false }).catch(() => {});
        throw error;
      }
      await call({ op: 'end', tx, commit: true });
      return result;
    },
    async listen(channel, onPayload) {
      const id = (await call({ op: 'listen', channel })) as number;
      listeners.set(id, onPayload);
      const close = async (): Promise<void> => {
        if (!listeners.delete(id)) return;
        await call({ op: 'unlisten', listener: id }).catch(() => {});
      };
      const listener: WorkerListener = Object.assign(() => close(), {
        notify: async (payload: string) => void (await call({ op: 'query', sql: 'SELECT pg_notify($1, $2)', params: [channel, payload] })),
        reset: () => {},
        close,
      });
      return listener;
    },
    async close() {
      if (dead !== null) return;
      try {
        await call({ op: 'close' });
      } finally {
        fail(unavailable('it is closed'));
        await worker.terminate();
      }
    },
  };
}
