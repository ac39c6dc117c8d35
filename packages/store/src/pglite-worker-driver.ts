/**
 * PGlite on its own thread behind the {@link Database} port: opening a data folder, a long
 * query or a big transaction runs there, so the caller's event loop keeps answering.
 */
import type { Worker } from 'node:worker_threads';
import { VerityError } from '@verity/core';
import type { CreatePgliteDatabaseOptions } from './pglite-driver.js';
import type { Database, SqlClient } from './types.js';
import { startWorkerHost, transactionOverCalls, type WorkerHost } from './worker-host.js';

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
 * Open (creating when needed) a PGlite database on a worker thread. Same semantics as
 * {@link createPgliteDatabase}: one connection, so a query outside `tx` while a transaction
 * runs waits for it. SQL errors keep their SQLSTATE `code` (and `constraint`, `detail`, …).
 * If the thread dies, every pending and later call rejects with VerityError
 * ERR_STORE_UNAVAILABLE (fail closed; nothing waits forever).
 *
 * A data folder gets a thread of its own. The in-memory databases of a process share one
 * thread, which keeps PGlite warm and restores each new one from a fresh copy it made once
 * (opening one costs what it costs on the caller's thread, as tests start many).
 *
 * @example
 * const db = await createPgliteWorkerDatabase({ dataDir: './data' });
 * const store = await createStore(db);
 */
export async function createPgliteWorkerDatabase(options: CreatePgliteDatabaseOptions = {}): Promise<PgliteWorkerDatabase> {
  if (options.dataDir !== undefined) {
    const host = await startHost();
    try {
      return await openOn(host, options.dataDir, { ownsHost: true });
    } catch (error) {
      await host.stop();
      throw error;
    }
  }
  if (memoryHost === undefined) {
    const starting = startHost();
    memoryHost = starting;
    starting.then(
      (host) => host.onDeath(() => void (memoryHost === starting && (memoryHost = undefined))),
      () => void (memoryHost === starting && (memoryHost = undefined)),
    );
  }
  return openOn(await memoryHost, null, { ownsHost: false });
}

/** The thread of this process's in-memory databases, started with the first one. */
let memoryHost: Promise<WorkerHost> | undefined;

/** A thread running pglite-worker.mjs. */
function startHost(): Promise<WorkerHost> {
  return startWorkerHost(new URL('./pglite-worker.mjs', import.meta.url), { name: 'verity-pglite', unavailable });
}

function unavailable(why: string, cause?: unknown): VerityError {
  return new VerityError('ERR_STORE_UNAVAILABLE', `the embedded store is unavailable: ${why}`, cause === undefined ? undefined : { cause });
}

let nextDatabase = 1;

async function openOn(host: WorkerHost, dataDir: string | null, { ownsHost }: { ownsHost: boolean }): Promise<PgliteWorkerDatabase> {
  const db = nextDatabase++;
  await host.call({ op: 'open', db, dataDir });
  /** Set once this database is closed (or its thread died): every call fails with it. */
  let closed: VerityError | null = null;
  const forget = host.onDeath((error) => (closed ??= error));
  const call = (message: Record<string, unknown>): Promise<unknown> => (closed !== null ? Promise.reject(closed) : host.call({ ...message, db }));
  const clientOf = (tx: number | undefined): SqlClient => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const rows = (await call({ op: 'query', sql, params: params === undefined ? undefined : [...params], ...(tx === undefined ? {} : { tx }) })) as R[];
      return { rows };
    },
  });
  const own = new Set<number>();

  return {
    kind: 'pglite',
    worker: host.worker,
    query: clientOf(undefined).query,
    transaction: (fn) => transactionOverCalls(call, clientOf, fn),
    // One message per batch: the records are chained and inserted on the thread (audit-append.mjs).
    async appendAudit(records, { skipExisting }) {
      await call({ op: 'auditAppend', records, skipExisting });
    },
    async listen(channel, onPayload) {
      const id = (await call({ op: 'listen', channel })) as number;
      host.listeners.set(id, onPayload);
      own.add(id);
      const close = async (): Promise<void> => {
        if (!own.delete(id)) return;
        host.listeners.delete(id);
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
      if (closed !== null) return;
      for (const id of own) host.listeners.delete(id);
      own.clear();
      try {
        await call({ op: 'close' });
      } finally {
        closed = unavailable('it is closed');
        forget();
        if (ownsHost) await host.stop();
      }
    },
  };
}
