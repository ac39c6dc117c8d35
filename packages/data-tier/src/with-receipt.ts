/**
 * Running application queries in a transaction bound to a receipt, for `pg` and PGlite. The
 * binding is transaction-local (`verity.bind` uses `set_config(…, true)`, the role is `SET
 * LOCAL`): nothing outlives the transaction, so a pooled connection hands nothing to its next
 * user. Nor does the transaction start with what an earlier user of the connection left behind:
 * settings and role are reset to the connection's own, temporary objects dropped and prepared
 * statements deallocated first, so nothing left on the connection (a temporary table, a
 * `search_path`, a `SET ROLE`, a re-prepared statement) can stand in for the application's own
 * inside the next bound transaction. The callback's client is a lease: it cannot be changed or
 * released, and it runs nothing once the callback is over. This guards against a handler that
 * keeps or misuses the client by mistake; code that is compromised inside the process holds the
 * pool and every receipt that passes through it, and no library can fence it in.
 */
import { quoteIdentifier, type SqlClient } from './sql-client.js';

export interface WithReceiptOptions {
  /**
   * Run the transaction as this role (`SET LOCAL ROLE`, quoted): for a connection that logs in
   * as a role allowed to become the app role. Omit when the connection is the app role.
   */
  role?: string;
}

/** A pg `PoolClient`-like connection checked out of a pool: `release(err)` destroys it. */
export interface ReceiptPoolClient extends SqlClient {
  release(destroy?: Error | boolean): void;
  /** pg emits `error` when a checked-out connection dies; unheard, it would crash the process. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

/** A pg `Pool`-like: `connect()` checks out a client; told from a client by `totalCount`. */
export interface ReceiptPool<C extends ReceiptPoolClient = ReceiptPoolClient> {
  connect(): Promise<C>;
  readonly totalCount: number;
}

/** A PGlite instance (or anything with PGlite's `transaction`). */
export interface ReceiptTransactor<Tx extends SqlClient = SqlClient> {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/**
 * Run `fn` in a transaction bound to `receipt` (a compact JWS from the PDP): BEGIN, optional
 * `SET LOCAL ROLE`, `SELECT verity.bind($1)`, `fn(client)`, COMMIT. With a pool, a client is
 * checked out and released afterwards; when ROLLBACK fails too, it is released destroyed so a
 * connection in an unknown state never goes back. With a client (not in a transaction), it is
 * used as is and not released.
 *
 * The callback gets the client as {@link ReceiptPoolClient}; annotate its parameter
 * (`(client: pg.PoolClient) => …`) for the driver's own type.
 *
 * @returns what `fn` resolves to.
 * @throws the error of `fn`, or of the database: an invalid receipt fails `verity.bind` with
 *   SQLSTATE 28000, message `verity: receipt rejected: <reason>`.
 * @example
 * const orders = await withReceipt(pool, decision.receipt, (client) =>
 *   client.query('SELECT id, item FROM orders ORDER BY id'));
 */
export async function withReceipt<T, C extends ReceiptPoolClient = ReceiptPoolClient>(
  pool: ReceiptPool<C> | SqlClient,
  receipt: string,
  fn: (client: C) => Promise<T>,
  options: WithReceiptOptions = {},
): Promise<T> {
  const role = options.role === undefined ? undefined : quoteIdentifier(options.role);
  if (!isPool(pool)) return runBound(pool as C, receipt, fn, role);
  const client = await pool.connect();
  let broken: Error | undefined;
  const markBroken = (error: Error) => {
    broken ??= error;
  };
  client.on?.('error', markBroken);
  const lease = leaseOf(client);
  try {
    return await runBound(client, receipt, () => fn(lease.view), role, markBroken);
  } finally {
    lease.end();
    client.off?.('error', markBroken);
    client.release(broken ?? false);
  }
}

/**
 * The client as the callback sees it: the same client, except that it cannot release itself,
 * and that once the callback is over every query fails. A handler that kept it (a late timer, a
 * forgotten promise) would otherwise run its queries in the next borrower's transaction, bound to
 * the next receipt.
 */
function leaseOf<C extends ReceiptPoolClient>(client: C): { view: C; end(): void } {
  let over = false;
  const refused = (what: string) => new Error(`withReceipt: ${what}`);
  const afterward = () => refused('this client was lent for one callback, which is over; it may be serving another receipt now');
  const view = new Proxy(client, {
    get(target, property) {
      if (property === 'release') {
        return () => {
          throw refused('the client is released by withReceipt, not by the callback');
        };
      }
      // The wire connection underneath would run statements past every check here.
      if (property === 'connection') throw refused('the raw connection of a lent client is not available');
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      // Checked when called, not when read: `const { query } = client` kept for later fails too.
      return (...args: unknown[]) => {
        if (over) {
          if (property === 'query') return Promise.reject(afterward());
          throw afterward();
        }
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
    // Nor may the callback plant anything on the client for its next borrower (a replaced method).
    set() {
      throw refused('a lent client cannot be changed');
    },
    defineProperty() {
      throw refused('a lent client cannot be changed');
    },
    deleteProperty() {
      throw refused('a lent client cannot be changed');
    },
  });
  return { view, end: () => void (over = true) };
}

/**
 * Run `fn` in a PGlite transaction bound to `receipt`; see {@link withReceipt}. PGlite runs as
 * its superuser, which row-level security does not bind: pass `options.role` (an app role) for
 * the policies to apply.
 *
 * @throws as {@link withReceipt}.
 */
export async function withPGliteReceipt<T, Tx extends SqlClient>(
  db: ReceiptTransactor<Tx>,
  receipt: string,
  fn: (tx: Tx) => Promise<T>,
  options: WithReceiptOptions = {},
): Promise<T> {
  const role = options.role === undefined ? undefined : quoteIdentifier(options.role);
  return db.transaction(async (tx) => {
    // PGlite's query() is one statement (extended protocol); in-process, a call is cheap.
    for (const statement of FRESH_SESSION) await tx.query(statement);
    if (role !== undefined) await tx.query(`SET LOCAL ROLE ${role}`);
    await tx.query('SELECT verity.bind($1)', [receipt]);
    return fn(tx);
  });
}

// pg.Client has connect() too (it connects itself); only a pool counts its clients.
function isPool(candidate: object): candidate is ReceiptPool<ReceiptPoolClient> {
  return typeof (candidate as Partial<ReceiptPool>).connect === 'function' && typeof (candidate as Partial<ReceiptPool>).totalCount === 'number';
}

/**
 * What every bound transaction starts with: the session as the connection made it. Settings
 * back to the connection's own (its startup options and role/database defaults), the role too
 * (`RESET ALL` leaves `SET ROLE` alone), no temporary objects, no prepared statements (one the
 * previous user re-prepared under a name the application uses would otherwise run in its
 * place). All are allowed in a transaction, unlike `DISCARD ALL`.
 */
const FRESH_SESSION = ['RESET ALL', 'RESET ROLE', 'DISCARD TEMP', 'DEALLOCATE ALL'];

/**
 * node-postgres remembers which named statements it prepared on a connection and does not
 * prepare them again; after `DEALLOCATE ALL` it must forget them too. Other clients: nothing
 * to forget.
 */
function forgetPreparedStatements(client: object): void {
  const connection = (client as { connection?: { parsedStatements?: Record<string, unknown> } }).connection;
  const parsed = connection?.parsedStatements;
  if (parsed !== undefined && parsed !== null && typeof parsed === 'object') for (const name of Object.keys(parsed)) delete parsed[name];
}

async function runBound<T, C extends SqlClient>(client: C, receipt: string, fn: (client: C) => Promise<T>, role: string | undefined, onBroken?: (error: Error) => void): Promise<T> {
  // One round trip (the simple query protocol takes several statements).
  await client.query(['BEGIN', ...FRESH_SESSION].join('; '));
  forgetPreparedStatements(client);
  try {
    if (role !== undefined) await client.query(`SET LOCAL ROLE ${role}`);
    await client.query('SELECT verity.bind($1)', [receipt]);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      onBroken?.(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)));
    }
    throw error;
  }
}
