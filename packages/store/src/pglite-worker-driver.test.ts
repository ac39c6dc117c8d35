/**
 * PGlite on a worker thread: the store conformance suite, SQL errors that keep their SQLSTATE,
 * transactions serialized as on the caller's thread, notifications, and failing closed (never
 * hanging) when the thread dies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { VerityError, verifyAuditChain, type DecisionRecord } from '@verity/core';
import { createPgliteWorkerDatabase } from './pglite-worker-driver.js';
import { isUniqueViolation } from './sql-errors.js';
import { createStore } from './store.js';
import { expectNewFolderFromCopyThenReopened, publicTables, withFreshCopyEnv, writeMarkedCopy } from '../test/fresh-copies.js';
import { describeStoreConformance } from '../test/store-conformance.js';

/** For tests that start PGlite instances of their own (initdb, restores): seconds each, more under load. */
const PGLITE_MS = 120_000;

// Opening an in-memory database restores a PGlite instance on the worker (seconds on a loaded
// machine): the cases share one whose schema is emptied before each; the migration cases still
// open their own.
describeStoreConformance('pglite (worker thread)', () => createPgliteWorkerDatabase(), { reuseDatabase: true });

async function withDatabase(run: (db: Awaited<ReturnType<typeof createPgliteWorkerDatabase>>) => Promise<void>): Promise<void> {
  const db = await createPgliteWorkerDatabase();
  try {
    await run(db);
  } finally {
    await db.close();
  }
}

describe('createPgliteWorkerDatabase', () => {
  it('rebuilds SQL errors with their SQLSTATE and constraint', () =>
    withDatabase(async (db) => {
      await db.query('CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY)');
      await db.query('INSERT INTO t VALUES (1)');
      const error = await db.query('INSERT INTO t VALUES (1)').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: '23505', constraint: 't_pk' });
      expect(isUniqueViolation(error, 't_pk')).toBe(true);
    }));

  it('commits a transaction that resolves, rolls back one that throws, and keeps other queries waiting meanwhile', () =>
    withDatabase(async (db) => {
      await db.query('CREATE TABLE t (id int)');
      const order: string[] = [];
      let outside: Promise<unknown> | undefined;
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        outside = db.query('SELECT count(*)::int AS n FROM t').then((result) => order.push(`outside saw ${(result.rows[0] as { n: number }).n}`));
        await new Promise((resolve) => setTimeout(resolve, 50));
        order.push('commit');
      });
      await outside;
      expect(order).toEqual(['commit', 'outside saw 1']);
      await expect(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (2)');
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect((await db.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 1 }]);
    }));

  it('delivers NOTIFY to a listener until it closes; the listener can notify itself', () =>
    withDatabase(async (db) => {
      const heard: string[] = [];
      const listener = (await db.listen('verity_test', (payload) => heard.push(payload))) as unknown as { notify(payload: string): Promise<void>; reset(): void; close(): Promise<void> };
      await listener.notify('one');
      await db.query("SELECT pg_notify('verity_test', 'two')");
      await expect.poll(() => heard).toEqual(['one', 'two']);
      listener.reset();
      await listener.close();
      await db.query("SELECT pg_notify('verity_test', 'three')");
      await db.query('SELECT 1');
      expect(heard).toEqual(['one', 'two']);
    }));

  it('chains and inserts audit records on its thread: one message per batch, no transaction from the caller', () =>
    withDatabase(async (db) => {
      const store = await createStore(db);
      await store.tenants.create({ id: 't', name: 'T', settings: {} });
      await store.tenants.create({ id: 'u', name: 'U', settings: {} });
      const record = (i: number, tenant: string): DecisionRecord => ({ decisionId: `d-${i}`, time: new Date(1_700_000_000_000 + i).toISOString(), tenant, requestId: null, tier: null, principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: String(i) }, decision: 'allow', reasons: [], errors: [], policyVersion: 1, latencyUs: 5 });
      // Were the chain built here, it would need the caller's transactions.
      const transaction = db.transaction;
      db.transaction = () => Promise.reject(new Error('the audit must not use a transaction of the caller'));
      const posted = vi.spyOn(db.worker, 'postMessage');
      try {
        await store.audit.append(Array.from({ length: 300 }, (_, i) => record(i, i % 3 === 0 ? 'u' : 't')));
        await store.audit.append([record(1, 't'), record(300, 't')], { skipExisting: true });
        await expect(store.audit.append([record(301, 'nobody')])).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });
      } finally {
        db.transaction = transaction;
      }
      expect(posted.mock.calls.map(([message]) => (message as { op: string }).op)).toEqual(['auditAppend', 'auditAppend', 'auditAppend']);
      for (const tenant of ['t', 'u']) {
        const events = await store.audit.readChain(tenant, 0, 1000);
        expect(verifyAuditChain(events, await store.audit.head(tenant)).ok).toBe(true);
        expect(events).toHaveLength(tenant === 't' ? 201 : 100);
      }
      // The hash the thread stores is the one chained before issue 13 (core's golden hashes).
      await store.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
      await store.audit.append([{ decisionId: 'd-1', time: '2026-12-01T00:00:00.000Z', tenant: 'acme', requestId: null, tier: null, principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: '1' }, decision: 'allow', reasons: ['policy0'], errors: [], policyVersion: 1, latencyUs: 12.5 }]);
      expect((await store.audit.readChain('acme', 0, 1))[0]?.hash).toBe('205f9faa9ffc249bd3dceb22712048e42a63482652477c44db6359d28826ed8b');
    }));

  it('fails every pending and later call with ERR_STORE_UNAVAILABLE when its thread dies', async () => {
    const db = await createPgliteWorkerDatabase();
    await db.query('CREATE TABLE t (id int)');
    // A transaction left open holds the instance: the query behind it waits, then the thread dies.
    const open = db.transaction(() => new Promise(() => {}));
    const pending = db.query('SELECT 1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await db.worker.terminate();
    for (const call of [pending, db.query('SELECT 1'), db.transaction(async () => 1)]) {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VerityError);
      expect((error as VerityError).code).toBe('ERR_STORE_UNAVAILABLE');
    }
    void open;
    await db.close();
  });

  /** The driver as a process loads it first: no thread for in-memory databases yet, so the next open starts one. */
  async function newDriver(): Promise<typeof import('./pglite-worker-driver.js')> {
    vi.resetModules();
    return import('./pglite-worker-driver.js');
  }

  it('opens the next in-memory database from the first one\'s fresh copy: each empty and its own', { timeout: PGLITE_MS }, async () => {
    // A new thread with no copy from outside: it initializes its first database itself.
    const driver = await newDriver();
    const [a, b] = await withFreshCopyEnv(undefined, async () => [await driver.createPgliteWorkerDatabase(), await driver.createPgliteWorkerDatabase()]);
    try {
      await a.query('CREATE TABLE only_in_a (id int)');
      const tables = async (db: typeof a) => (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'only_in_a'")).rows[0]?.n;
      expect([await tables(a), await tables(b)]).toEqual([1, 0]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('restores the copy named by VERITY_PGLITE_FRESH_COPY on its thread instead of running initdb', { timeout: PGLITE_MS }, async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'verity-pglite-copies-'));
    try {
      const copy = join(scratch, 'marked.tar');
      await writeMarkedCopy(copy, 'from_the_copy');
      const driver = await newDriver();
      // The thread reads the variable when it opens its first in-memory database.
      const [a, b] = await withFreshCopyEnv(copy, async () => [await driver.createPgliteWorkerDatabase(), await driver.createPgliteWorkerDatabase()]);
      try {
        expect(await publicTables(a)).toEqual(['from_the_copy']);
        await a.query('CREATE TABLE only_in_a (id int)');
        expect(await publicTables(b)).toEqual(['from_the_copy']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('starts a new data folder from the copy named by VERITY_PGLITE_FRESH_COPY on its thread, and reopens it as it is', { timeout: PGLITE_MS }, () => expectNewFolderFromCopyThenReopened((dataDir) => createPgliteWorkerDatabase({ dataDir })));
});
