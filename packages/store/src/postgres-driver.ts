/** The server driver: PostgreSQL through a `pg` connection pool. */
import pg from 'pg';
import { asError, destroyClient, isConnectionError, isUnavailable, unavailable, waitAtMost } from './postgres-faults.js';
import { listenPostgres } from './postgres-listener.js';
import type { Database, SqlClient } from './types.js';
import { startWorkerHost, type WorkerHost } from './worker-host.js';

/** Options of {@link createPostgresDatabase}. */
export interface CreatePostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database`. Never logged. */
  connectionString: string;
  /** Maximum pool size (default 10). */
  max?: number;
  /**
   * Milliseconds (default 5000) allowed to open a connection and, separately, for each query's
   * answer; past it the call fails with ERR_STORE_UNAVAILABLE and that connection is closed,
   * never reused. Also bounds `close()`. Measured on the client: a paused network is caught too.
   */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Connect a `pg` pool behind the {@link Database} port. `transaction` holds one pooled client
 * for its whole duration (BEGIN … COMMIT, ROLLBACK when `fn` throws). Connection-level faults
 * (unreachable, reset, terminated, timed out) become VerityError ERR_STORE_UNAVAILABLE and
 * never reach the process as an unhandled 'error' event; the connection that saw one is
 * destroyed, and later calls open fresh ones. SQL errors pass through with their SQLSTATE.
 *
 * @example
 * const db = await createPostgresDatabase({ connectionString: process.env.DATABASE_URL!, timeoutMs: 5000 });
 */
export async function createPostgresDatabase(options: CreatePostgresDatabaseOptions): Promise<Database> {
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new TypeError('createPostgresDatabase: connectionString is required');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('createPostgresDatabase: timeoutMs must be a positive integer (milliseconds)');
  const clientConfig: pg.ClientConfig = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: timeoutMs,
    // Client-side, unlike statement_timeout: it also fires when the server or the link is gone.
    query_timeout: timeoutMs,
    keepAlive: true,
  };
  const pool = new pg.Pool({ ...clientConfig, max: options.max ?? 10 });
  // An idle client losing its connection emits 'error' on the pool; the pool discards that
  // client and the next query opens another. Checked-out clients get a listener of their own.
  pool.on('error', () => {});
  // Every client the pool holds, so that close() can cut the ones whose goodbye is not answered.
  const clients = new Set<pg.Client>();
  pool.on('connect', (client) => clients.add(client));
  pool.on('remove', (client) => clients.delete(client));
  const audit = createAuditThread(clientConfig, timeoutMs);
  return {
    kind: 'postgres',
    async query(sql, params) {
      const lease = await checkOut(pool);
      try {
        return await lease.sql.query(sql, params);
      } finally {
        lease.release();
      }
    },
    async transaction(fn) {
      const lease = await checkOut(pool);
      try {
        await lease.sql.query('BEGIN');
        const result = await fn(lease.sql);
        await lease.sql.query('COMMIT');
        return result;
      } catch (error) {
        if (lease.failure() === undefined) await lease.sql.query('ROLLBACK').catch((rollbackError: unknown) => lease.fail(rollbackError));
        // A transaction whose connection failed did not commit (or, failing in COMMIT, may
        // have): whatever `fn` made of the fault, the caller learns the store was unavailable.
        const failure = lease.failure();
        throw failure === undefined || isUnavailable(error) ? error : unavailable(failure);
      } finally {
        lease.release();
      }
    },
    listen: (channel, onPayload) => listenPostgres({ clientConfig, timeoutMs, channel, onPayload }),
    appendAudit: audit.append,
    async close() {
      await Promise.all([waitAtMost(pool.end(), timeoutMs), audit.close()]);
      // A client ending over a paused link waits for an answer that never comes.
      for (const client of clients) destroyClient(client);
      clients.clear();
    },
  };
}

/** A pooled client while checked out: its queries, its first connection fault, and its return. */
interface Lease {
  sql: SqlClient;
  /** The connection fault this client saw, if any (it is then destroyed on release). */
  failure(): Error | undefined;
  /** Mark the client as not reusable. */
  fail(error: unknown): void;
  release(): void;
}

async function checkOut(pool: pg.Pool): Promise<Lease> {
  return new Promise((resolve, reject) => {
    // The callback form: the pool calls it synchronously when it hands the client over, so the
    // client is never without an 'error' listener (with the promise form, one tick is).
    pool.connect((error, client, done) => {
      if (error || client === undefined) return reject(unavailable(error));
      let failure: Error | undefined;
      const fail = (cause: unknown): void => {
        failure ??= asError(cause);
      };
      client.on('error', fail);
      resolve({
        sql: {
          async query<R>(sql: string, params?: readonly unknown[]) {
            // A client that failed (a timed-out query may still be running on it) takes no more.
            if (failure !== undefined) throw unavailable(failure);
            try {
              const result = await client.query(sql, params === undefined ? undefined : [...params]);
              return { rows: result.rows as R[] };
            } catch (queryError) {
              if (!isConnectionError(queryError)) throw queryError;
              fail(queryError);
              throw unavailable(queryError);
            }
          },
        },
        failure: () => failure,
        fail,
        release() {
          // With an error the pool drops the client instead of handing it out again; the
          // pool's own idle listener is attached again before ours goes.
          done(failure);
          client.off('error', fail);
          // Cut it too: its goodbye would wait forever on a paused link.
          if (failure !== undefined) destroyClient(client);
        },
      });
    });
  });
}

/**
 * The audit thread (postgres-audit-worker.mjs): chains and inserts audit records on a
 * connection of its own, so canonical JSON, hashing and the inserts never run on the caller's
 * thread; a batch costs the caller one message. Started with the first append; a thread that
 * died is started again by the next one (the writer retries its batch).
 */
function createAuditThread(clientConfig: pg.ClientConfig, timeoutMs: number): { append: NonNullable<Database['appendAudit']>; close(): Promise<void> } {
  let host: Promise<WorkerHost> | null = null;
  let closed = false;
  const start = (): Promise<WorkerHost> => {
    if (host === null) {
      const starting = startWorkerHost(new URL('./postgres-audit-worker.mjs', import.meta.url), {
        name: 'verity-postgres-audit',
        workerData: { clientConfig },
        unavailable: (why, cause) => unavailable(cause ?? new Error(`the audit thread: ${why}`)),
      });
      host = starting;
      const forget = (): void => void (host === starting && (host = null));
      starting.then((started) => started.onDeath(forget), forget);
    }
    return host;
  };
  return {
    async append(records, { skipExisting }) {
      if (closed) throw unavailable(new Error('the database is closed'));
      try {
        await (await start()).call({ op: 'append', records, skipExisting });
      } catch (error) {
        // The thread's verdict: the connection failed (the batch did not commit, or may have).
        throw (error as { storeUnavailable?: unknown }).storeUnavailable === true ? unavailable(error) : error;
      }
    },
    async close() {
      closed = true;
      const running = host;
      host = null;
      if (running === null) return;
      const thread = await running.catch(() => null);
      if (thread === null) return;
      await waitAtMost(thread.call({ op: 'close' }), timeoutMs);
      await thread.stop();
    },
  };
}
