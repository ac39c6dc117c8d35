/** The embedded driver: PGlite (PostgreSQL compiled to WebAssembly), in memory or in a data folder. */
import { access, readFile, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { PGliteInterface } from '@electric-sql/pglite';
import type { Database, SqlClient } from './types.js';

/** Options of {@link createPgliteDatabase}. */
export interface CreatePgliteDatabaseOptions {
  /** Folder holding the database files; in memory when absent. */
  dataDir?: string;
}

/**
 * Open (creating when needed) an embedded PGlite database behind the {@link Database} port.
 * PGlite is one connection: queries and transactions run one at a time, so a query issued
 * outside `tx` while a transaction runs waits for it to finish.
 *
 * @example
 * const db = await createPgliteDatabase({ dataDir: './data' });
 * const store = await createStore(db);
 */
export async function createPgliteDatabase(options: CreatePgliteDatabaseOptions = {}): Promise<Database> {
  const copy = freshCopyFromEnv();
  if (options.dataDir !== undefined) {
    // A new folder starts from the copy when there is one (no initdb); an existing one opens as it is.
    const seed = copy !== undefined && !(await isInitialized(options.dataDir)) ? await copy : undefined;
    return wrapPglite(await PGlite.create(options.dataDir, seed === undefined ? {} : { loadDataDir: seed }));
  }
  if (fresh === undefined && copy !== undefined) {
    const fromFile = copy;
    fresh = fromFile;
    fromFile.catch(() => {
      if (fresh === fromFile) fresh = undefined;
    });
  }
  if (fresh === undefined) {
    // The first in-memory database of the process: initialize it, and keep a copy of its
    // data folder before anyone writes to it.
    const first = PGlite.create();
    fresh = first.then((pglite) => pglite.dumpDataDir('none'));
    fresh.catch(() => {
      fresh = undefined;
    });
    const pglite = await first;
    await fresh;
    return wrapPglite(pglite);
  }
  return wrapPglite(await PGlite.create({ loadDataDir: await fresh }));
}

/**
 * The data folder of a just-initialized database, kept per process. PGlite runs initdb
 * synchronously in Wasm on every plain `create()` (seconds, with the event loop blocked);
 * restoring this copy takes a fraction of that. In-memory databases only.
 */
let fresh: Promise<Blob> | undefined;

/**
 * The environment variable naming a file that holds such a copy, as
 * {@link writePgliteFreshCopy} writes it. When it is set, in-memory databases and new data
 * folders (of this driver and of the worker-thread driver, and in child processes that inherit
 * it) start from that copy and no process runs initdb for them; a folder that holds a database
 * already opens as it is. For test runs, which start a process per test file: the suite writes
 * one file per run (e2e/helpers/pglite-fresh-copy.ts). A file that cannot be read fails the open.
 */
export const PGLITE_FRESH_COPY_ENV = 'VERITY_PGLITE_FRESH_COPY';

/** The copy PGLITE_FRESH_COPY_ENV names, read once per file; undefined when it is not set. */
function freshCopyFromEnv(): Promise<Blob> | undefined {
  const file = process.env[PGLITE_FRESH_COPY_ENV];
  if (file === undefined || file === '') return undefined;
  if (fromEnv?.file !== file) {
    const blob = readFile(file).then((bytes) => new Blob([bytes]));
    fromEnv = { file, blob };
    blob.catch(() => {
      if (fromEnv?.blob === blob) fromEnv = undefined;
    });
  }
  return fromEnv.blob;
}

let fromEnv: { file: string; blob: Promise<Blob> } | undefined;

/** Whether `dataDir` holds a database already (PGlite refuses to load a copy over one). */
function isInitialized(dataDir: string): Promise<boolean> {
  return access(`${dataDir.replace(/\/+$/, '')}/PG_VERSION`).then(
    () => true,
    () => false,
  );
}

/** Write to `path` the data folder of a just-initialized, never written in-memory PGlite database (a tar). */
export async function writePgliteFreshCopy(path: string): Promise<void> {
  const pglite = await PGlite.create();
  try {
    await writeFile(path, new Uint8Array(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  } finally {
    await pglite.close();
  }
}

/**
 * Put an already open PGlite instance (for example one made with extensions, or a `clone()`)
 * behind the {@link Database} port. Closing the database closes the instance.
 */
export function wrapPglite(pglite: PGliteInterface): Database {
  return {
    kind: 'pglite',
    query: toSqlClient(pglite).query,
    transaction: (fn) => pglite.transaction((tx) => fn(toSqlClient(tx))),
    // PGlite delivers NOTIFY to listeners of the same instance: one process, so this only
    // matters for code that shares the instance, but it keeps one mechanism for both drivers.
    // Its one connection cannot drop, so there is nothing to reset.
    async listen(channel, onPayload) {
      const unlisten = await pglite.listen(channel, onPayload);
      return {
        notify: async (payload) => void (await pglite.query('SELECT pg_notify($1, $2)', [channel, payload])),
        reset: () => {},
        close: () => unlisten(),
      };
    },
    close: () => pglite.close(),
  };
}

/** The slice of PGlite's query API that both the instance and its transactions share. */
interface PgliteQueryable {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

function toSqlClient(target: PgliteQueryable): SqlClient {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      const result = await target.query<R>(sql, params === undefined ? undefined : [...params]);
      return { rows: result.rows };
    },
  };
}
