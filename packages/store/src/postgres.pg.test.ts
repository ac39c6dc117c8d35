/** Runs the store conformance suite on PostgreSQL, each test in its own freshly created database. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from './postgres-driver.js';
import { createStore } from './store.js';
import { describeStoreConformance } from '../test/store-conformance.js';
import type { Database } from './types.js';

const adminUrl = process.env.VERITY_TEST_DATABASE_URL;
if (adminUrl === undefined || adminUrl === '') {
  throw new Error('VERITY_TEST_DATABASE_URL is not set: point it at a PostgreSQL database whose user may CREATE DATABASE (e.g. postgres://postgres@127.0.0.1:5432/test)');
}

const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
const created: string[] = [];

/** A new empty database on the same server, dropped after the run. */
async function makeDatabase(): Promise<Database> {
  const name = `verity_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(adminUrl as string);
  url.pathname = `/${name}`;
  return createPostgresDatabase({ connectionString: url.toString(), max: 8 });
}

// One database per test (about 50): each DROP DATABASE checkpoints, which takes seconds on a
// loaded machine, so the drops run two at a time (the admin pool's size) with room to finish.
afterAll(async () => {
  await Promise.all(created.map((name) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  await admin.end();
}, 180_000);

describeStoreConformance('postgres', makeDatabase);

describe('postgres driver', () => {
  it('rolls back a failed transaction and keeps the pool usable', async () => {
    const store = await createStore(await makeDatabase());
    try {
      await expect(
        store.db.transaction(async (tx) => {
          await tx.query("INSERT INTO tenants (id, name) VALUES ('t', 'T')");
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await store.tenants.get('t')).toBeNull();
      expect(store.db.kind).toBe('postgres');
    } finally {
      await store.close();
    }
  });

  it('reports an unreachable server as ERR_STORE_UNAVAILABLE', async () => {
    const db = await createPostgresDatabase({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(db.transaction(async (tx) => tx.query('SELECT 1'))).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    } finally {
      await db.close();
    }
  });
});
