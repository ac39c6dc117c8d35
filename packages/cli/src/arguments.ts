/** Parsers for flag and argument values; each failure is a usage error (exit 2). */
import { isPlainObject, parseEntityUid } from '@verity/core';
import type { EntityUid } from '@verity/core';
import { usageError } from './errors.js';

/** A positive integer (version number, limit), or a usage error naming `what`. */
export function parsePositiveInt(text: string, what: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw usageError(`${what} must be a positive integer, got '${text}'`);
  return Number(text);
}

/** `Type:id` or `Type::"id"` (the type may be namespaced, `App::User:alice`). */
export function parseUidFlag(text: string | undefined, flag: string): EntityUid {
  if (text === undefined) throw usageError(`--${flag} is required (type:id)`);
  const uid = parseEntityUid(text);
  if (uid === null) throw usageError(`--${flag} must be type:id or Type::"id", got '${text}'`);
  return uid;
}

/** A JSON object given on the command line (`--context '{"ip":"10.0.0.1"}'`). */
export function parseJsonObjectFlag(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usageError(`--${flag} must be a JSON object`);
  }
  if (!isPlainObject(value)) throw usageError(`--${flag} must be a JSON object`);
  return value;
}
