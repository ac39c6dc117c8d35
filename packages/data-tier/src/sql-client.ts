/** The one database interface the data tier needs, which pg and PGlite both satisfy. */

/**
 * A client that runs one SQL statement with positional parameters (`$1`, `$2`, …): a pg
 * `Client`, `PoolClient` or `Pool`, a PGlite instance or a PGlite transaction.
 */
export interface SqlClient {
  // Rows are whatever the statement returns; callers read the columns they selected.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg and PGlite type rows as any/unknown by default
  query(text: string, params?: unknown[]): Promise<{ rows: any[] }>;
}

/** `"name"` with embedded quotes doubled: a PostgreSQL identifier for any role name. */
export function quoteIdentifier(name: string): string {
  if (name === '' || name.includes('\0')) throw new TypeError('a role name is a non-empty string without NUL');
  return `"${name.replaceAll('"', '""')}"`;
}
