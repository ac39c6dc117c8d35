/**
 * JSON that keeps Cedar's 64-bit integers exact. `JSON.parse` rounds an integer beyond ±2^53
 * to the nearest double, which can change an equality or a comparison in a policy; here such
 * an integer becomes a `bigint`, and `bigint` values serialize back as plain JSON numbers.
 */
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';

/** A run of 16 or more digits: the only text that can hold an integer JSON.parse would round. */
const LONG_DIGITS = /\d{16}/;
const INTEGER = /^-?\d+$/;

/** A JSON number as JS: a `number`, or a `bigint` for an integer beyond Number's safe range. */
function parseNumber(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) || !INTEGER.test(text) ? value : BigInt(text);
}

/**
 * Parse JSON text. Integers outside ±(2^53 − 1) become `bigint`; everything else is exactly
 * what `JSON.parse` gives. Throws `SyntaxError` on invalid JSON (and, on the exact path, on a
 * key repeated with different values).
 */
export function parseJson(text: string): unknown {
  // The fast path is JSON.parse itself; only a text with a long digit run can need more.
  return LONG_DIGITS.test(text) ? parseLossless(text, null, parseNumber) : JSON.parse(text);
}

/** Serialize to JSON text; `bigint` values are written as JSON numbers, digit for digit. */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    // JSON.stringify refuses bigint with a TypeError; only then take the slower exact path.
    if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
    return stringifyLossless(value) as string;
  }
}
