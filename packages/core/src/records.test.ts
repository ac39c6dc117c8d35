/**
 * withEntry and mergeRecords say what `{...a, [k]: v}` and `{...a, ...b}` say: the same keys in
 * the same order, later sources winning, and an own `__proto__` key (JSON.parse makes one) kept
 * as a plain key, never the prototype setter.
 */
import { describe, expect, it } from 'vitest';
import { mergeRecords, withEntry } from './records.js';

const hostile = () => JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;

describe('withEntry', () => {
  it('copies and sets, as a spread would', () => {
    const record = { a: 1, b: 2 };
    const copy = withEntry(record, 'b', 3);
    expect(copy).toEqual({ ...record, b: 3 });
    expect(Object.keys(copy)).toEqual(['a', 'b']);
    expect(record).toEqual({ a: 1, b: 2 });
    expect(Object.keys(withEntry({ a: 1 } as Record<string, number>, 'c', 2))).toEqual(['a', 'c']);
  });

  it('keeps an own __proto__ key a plain key, from the source and as the key set', () => {
    const copy = withEntry(hostile(), 'b', 2);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(copy)).toEqual(['__proto__', 'a', 'b']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify({ ...hostile(), b: 2 }));
    const set = withEntry({ a: 1 } as Record<string, unknown>, '__proto__', { polluted: true });
    expect(Object.getPrototypeOf(set)).toBe(Object.prototype);
    expect(Object.hasOwn(set, '__proto__')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('mergeRecords', () => {
  it('merges as {...a, ...b}: the later source wins, keys in first-seen order', () => {
    const a = { x: 1, y: 2 };
    const b = { y: 3, z: 4 };
    expect(mergeRecords(a, b)).toEqual({ ...a, ...b });
    expect(Object.keys(mergeRecords(a, b))).toEqual(Object.keys({ ...a, ...b }));
  });

  it('returns a new object even when a side is empty', () => {
    const a = { x: 1 };
    expect(mergeRecords(a, {})).not.toBe(a);
    expect(mergeRecords(a, {})).toEqual(a);
    expect(mergeRecords({}, a)).not.toBe(a);
    expect(mergeRecords({}, a)).toEqual(a);
  });

  it('keeps an own __proto__ key a plain key on every path', () => {
    for (const merged of [mergeRecords<unknown>(hostile(), { b: 2 }), mergeRecords<unknown>({ b: 2 }, hostile()), mergeRecords(hostile(), {}), mergeRecords({}, hostile())]) {
      expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
      expect((merged as { polluted?: unknown }).polluted).toBeUndefined();
      expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    }
  });
});
