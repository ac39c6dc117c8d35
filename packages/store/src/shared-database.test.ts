/**
 * The database a `verity serve --workers N` primary relays to its workers: the store
 * conformance suite through the relay, errors that keep their SQLSTATE and their VerityError
 * class, a barrier that waits for a slow worker, a dead worker's open transaction rolled back,
 * and calls that fail closed once the primary is gone. The channel here is in process: each
 * message a structured clone delivered on a later turn, as IPC does.
 */
import { describe, expect, it } from 'vitest';
import { isVerityError } from '@verity/core';
import { createPgliteWorkerDatabase } from './pglite-worker-driver.js';
import { BARRIER_WAIT_MS, connectSharedDatabase, createDatabaseRelay, type DatabaseRelay, type ProcessChannel, type SharedDatabase } from './shared-database.js';
import { describeStoreConformance } from '../test/store-conformance.js';
import type { Database } from './types.js';

/** Two ends of a channel; `hold()` stops delivery to the worker end until `release()` (a busy worker). */
function channelPair(): { primary: ProcessChannel; worker: ProcessChannel; hold(): void; release(): void; cut(): void } {
  const handlers = { primary: new Set<(message: unknown) => void>(), worker: new Set<(message: unknown) => void>() };
  let held: unknown[] | null = null;
  let cut = false;
  const deliver = (to: 'primary' | 'worker', message: unknown): void => {
    if (cut) throw new Error('channel closed');
    const copy = structuredClone(message);
    if (to === 'worker' && held !== null) return void held.push(copy);
    setImmediate(() => handlers[to].forEach((handler) => handler(copy)));
  };
  const end = (self: 'primary' | 'worker', other: 'primary' | 'worker'): ProcessChannel => ({
    send: (message) => deliver(other, message),
    onMessage: (handler) => {
      handlers[self].add(handler);
      return () => void handlers[self].delete(handler);
    },
  });
  return {
    primary: end('primary', 'worker'),
    worker: end('worker', 'primary'),
    hold: () => void (held ??= []),
    release: () => {
      const queued = held ?? [];
      held = null;
      for (const message of queued) setImmediate(() => handlers.worker.forEach((handler) => handler(message)));
    },
    cut: () => void (cut = true),
  };
}

interface Workers {
  primaryDb: Database;
  relay: DatabaseRelay;
  connect(): { db: SharedDatabase; pair: ReturnType<typeof channelPair>; detach: () => Promise<void>; gone: () => void };
  close(): Promise<void>;
}

async function startPrimary(): Promise<Workers> {
  const primaryDb = await createPgliteWorkerDatabase();
  const relay = createDatabaseRelay(primaryDb);
  return {
    primaryDb,
    relay,
    connect() {
      const pair = channelPair();
      const detach = relay.attach(pair.primary);
      let gone!: () => void;
      const closed = new Promise<void>((resolve) => (gone = resolve));
      return { db: connectSharedDatabase(pair.worker, primaryDb.kind, closed), pair, detach, gone };
    },
    close: () => primaryDb.close(),
  };
}

// The whole store, as a worker process uses it.
describeStoreConformance(
  'shared (a worker process through the primary)',
  async () => {
    const primary = await startPrimary();
    const { db } = primary.connect();
    return Object.assign(Object.create(db) as SharedDatabase, { close: async () => (await db.close(), await primary.close()) });
  },
  { reuseDatabase: true },
);

describe('the shared database', () => {
  it('keeps SQLSTATE fields and the VerityError class across the channel', async () => {
    const primary = await startPrimary();
    try {
      const { db } = primary.connect();
      await db.query('CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY)');
      await db.query('INSERT INTO t VALUES (1)');
      await expect(db.query('INSERT INTO t VALUES (1)')).rejects.toMatchObject({ code: '23505', constraint: 't_pk' });
      // The primary's database fails with a VerityError (closed): the worker gets one too.
      await primary.primaryDb.close();
      const error = await db.query('SELECT 1').catch((e: unknown) => e);
      expect(isVerityError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    } finally {
      await primary.close();
    }
  });

  it('commits and rolls back transactions, each worker seeing the other’s committed rows', async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect().db;
      const b = primary.connect().db;
      await a.query('CREATE TABLE t (id int)');
      await a.transaction(async (tx) => void (await tx.query('INSERT INTO t VALUES (1)')));
      await expect(b.transaction(async (tx) => (await tx.query('INSERT INTO t VALUES (2)'), Promise.reject(new Error('no'))))).rejects.toThrow('no');
      expect((await b.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 1 }]);
    } finally {
      await primary.close();
    }
  });

  it('a barrier resolves only once every other worker has handled the notification published before it', async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect();
      const b = primary.connect();
      const heard: string[] = [];
      await b.db.listen('verity_changes', (payload) => heard.push(payload));
      b.pair.hold(); // b is busy: nothing reaches it
      await a.db.query("SELECT pg_notify('verity_changes', 'policy')");
      let passed = false;
      const barrier = a.db.barrier().then(() => (passed = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(passed).toBe(false);
      expect(heard).toEqual([]);
      b.pair.release();
      await barrier;
      // The ping b answered came after the notification on the same channel.
      expect(heard).toEqual(['policy']);
    } finally {
      await primary.close();
    }
  });

  it(`a barrier is bounded: a worker that never answers holds it ${BARRIER_WAIT_MS} ms at most`, async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect();
      primary.connect().pair.hold();
      const started = Date.now();
      await a.db.barrier();
      expect(Date.now() - started).toBeGreaterThanOrEqual(BARRIER_WAIT_MS - 50);
    } finally {
      await primary.close();
    }
  });

  it('a worker that dies inside a transaction is rolled back, and the others go on', async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect();
      const b = primary.connect().db;
      await b.query('CREATE TABLE t (id int)');
      let inside!: () => void;
      const entered = new Promise<void>((resolve) => (inside = resolve));
      const abandoned = a.db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        inside();
        await new Promise(() => {}); // the process dies here
      });
      void abandoned.catch(() => {});
      await entered;
      a.pair.cut();
      await a.detach();
      expect((await b.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
      await b.transaction(async (tx) => void (await tx.query('INSERT INTO t VALUES (2)')));
      expect((await b.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 1 }]);
    } finally {
      await primary.close();
    }
  });

  it('fails closed with ERR_STORE_UNAVAILABLE once the primary is gone: pending and later calls', async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect();
      a.pair.hold(); // the answer to this call never comes
      const pending = a.db.query('SELECT 1');
      a.gone();
      await expect(pending).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(a.db.query('SELECT 1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(a.db.appendAudit([], { skipExisting: false })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    } finally {
      await primary.close();
    }
  });
});
