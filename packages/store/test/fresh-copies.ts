/** Helpers for the tests of the drivers' fresh copies of an initialized PGlite data folder. */
import { readFile, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_FRESH_COPY_ENV } from '../src/pglite-driver.js';

/**
 * Write to `path` a fresh copy (the run's copy when there is one, else a new initdb) with one
 * more empty table, `marker`: a database restored from it shows where it came from.
 */
export async function writeMarkedCopy(path: string, marker: string): Promise<void> {
  const run = process.env[PGLITE_FRESH_COPY_ENV];
  const pglite = await PGlite.create(run ? { loadDataDir: new Blob([await readFile(run)]) } : {});
  try {
    await pglite.exec(`CREATE TABLE ${marker} (id int)`);
    await writeFile(path, new Uint8Array(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  } finally {
    await pglite.close();
  }
}

/** Run `fn` with PGLITE_FRESH_COPY_ENV set to `value` (unset when undefined), then put it back. */
export async function withFreshCopyEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env[PGLITE_FRESH_COPY_ENV];
  if (value === undefined) delete process.env[PGLITE_FRESH_COPY_ENV];
  else process.env[PGLITE_FRESH_COPY_ENV] = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[PGLITE_FRESH_COPY_ENV];
    else process.env[PGLITE_FRESH_COPY_ENV] = saved;
  }
}

/** The names of the tables in the public schema, sorted. */
export async function publicTables(db: { query<R>(sql: string): Promise<{ rows: R[] }> }): Promise<string[]> {
  const { rows } = await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  return rows.map((row) => row.tablename);
}
