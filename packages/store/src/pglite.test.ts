/** Runs the store conformance suite on PGlite, in memory and in a data folder that is reopened. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPgliteDatabase } from './pglite-driver.js';
import { createStore } from './store.js';
import { expectNewFolderFromCopyThenReopened, publicTables, withFreshCopyEnv, writeMarkedCopy } from '../test/fresh-copies.js';
import { describeStoreConformance } from '../test/store-conformance.js';

/** For tests that start PGlite instances of their own (initdb, restores): seconds each, more under load. */
const PGLITE_MS = 120_000;

// A new in-memory database restores a fresh copy of an initialized one (about 1.5 s on this
// machine, against 0.1 s for the migrations), so the cases share one database whose schema is
// emptied before each (reuseDatabase); the migration cases still get new ones.
// The server runs PGlite on its own thread (pglite-worker-driver.test.ts runs every group); this
// in-thread driver (tests' fixtures, embedding) runs the groups that exercise a driver itself:
// transactions and locks, the audit chain over a transaction, migrations. The repositories'
// own logic is the same SQL on every driver.
describeStoreConformance('pglite (in memory)', () => createPgliteDatabase(), { reuseDatabase: true, only: ['tenants and policies', 'entities', 'audit', 'credentials and migrations'] });

/** The driver as a process loads it first: it has made no fresh copy yet. */
async function newDriver(): Promise<typeof import('./pglite-driver.js')> {
  vi.resetModules();
  return import('./pglite-driver.js');
}

describe('createPgliteDatabase', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'verity-pglite-copies-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('opens an empty in-memory database: the first of a process by initdb, the next from its fresh copy, each its own', { timeout: PGLITE_MS }, async () => {
    const driver = await newDriver();
    // No copy from outside: this process initializes its first database itself.
    const [a, b] = await withFreshCopyEnv(undefined, async () => [await driver.createPgliteDatabase(), await driver.createPgliteDatabase()]);
    try {
      expect([a.kind, b.kind]).toEqual(['pglite', 'pglite']);
      const store = await createStore(a);
      expect(await store.tenants.list()).toEqual([]);
      expect(await publicTables(b)).toEqual([]);
      expect(await publicTables(a)).toContain('tenants');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('restores the copy named by VERITY_PGLITE_FRESH_COPY instead of running initdb, and fails the open when it cannot read it', { timeout: PGLITE_MS }, async () => {
    const copy = join(scratch, 'marked.tar');
    await writeMarkedCopy(copy, 'from_the_copy');
    const driver = await newDriver();
    const [a, b] = await withFreshCopyEnv(copy, async () => [await driver.createPgliteDatabase(), await driver.createPgliteDatabase()]);
    try {
      expect(await publicTables(a)).toEqual(['from_the_copy']);
      await a.query('CREATE TABLE only_in_a (id int)');
      expect(await publicTables(b)).toEqual(['from_the_copy']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const missing = await newDriver();
    await withFreshCopyEnv(join(scratch, 'missing.tar'), async () => {
      await expect(missing.createPgliteDatabase()).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});

describe('pglite data folder', () => {
  it('keeps tenants, versions and the audit chain across a reopen', { timeout: PGLITE_MS }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'verity-pglite-'));
    try {
      // Without a copy from outside: the new folder is initialized by initdb.
      const first = await createStore(await withFreshCopyEnv(undefined, () => createPgliteDatabase({ dataDir })));
      await first.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
      await first.policies.createVersion('acme', {
        content: { validationMode: 'off', policies: { p: 'permit (principal, action, resource);' }, templates: {}, links: [] },
        hash: 'f'.repeat(64),
        createdBy: 'tester',
        message: 'first',
        activate: true,
      });
      await first.close();

      const reopened = await createStore(await createPgliteDatabase({ dataDir }));
      try {
        expect(await reopened.tenants.get('acme')).toMatchObject({ id: 'acme', activeVersion: 1 });
        expect((await reopened.policies.getActive('acme'))?.content.policies).toEqual({ p: 'permit (principal, action, resource);' });
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('starts a new folder from the copy named by VERITY_PGLITE_FRESH_COPY, and reopens it as it is', { timeout: PGLITE_MS }, () => expectNewFolderFromCopyThenReopened((dataDir) => createPgliteDatabase({ dataDir })));
});
