/** Canonical JSON (sorted keys, no whitespace) so that equal values hash equally. */
import { createHash } from 'node:crypto';

/** Serialize `value` with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  // A Long beyond 2^53 (see json.ts) is written as the JSON number it is.
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  // Default sort compares UTF-16 code units: the same order on every platform.
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/** sha256 of the canonical JSON of `value`, hex. */
export function hashCanonical(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
