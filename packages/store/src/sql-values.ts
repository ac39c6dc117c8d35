/** Normalizes values the PGlite and `pg` drivers decode differently, so both return identical JS values. */
import { parseJson, stringifyJson } from '@verity/core';

/**
 * A bigint/int column as a JS number. `pg` returns int8 as a string, PGlite as a number
 * (or a bigint beyond 2^53), so every count, seq and version goes through here.
 */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' || typeof value === 'string') return Number(value);
  throw new TypeError(`expected a numeric column value, got ${typeof value}`);
}

/** A timestamptz column as an ISO-8601 string (millisecond precision, UTC). */
export function toIsoTime(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return new Date(value).toISOString();
  throw new TypeError(`expected a timestamp column value, got ${typeof value}`);
}

/** A nullable timestamptz column as an ISO string or null. */
export function toIsoTimeOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : toIsoTime(value);
}

/**
 * A json/jsonb column as a JS value. Both drivers parse jsonb by default, with JSON.parse, which
 * rounds integers beyond 2^53: columns that can hold Cedar values (entity attributes and tags)
 * are selected as `::text` and parsed here exactly (such integers become bigint).
 */
export function fromJson<T>(value: unknown): T {
  return (typeof value === 'string' ? parseJson(value) : value) as T;
}

/**
 * A JS value as a jsonb parameter. Always pass JSON text and cast with `$n::jsonb`: `pg`
 * would turn a JS array into a Postgres array literal, and PGlite passes strings through as-is.
 * bigint values are written digit for digit (jsonb keeps them exactly).
 */
export function toJsonParam(value: unknown): string {
  return stringifyJson(value);
}

/** The single row a `RETURNING` statement produced. */
export function firstRow<R>(rows: readonly R[]): R {
  const row = rows[0];
  if (row === undefined) throw new Error('expected the statement to return a row');
  return row;
}
