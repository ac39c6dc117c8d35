// @ts-check
/**
 * The thread that chains and writes audit records for postgres-driver.ts: canonical JSON, the
 * SHA-256 chain and the inserts (audit-append.mjs) run here, on a connection of its own, never
 * on the server's thread. Appends run one at a time, in the order they arrive; each tenant's
 * records in one transaction under its chain-head lock, which also orders them against other
 * replicas. Plain JavaScript, so it starts without a TypeScript loader.
 *
 * workerData: {clientConfig} (the driver's `pg` client settings: URL, connect and query timeouts).
 * In:  {id, op: 'append', records, skipExisting} | {id, op: 'close'}
 * Out: {type: 'ready'} | {id, ok: true} | {id, ok: false, error} — an error whose connection
 *      failed (or may have committed) carries `storeUnavailable: true`; the driver makes it
 *      ERR_STORE_UNAVAILABLE, as its own transactions do.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { TENANT_NOT_FOUND, appendAuditRecords } from './audit-append.mjs';
import { serializeError } from './worker-wire.mjs';

if (parentPort === null) throw new Error('postgres-audit-worker.mjs runs only as a worker thread');
const port = parentPort;
/** @type {pg.ClientConfig} */
const clientConfig = workerData.clientConfig;

/**
 * As postgres-faults.ts isConnectionError: socket errors, timeouts, SQLSTATE class 08 and 57P
 * are the connection's; SQL errors, programmer errors and an unknown tenant are not.
 * @param {unknown} error
 */
function isConnectionError(error) {
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    return code.startsWith('08') || code.startsWith('57P');
  }
  if (/** @type {{ code?: unknown }} */ (error)?.code === TENANT_NOT_FOUND) return false;
  return error instanceof Error && !(error instanceof TypeError) && !(error instanceof RangeError);
}

/**
 * The connection and its first fault (it is then cut and a later append opens another).
 * @type {{ client: pg.Client, failure: unknown } | null}
 */
let connection = null;

async function connect() {
  if (connection !== null) return connection;
  const client = new pg.Client(clientConfig);
  /** @type {{ client: pg.Client, failure: unknown }} */
  const current = { client, failure: undefined };
  // Never an unhandled 'error' event: a fault marks the connection, which is then cut.
  client.on('error', (error) => (current.failure ??= error));
  try {
    await client.connect();
  } catch (error) {
    cut(current);
    throw error;
  }
  connection = current;
  return current;
}

/**
 * Close a connection's socket now, without the goodbye a dead or paused link would never answer.
 * @param {{ client: pg.Client }} current
 */
function cut(current) {
  if (connection === current) connection = null;
  /** @type {{ connection?: { stream?: { destroy(): void } } }} */ (/** @type {unknown} */ (current.client)).connection?.stream?.destroy();
}

/**
 * One transaction on the connection: BEGIN, `work`, COMMIT (ROLLBACK when `work` throws).
 * @param {(tx: { query(sql: string, params?: unknown[]): Promise<{ rows: any[] }> }) => Promise<void>} work
 */
async function transaction(work) {
  const current = await connect();
  /** @param {string} sql @param {unknown[]} [params] */
  const query = async (sql, params) => {
    // A connection that failed (a timed-out query may still be running on it) takes no more.
    if (current.failure !== undefined) throw current.failure;
    try {
      return { rows: (await current.client.query(sql, params)).rows };
    } catch (error) {
      if (isConnectionError(error)) current.failure ??= error;
      throw error;
    }
  };
  try {
    await query('BEGIN');
    await work({ query });
    await query('COMMIT');
  } catch (error) {
    if (current.failure === undefined) await current.client.query('ROLLBACK').catch((rollbackError) => (current.failure ??= rollbackError));
    // A transaction whose connection failed did not commit (or, failing in COMMIT, may have).
    if (current.failure !== undefined) {
      cut(current);
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { storeUnavailable: true });
    }
    throw error;
  }
}

/** Appends in arrival order, one at a time (one connection). */
let queue = Promise.resolve();

/** @param {{ id: number, op: string, records?: any[], skipExisting?: boolean }} message */
function handle(message) {
  const { id } = message;
  /** @param {() => Promise<void>} work */
  const answer = (work) => {
    const done = queue.then(work);
    queue = done.catch(() => {});
    done.then(
      () => port.postMessage({ id, ok: true }),
      (error) => port.postMessage({ id, ok: false, error: serializeError(error, isConnectionError(error) ? { storeUnavailable: true } : {}) }),
    );
  };
  switch (message.op) {
    case 'append':
      return answer(() => appendAuditRecords(transaction, message.records ?? [], message.skipExisting === true));
    case 'close':
      return answer(async () => {
        const current = connection;
        if (current === null) return;
        connection = null;
        await current.client.end().catch(() => {});
      });
    default:
      return answer(() => Promise.reject(new TypeError(`unknown operation ${message.op}`)));
  }
}

port.on('message', handle);
port.postMessage({ type: 'ready' });
