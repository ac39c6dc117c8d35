/**
 * The database a `verity serve --workers N` primary relays to its workers: the store
 * conformance suite through the relay, errors that keep their SQLSTATE and their VerityError
 * class, a barrier that waits for a slow worker, a dead worker's open transaction rolled back,
 * and calls that fail closed once the primary is gone. The channel here is in process: each
 * message a structured clone delivered on a later turn, as IPC does.
 */
import { describe, expect, it } from 'vitest';
import { isVerityError, verifyAuditChain, type DecisionRecord } from '@verity/core';
import { createStore } from './store.js';
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

// The store as a worker process uses it: the groups that carry transactions with row locks
// (entities' cycle check, credentials, migrations), the audit through the driver's own append,
// and tenants. The whole suite runs on the driver the relay stands on (pglite-worker-driver.test.ts).
describeStoreConformance(
  'shared (a worker process through the primary)',
  async () => {
    const primary = await startPrimary();
    const { db } = primary.connect();
    return Object.assign(Object.create(db) as SharedDatabase, { close: async () => (await db.close(), await primary.close()) });
  },
  { reuseDatabase: true, only: ['tenants and policies', 'entities', 'audit', 'credentials and migrations'] },
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

  it('a barrier waits for what the other worker holds it for (its changes heard and not yet applied)', async () => {
    const primary = await startPrimary();
    try {
      const a = primary.connect();
      const b = primary.connect();
      let applied!: () => void;
      const applying = new Promise<void>((resolve) => (applied = resolve));
      b.db.holdBarrier(() => applying);
      let passed = false;
      const barrier = a.db.barrier().then(() => (passed = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(passed).toBe(false);
      applied();
      await barrier;
      expect(passed).toBe(true);
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

  it('commits the audit batches of several workers together, and answers each batch of a failed group on its own', async () => {
    const primaryDb = await createPgliteWorkerDatabase();
    try {
      const store = await createStore(primaryDb);
      await store.tenants.create({ id: 'acme', name: 'acme', settings: {} });
      const commits: number[] = [];
      const counted = Object.assign(Object.create(primaryDb) as Database, {
        appendAudit: async (records: readonly DecisionRecord[], options: { skipExisting: boolean }) => (commits.push(records.length), primaryDb.appendAudit?.(records, options)),
      });
      const relay = createDatabaseRelay(counted);
      const workers = Array.from({ length: 4 }, () => {
        const pair = channelPair();
        relay.attach(pair.primary);
        return connectSharedDatabase(pair.worker, 'pglite');
      });
      let n = 0;
      const record = (tenant: string): DecisionRecord => ({ decisionId: `d${++n}`, time: new Date(1_800_000_000_000 + n).toISOString(), tenant, requestId: null, tier: null, principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'a' }, resource: { type: 'Doc', id: 'r' }, decision: 'allow', reasons: [], errors: [], policyVersion: 1, latencyUs: 1 });
      // Each worker sends 5 batches, one after another (as its writer does), all workers at once.
      await Promise.all(workers.map(async (worker) => {
        for (let i = 0; i < 5; i++) await worker.appendAudit([record('acme'), record('acme')], { skipExisting: false });
      }));
      const events = await store.audit.readChain('acme', 0, 1000);
      expect(events).toHaveLength(40);
      expect(new Set(events.map((event) => event.decisionId)).size).toBe(40);
      expect(verifyAuditChain(events)).toMatchObject({ ok: true, checked: 40 });
      // Fewer commits than batches: those that arrived during a commit went in the next, together.
      expect(commits.length).toBeLessThan(20);
      // A group with a batch the store refuses: the others are still written, once.
      commits.length = 0;
      const [good, bad] = await Promise.allSettled([
        workers[0]?.appendAudit([record('acme')], { skipExisting: false }),
        workers[1]?.appendAudit([record('nobody')], { skipExisting: false }),
        workers[2]?.appendAudit([record('acme')], { skipExisting: false }),
      ]);
      expect(good?.status).toBe('fulfilled');
      expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'ERR_TENANT_NOT_FOUND' } });
      const after = await store.audit.readChain('acme', 0, 1000);
      expect(after).toHaveLength(42);
      expect(verifyAuditChain(after)).toMatchObject({ ok: true, checked: 42 });
    } finally {
      await primaryDb.close();
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
