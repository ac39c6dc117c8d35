/** Runs the store conformance suite on PGlite, in memory and in a data folder that is reopened. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { createPgliteDatabase, wrapPglite } from './pglite-driver.js';
import { createStore } from './store.js';
import { describeStoreConformance } from '../test/store-conformance.js';

// Cloning one empty, never-migrated instance is several times faster than booting a new one,
// and still gives a fresh, unmigrated database. Even a clone starts a new PGlite instance (about
// 1.5 s, against 0.1 s for the migrations), so the cases share one database whose schema is
// emptied before each (reuseDatabase); the migration cases still get a clone of their own.
let template: Promise<PGlite> | undefined;
afterAll(async () => {
  await (await template)?.close();
});

describeStoreConformance(
  'pglite (in memory)',
  async () => {
    template ??= PGlite.create();
    return wrapPglite(await (await template).clone());
  },
  { reuseDatabase: true },
);

describe('createPgliteDatabase', () => {
  it('opens an empty in-memory database', async () => {
    const db = await createPgliteDatabase();
    try {
      expect(db.kind).toBe('pglite');
      const store = await createStore(db);
      expect(await store.tenants.list()).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe('pglite data folder', () => {
  it('keeps tenants, versions and the audit chain across a reopen', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'verity-pglite-'));
    try {
      const first = await createStore(await createPgliteDatabase({ dataDir }));
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
});
