// @ts-check
/**
 * The thread that holds PGlite instances for pglite-worker-driver.ts. PGlite runs PostgreSQL
 * in Wasm synchronously: here, a long query (or opening a data folder) holds this thread, never
 * the server's event loop. It answers the driver's messages and decides nothing itself.
 * Plain JavaScript (as core's cedar-worker.mjs) so it starts without a TypeScript loader.
 *
 * One thread may hold several instances (the in-memory ones of a process share one, whose
 * Wasm and JIT stay warm and which restores each new database from a fresh copy it keeps).
 *
 * In:  {id, op: 'open', db, dataDir} | {id, op: 'query', db, sql, params, tx?} | {id, op: 'begin', db}
 *      | {id, op: 'end', tx, commit} | {id, op: 'listen', db, channel} | {id, op: 'unlisten', listener}
 *      | {id, op: 'auditAppend', db, records, skipExisting} | {id, op: 'close', db}
 * Out: {type: 'ready'} | {id, ok: true, value} | {id, ok: false, error} | {type: 'notify', listener, payload}
 */
import { access, readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { appendAuditRecords } from './audit-append.mjs';
import { serializeError } from './worker-wire.mjs';

if (parentPort === null) throw new Error('pglite-worker.mjs runs only as a worker thread');
const port = parentPort;

/** Thrown inside a transaction callback to make PGlite roll it back. */
const ROLLBACK = Symbol('rollback');

/** Open instances by the driver's database id. @type {Map<number, PGlite>} */
const instances = new Map();

/**
 * Each database's audit chain heads as this thread last wrote them (audit-append.mjs): every
 * append runs here, so the next is one checked statement. Forgotten with the database.
 * @type {Map<number, import('./audit-append.mjs').AuditHeads>}
 */
const auditHeads = new Map();

/**
 * @param {number} db
 * @param {PGlite} pglite
 */
function knownHeads(db, pglite) {
  let known = auditHeads.get(db);
  if (known === undefined) {
    known = { query: (sql, params) => pglite.query(sql, params), heads: new Map() };
    auditHeads.set(db, known);
  }
  return known;
}
let nextId = 1;

/**
 * The data folder of a just-initialized in-memory database (a tar): later in-memory databases
 * restore it instead of running initdb (seconds of Wasm). @type {Promise<Blob> | undefined}
 */
let fresh;

/**
 * The copy made once for many processes that VERITY_PGLITE_FRESH_COPY names (PGLITE_FRESH_COPY_ENV
 * in pglite-driver.ts), read once; undefined when it is not set.
 * @type {{ file: string, blob: Promise<Blob> } | undefined}
 */
let fromEnv;

function freshCopyFromEnv() {
  const file = process.env.VERITY_PGLITE_FRESH_COPY;
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

/** @param {string | null} dataDir */
async function open(dataDir) {
  const copy = freshCopyFromEnv();
  if (dataDir !== null) {
    // A new folder starts from the copy when there is one (no initdb); an existing one opens as it is.
    const initialized = await access(`${dataDir.replace(/\/+$/, '')}/PG_VERSION`).then(
      () => true,
      () => false,
    );
    return PGlite.create(dataDir, copy === undefined || initialized ? {} : { loadDataDir: await copy });
  }
  if (fresh === undefined && copy !== undefined) {
    fresh = copy;
    copy.catch(() => {
      if (fresh === copy) fresh = undefined;
    });
  }
  if (fresh === undefined) {
    const first = PGlite.create();
    fresh = first.then((pglite) => pglite.dumpDataDir('none'));
    fresh.catch(() => (fresh = undefined));
    const pglite = await first;
    await fresh;
    return pglite;
  }
  return PGlite.create({ loadDataDir: await fresh });
}

/** @param {number | undefined} db */
function instance(db) {
  const pglite = instances.get(/** @type {number} */ (db));
  if (pglite === undefined) throw new Error('the database is closed');
  return pglite;
}
/** Open transactions: their query handle and how to end them. @type {Map<number, { tx: import('@electric-sql/pglite').Transaction, end: (commit: boolean) => void }>} */
const transactions = new Map();
/** The `end` message waiting for each transaction's outcome. @type {Map<number, number>} */
const ending = new Map();
/** @type {Map<number, () => Promise<void>>} */
const listeners = new Map();

/**
 * @param {number} id
 * @param {() => Promise<unknown>} work
 */
function answer(id, work) {
  work().then(
    (value) => port.postMessage({ id, ok: true, value }),
    (error) => port.postMessage({ id, ok: false, error: serializeError(error) }),
  );
}

/** @param {{ id: number, op: string, db?: number, dataDir?: string | null, sql?: string, params?: unknown[], tx?: number, commit?: boolean, channel?: string, listener?: number, records?: unknown[], skipExisting?: boolean }} message */
function handle(message) {
  const { id } = message;
  switch (message.op) {
    case 'open':
      return answer(id, async () => void instances.set(/** @type {number} */ (message.db), await open(message.dataDir ?? null)));
    case 'query': {
      if (message.tx === undefined) return answer(id, async () => (await instance(message.db).query(/** @type {string} */ (message.sql), message.params)).rows);
      const target = transactions.get(message.tx)?.tx;
      if (target === undefined) return answer(id, () => Promise.reject(new Error('the transaction has ended')));
      return answer(id, async () => (await target.query(/** @type {string} */ (message.sql), message.params)).rows);
    }
    case 'begin': {
      const txId = nextId++;
      let begun = false;
      // PGlite serializes transactions and queries itself: this transaction holds the instance
      // until the driver says how it ends, exactly as with PGlite on the caller's thread.
      Promise.resolve()
        .then(() =>
          instance(message.db).transaction(async (tx) => {
            /** @type {Promise<boolean>} */
            const ended = new Promise((end) => transactions.set(txId, { tx, end }));
            begun = true;
            port.postMessage({ id, ok: true, value: txId });
            const commit = await ended;
            if (!commit) throw ROLLBACK;
          }),
        )
        .then(
          () => settle(txId, null),
          (error) => {
            // Failed before it began (BEGIN itself): the begin message gets the error.
            if (!begun) port.postMessage({ id, ok: false, error: serializeError(error) });
            else settle(txId, error === ROLLBACK ? null : error);
          },
        );
      return undefined;
    }
    case 'end': {
      const transaction = transactions.get(/** @type {number} */ (message.tx));
      if (transaction === undefined) return answer(id, () => Promise.reject(new Error('the transaction has ended')));
      ending.set(/** @type {number} */ (message.tx), id);
      transaction.end(message.commit === true);
      return undefined;
    }
    case 'auditAppend':
      // The audit chain is hashed and written here, off the server's thread (audit-append.mjs):
      // the caller posts one message per batch. PGlite's own queue orders it with the
      // driver's transactions.
      return answer(id, async () => {
        const pglite = instance(message.db);
        await appendAuditRecords((work) => pglite.transaction((tx) => work(tx)), /** @type {any[]} */ (message.records), message.skipExisting === true, knownHeads(/** @type {number} */ (message.db), pglite));
      });
    case 'listen':
      return answer(id, async () => {
        const listenerId = nextId++;
        const unsubscribe = await instance(message.db).listen(/** @type {string} */ (message.channel), (payload) => port.postMessage({ type: 'notify', listener: listenerId, payload }));
        listeners.set(listenerId, unsubscribe);
        return listenerId;
      });
    case 'unlisten':
      return answer(id, async () => {
        const unsubscribe = listeners.get(/** @type {number} */ (message.listener));
        listeners.delete(/** @type {number} */ (message.listener));
        await unsubscribe?.();
      });
    case 'close':
      return answer(id, async () => {
        const pglite = instances.get(/** @type {number} */ (message.db));
        instances.delete(/** @type {number} */ (message.db));
        auditHeads.delete(/** @type {number} */ (message.db));
        await pglite?.close();
      });
    default:
      return answer(id, () => Promise.reject(new Error(`unknown operation ${message.op}`)));
  }
}

/**
 * @param {number} txId
 * @param {unknown} error
 */
function settle(txId, error) {
  transactions.delete(txId);
  const id = ending.get(txId);
  ending.delete(txId);
  if (id !== undefined) port.postMessage(error === null ? { id, ok: true } : { id, ok: false, error: serializeError(error) });
}

port.on('message', handle);
port.postMessage({ type: 'ready' });
