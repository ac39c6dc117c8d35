/** Recognizes PostgreSQL error conditions by SQLSTATE, identically for both drivers. */

/** SQLSTATE codes the repositories react to (PostgreSQL appendix A). */
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

interface PgErrorFields {
  code?: unknown;
  constraint?: unknown;
}

function fieldsOf(error: unknown): PgErrorFields {
  return typeof error === 'object' && error !== null ? (error as PgErrorFields) : {};
}

/** True when `error` is a unique violation, optionally on the named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const fields = fieldsOf(error);
  return fields.code === UNIQUE_VIOLATION && (constraint === undefined || fields.constraint === constraint);
}

/** True when `error` is a foreign-key violation, optionally on the named constraint. */
export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  const fields = fieldsOf(error);
  return fields.code === FOREIGN_KEY_VIOLATION && (constraint === undefined || fields.constraint === constraint);
}
