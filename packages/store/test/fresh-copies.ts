/** Helpers for the tests of the drivers' fresh copies of an initialized PGlite data folder. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
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

/** A database a driver opens: queries, and closing. */
interface OpenedDatabase {
  query<R>(sql: string): Promise<{ rows: R[] }>;
  close(): Promise<void>;
}

/**
 * A driver's new data folder starts from the copy PGLITE_FRESH_COPY_ENV names, and a folder that
 * holds a database already reopens as it is (not from the copy): the same check for each driver.
 */
export async function expectNewFolderFromCopyThenReopened(open: (dataDir: string) => Promise<OpenedDatabase>): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'verity-pglite-copies-'));
  try {
    const copy = join(scratch, 'marked.tar');
    await writeMarkedCopy(copy, 'from_the_copy');
    const dataDir = join(scratch, 'data');
    await withFreshCopyEnv(copy, async () => {
      const first = await open(dataDir);
      expect(await publicTables(first)).toEqual(['from_the_copy']);
      await first.query('CREATE TABLE written (id int)');
      await first.close();
      // The folder holds a database now: it opens as it is (the copy would have no "written").
      const reopened = await open(dataDir);
      try {
        expect(await publicTables(reopened)).toEqual(['from_the_copy', 'written']);
      } finally {
        await reopened.close();
      }
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
