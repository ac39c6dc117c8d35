/** Recognizes PostgreSQL error conditions by SQLSTATE, identically for both drivers. */

/** SQLSTATE codes the repositories react to (PostgreSQL appendix A). */
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';
/**
 * Text PostgreSQL cannot hold: NUL in text (22021) or in jsonb (22P05), and unpaired UTF-16
 * surrogates, which JSON.stringify escapes and jsonb then refuses (22P02).
 */
const UNSTORABLE_TEXT = new Set(['22021', '22P05', '22P02']);

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

/** True when a value was refused because it holds characters PostgreSQL cannot store. */
export function isUnstorableText(error: unknown): boolean {
  const { code } = fieldsOf(error);
  return typeof code === 'string' && UNSTORABLE_TEXT.has(code);
}

/** Explains {@link isUnstorableText} errors in client-safe words. */
export const UNSTORABLE_TEXT_MESSAGE = 'contains characters the store cannot hold (NUL, or an unpaired UTF-16 surrogate)';
