/** The server driver: PostgreSQL through a `pg` connection pool. */
import pg from 'pg';
import { VerityError } from '@verity/core';
import type { Database, Listener, SqlClient } from './types.js';

/** Options of {@link createPostgresDatabase}. */
export interface CreatePostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database`. Never logged. */
  connectionString: string;
  /** Maximum pool size (default 10). */
  max?: number;
}

/**
 * Connect a `pg` pool behind the {@link Database} port. `transaction` holds one pooled client
 * for its whole duration (BEGIN … COMMIT, ROLLBACK when `fn` throws). Failures to reach the
 * server become VerityError ERR_STORE_UNAVAILABLE; SQL errors pass through with their SQLSTATE.
 *
 * @example
 * const db = await createPostgresDatabase({ connectionString: process.env.DATABASE_URL! });
 */
export async function createPostgresDatabase(options: CreatePostgresDatabaseOptions): Promise<Database> {
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new TypeError('createPostgresDatabase: connectionString is required');
  }
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 10 });
  // An idle client losing its connection emits 'error' on the pool; without a listener that
  // would crash the process. The pool discards that client and the next query reconnects.
  pool.on('error', () => {});
  return {
    kind: 'postgres',
    query: toSqlClient(pool).query,
    async transaction(fn) {
      const client = await pool.connect().catch((error: unknown) => {
        throw unavailable(error);
      });
      const tx = toSqlClient(client);
      let broken: Error | undefined;
      try {
        await tx.query('BEGIN');
        const result = await fn(tx);
        await tx.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      } finally {
        // Passing an error destroys the client instead of returning a connection in an unknown state.
        client.release(broken);
      }
    },
    listen: (channel, onPayload) => listen(options.connectionString, channel, onPayload),
    close: () => pool.end(),
  };
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). When it
 * drops, or `reset()` is called, it reconnects with backoff and reports an empty payload, so
 * the listener can treat "notifications may have been missed" like "everything changed".
 */
async function listen(connectionString: string, channel: string, onPayload: (payload: string) => void): Promise<Listener> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new TypeError(`listen: invalid channel name "${channel}"`);
  let client: pg.Client | null = null;
  let stopped = false;
  let reconnecting = false;
  let delay = 100;
  // A dropped client's late 'error' must not start another reconnect (two listening connections).
  const dropped = new WeakSet<pg.Client>();
  const drop = (target: pg.Client): void => {
    if (client === target) client = null;
    dropped.add(target);
    target.removeAllListeners('notification');
    // A blackholed socket never finishes a graceful end: destroy it.
    (target as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    target.end().catch(() => {});
  };
  const scheduleReconnect = (): void => {
    if (stopped || reconnecting) return;
    reconnecting = true;
    setTimeout(() => void reconnect(), delay).unref();
    delay = Math.min(delay * 2, 5000);
  };
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
    next.on('notification', (message) => {
      if (message.channel === channel) onPayload(message.payload ?? '');
    });
    next.on('error', () => {
      if (dropped.has(next)) return;
      drop(next);
      scheduleReconnect();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (error) {
      drop(next);
      throw error;
    }
    if (stopped) return drop(next);
    client = next;
    delay = 100;
  };
  const reconnect = async (): Promise<void> => {
    reconnecting = false;
    if (stopped) return;
    try {
      await connect();
      onPayload('');
    } catch {
      scheduleReconnect();
    }
  };
  await connect().catch((error: unknown) => {
    throw unavailable(error);
  });
  return {
    async notify(payload) {
      const current = client;
      if (current === null) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the change listener is reconnecting');
      await current.query('SELECT pg_notify($1, $2)', [channel, payload]).catch((error: unknown) => {
        throw mapConnectionError(error);
      });
    },
    reset() {
      if (stopped) return;
      if (client !== null) drop(client);
      scheduleReconnect();
    },
    async close() {
      stopped = true;
      const current = client;
      client = null;
      if (current !== null) drop(current);
    },
  };
}

function toSqlClient(target: pg.Pool | pg.PoolClient): SqlClient {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      try {
        const result = await target.query(sql, params === undefined ? undefined : [...params]);
        return { rows: result.rows as R[] };
      } catch (error) {
        throw mapConnectionError(error);
      }
    },
  };
}

/**
 * Connection-level failures: socket errors (ECONNREFUSED, ECONNRESET, …), SQLSTATE class 08
 * (connection exception) and 57P (operator intervention: shutdown, crash recovery).
 */
function isConnectionError(error: unknown): boolean {
  if (error instanceof VerityError) return false;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return /^E[A-Z]+$|^EAI_/.test(code) || code.startsWith('08') || code.startsWith('57P');
  return error instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(error.message);
}

function mapConnectionError(error: unknown): unknown {
  return isConnectionError(error) ? unavailable(error) : error;
}

function unavailable(error: unknown): VerityError {
  return new VerityError('ERR_STORE_UNAVAILABLE', 'the PostgreSQL store is unavailable', { cause: error });
}
