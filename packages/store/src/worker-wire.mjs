// @ts-check
/** What the store's worker threads (pglite-worker.mjs, postgres-audit-worker.mjs) send back for an error (worker-host.ts rebuilds it). */

/**
 * An error as it crosses to the main thread: its message and every primitive field (PGlite's
 * and `pg`'s DatabaseError carry SQLSTATE `code`, `constraint`, `detail`, `table`, … as fields).
 * @param {unknown} error
 * @param {Record<string, string | number | boolean>} [extra] fields to add (the thread's own verdict)
 */
export function serializeError(error, extra = {}) {
  if (!(error instanceof Error)) return { message: String(error), fields: { ...extra } };
  /** @type {Record<string, string | number | boolean>} */
  const fields = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  return { message: error.message, fields: { ...fields, ...extra } };
}
