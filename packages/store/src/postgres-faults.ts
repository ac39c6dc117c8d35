/** Connection faults of the `pg` driver: telling them from SQL errors, what callers see, cutting a connection. */
import pg from 'pg';
import { VerityError } from '@verity/core';

/**
 * True when `error`, raised by a `pg` query, says the connection is gone or can no longer be
 * trusted: socket errors (ECONNRESET, …), "Connection terminated unexpectedly", "Query read
 * timeout" (the answer may still arrive and would land on the next query), a client that is no
 * longer queryable, SQLSTATE class 08 (connection exception) and 57P (shutdown, crash
 * recovery). SQL errors (other SQLSTATEs) and programmer errors (TypeError, RangeError) are not.
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof VerityError) return false;
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    return code.startsWith('08') || code.startsWith('57P');
  }
  return error instanceof Error && !(error instanceof TypeError) && !(error instanceof RangeError);
}

/** The error callers see for any connection-level fault: VerityError ERR_STORE_UNAVAILABLE (503). */
export function unavailable(cause: unknown): VerityError {
  return new VerityError('ERR_STORE_UNAVAILABLE', 'the PostgreSQL store is unavailable', { cause });
}

export function isUnavailable(error: unknown): boolean {
  return error instanceof VerityError && error.code === 'ERR_STORE_UNAVAILABLE';
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Close a client's socket now, without the goodbye a dead or paused link would never answer. */
export function destroyClient(client: pg.Client): void {
  client.connection.stream.destroy();
}

/** Wait for `promise` (its rejection ignored), but no longer than `ms` milliseconds. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([promise.catch(() => {}), elapsed]);
  clearTimeout(timer);
}
