/** Converts request JSON (AuthZEN properties and context) into Cedar values. */
import { VerityError } from './errors.js';
import type { CedarValue } from './types.js';
import { setEntry } from './records.js';

const DECIMAL = /^-?\d{1,15}(\.\d{1,4})?$/;

/**
 * JSON has values Cedar does not: `null` is dropped (from records and sets) and a fractional
 * number becomes a Cedar `decimal` when it has at most four decimal places. Objects already in
 * Cedar's JSON escapes (`__entity`, `__extn`) pass through.
 */
export function toCedarValue(value: unknown, path: string): CedarValue | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  // An integer beyond 2^53, parsed exactly (see json.ts): Cedar checks its 64-bit range.
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return value;
    const text = String(value);
    if (Number.isFinite(value) && DECIMAL.test(text)) return { __extn: { fn: 'decimal', arg: text.includes('.') ? text : `${text}.0` } };
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', `${path}: the number ${text} is not a Cedar long or a decimal with at most four places`);
  }
  if (Array.isArray(value)) {
    // Not flatMap: an element that is itself a set must stay a set ([[1]] is not [1]).
    const items: CedarValue[] = [];
    value.forEach((item, i) => {
      const converted = toCedarValue(item, `${path}[${i}]`);
      if (converted !== undefined) items.push(converted);
    });
    return items;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('__entity' in record || '__extn' in record) return record as CedarValue;
    return toCedarRecord(record, path);
  }
  throw new VerityError('ERR_DECISION_INVALID_REQUEST', `${path}: unsupported value`);
}

/** Convert a JSON object into a Cedar record (see {@link toCedarValue}). */
export function toCedarRecord(record: Record<string, unknown>, path: string): Record<string, CedarValue> {
  const out: Record<string, CedarValue> = {};
  for (const [key, item] of Object.entries(record)) {
    const converted = toCedarValue(item, `${path}.${key}`);
    if (converted !== undefined) setEntry(out, key, converted);
  }
  return out;
}
