// @ts-check
/**
 * The thread that holds a PGlite instance for pglite-worker-driver.ts. PGlite runs PostgreSQL
 * in Wasm synchronously: here, a long query (or opening a data folder) holds this thread, never
 * the server's event loop. It answers the driver's messages and decides nothing itself.
 * Plain JavaScript (as core's cedar-worker.mjs) so it starts without a TypeScript loader.
 *
 * In:  {id, op: 'query', sql, params, tx?} | {id, op: 'begin'} | {id, op: 'end', tx, commit}
 *      | {id, op: 'listen', channel} | {id, op: 'unlisten', listener} | {id, op: 'close'}
 * Out: {type: 'ready', dump?: ArrayBuffer} | {type: 'failed', error}
 *      | {id, ok: true, value} | {id, ok: false, error} | {type: 'notify', listener, payload}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

if (parentPort === null) throw new Error('pglite-worker.mjs runs only as a worker thread');
const port = parentPort;

/** @type {{ dataDir: string | null, load: ArrayBuffer | null, dump: boolean }} */
const options = workerData;

/**
 * An error as it crosses to the main thread: its message and every primitive field (PGlite's
 * DatabaseError carries SQLSTATE `code`, `constraint`, `detail`, `table`, … as fields).
 * @param {unknown} error
 */
function serializeError(error) {
  if (!(error instanceof Error)) return { message: String(error), fields: {} };
  /** @type {Record<string, string | number | boolean>} */
  const fields = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  return { message: error.message, fields };
}

/** Thrown inside a transaction callback to make PGlite roll it back. */
const ROLLBACK = Symbol('rollback');

/** @type {PGlite} */
let pglite;
let nextId = 1;
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

/** @param {{ id: number, op: string, sql?: string, params?: unknown[], tx?: number, commit?: boolean, channel?: string, listener?: number }} message */
function handle(message) {
  const { id } = message;
  switch (message.op) {
    case 'query': {
      const target = message.tx === undefined ? pglite : transactions.get(message.tx)?.tx;
      if (target === undefined) return answer(id, () => Promise.reject(new Error('the transaction has ended')));
      return answer(id, async () => (await target.query(/** @type {string} */ (message.sql), message.params)).rows);
    }
    case 'begin': {
      const txId = nextId++;
      let begun = false;
      // PGlite serializes transactions and queries itself: this transaction holds the instance
      // until the driver says how it ends, exactly as with PGlite on the caller's thread.
      pglite
        .transaction(async (tx) => {
          /** @type {Promise<boolean>} */
          const ended = new Promise((end) => transactions.set(txId, { tx, end }));
          begun = true;
          port.postMessage({ id, ok: true, value: txId });
          const commit = await ended;
          if (!commit) throw ROLLBACK;
        })
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
      const open = transactions.get(/** @type {number} */ (message.tx));
      if (open === undefined) return answer(id, () => Promise.reject(new Error('the transaction has ended')));
      ending.set(/** @type {number} */ (message.tx), id);
      open.end(message.commit === true);
      return undefined;
    }
    case 'listen':
      return answer(id, async () => {
        const listenerId = nextId++;
        const unsubscribe = await pglite.listen(/** @type {string} */ (message.channel), (payload) => port.postMessage({ type: 'notify', listener: listenerId, payload }));
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
      return answer(id, () => pglite.close());
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

try {
  pglite =
    options.dataDir !== null
      ? await PGlite.create(options.dataDir)
      : await PGlite.create(options.load === null ? {} : { loadDataDir: new Blob([options.load]) });
  // The first in-memory database of a process: hand back a copy of its just-initialized data
  // folder, so the next ones restore it instead of running initdb again.
  const dump = options.dump ? await (await pglite.dumpDataDir('none')).arrayBuffer() : undefined;
  port.on('message', handle);
  port.postMessage({ type: 'ready', dump }, dump === undefined ? [] : [dump]);
} catch (error) {
  port.postMessage({ type: 'failed', error: serializeError(error) });
}
