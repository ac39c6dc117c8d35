import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, hashCanonical, quoteJson, sha256Hex } from './canonical-json.js';

/** The canonical form as first written (one generic path for every value): the oracle for the fast paths. */
function reference(value: unknown): string {
  const walk = (given: unknown, key: string): string | undefined => {
    let v = given;
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, key);
    }
    if (v !== null && typeof v === 'object') {
      if (v instanceof Number) v = Number(v);
      else if (v instanceof String) v = String(v);
      else if (v instanceof Boolean || v instanceof BigInt) v = v.valueOf();
    }
    if (v === null) return 'null';
    switch (typeof v) {
      case 'boolean':
        return v ? 'true' : 'false';
      case 'string':
        return JSON.stringify(v);
      case 'number':
        return Number.isFinite(v) ? JSON.stringify(v) : 'null';
      case 'bigint':
        return v.toString();
      case 'object':
        break;
      default:
        return undefined;
    }
    if (Array.isArray(v)) return `[${v.map((item, i) => walk(item, String(i)) ?? 'null').join(',')}]`;
    const record = v as Record<string, unknown>;
    const parts: string[] = [];
    for (const name of Object.keys(record).sort()) {
      const item = walk(record[name], name);
      if (item !== undefined) parts.push(`${JSON.stringify(name)}:${item}`);
    }
    return `{${parts.join(',')}}`;
  };
  return walk(value, '') ?? 'null';
}

/** A random value of every kind JSON.stringify treats apart (seeded: a failure is reproducible). */
function randomValue(next: () => number, depth: number): unknown {
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const leaf = (): unknown =>
    pick<() => unknown>([
      () => pick(['', 'a', 'é', '"q"', '\\', '\u0000', '\ud800', '10', 'toJSON', '__proto__']),
      () => pick([0, -0, 1.5, -7, 1e21, 5e-324, Number.NaN, Number.POSITIVE_INFINITY]),
      () => pick([true, false, null, undefined]),
      () => pick([10n, -(2n ** 70n)]),
      () => pick([() => 1, Symbol('s')]),
      () => pick([new Number(3), new String('s'), new Boolean(false), new Date(Date.UTC(2030, 0, 1))]),
    ])();
  if (depth === 0 || next() < 0.3) return leaf();
  const size = Math.floor(next() * 4);
  const kind = next();
  if (kind < 0.35) {
    const array: unknown[] = Array.from({ length: size }, () => randomValue(next, depth - 1));
    if (next() < 0.1) Object.defineProperty(array, 'toJSON', { value: () => ({ wrapped: array.length }) });
    return array;
  }
  const record: Record<string, unknown> = next() < 0.15 ? (Object.create(null) as Record<string, unknown>) : {};
  for (let i = 0; i < size; i++) record[pick(['b', 'a', 'B', 'é', '2', '10', '1', 'x y', ''])] = randomValue(next, depth - 1);
  if (next() < 0.1) record['toJSON'] = next() < 0.5 ? (key: string) => ({ at: key }) : 'not a function';
  if (next() < 0.05) return Object.assign(Object.create({ inherited: 1 }) as object, record);
  return record;
}

describe('canonical JSON', () => {
  it('writes exactly what the first, generic serializer wrote, over 3,000 random values of every kind', () => {
    let seed = 12345;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 3000; i++) {
      const value = randomValue(next, 4);
      expect(canonicalJson(value), `case ${i}`).toBe(reference(value));
    }
  });

  it('sorts keys at every depth, drops undefined members and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }, undefined], é: null, A: true })).toBe('{"A":true,"a":[1,{"c":"x"},null],"b":1,"é":null}');
  });
  it('hashes equal values equally whatever their key order', () => {
    expect(hashCanonical({ x: 1, y: [2, { z: 3, w: 4 }] })).toBe(hashCanonical({ y: [2, { w: 4, z: 3 }], x: 1 }));
    expect(hashCanonical({ x: 1 })).not.toBe(hashCanonical({ x: 2 }));
  });
  it('is the canonical form of exactly what JSON.stringify writes: toJSON, boxed primitives, non-finite numbers, functions and symbols', () => {
    const when = new Date(Date.UTC(2030, 0, 1));
    const custom = { toJSON: (key: string) => `custom at ${key}` };
    const values: unknown[] = [
      when,
      { at: when, list: [when, custom], custom },
      [new Number(10), new String('s'), new Boolean(false), Object(Symbol('x'))],
      { n: Number.NaN, i: Number.POSITIVE_INFINITY, z: -0, big: 1e21, small: 5e-324 },
      { f: () => 1, s: Symbol('s'), u: undefined, keep: 1, arr: [() => 1, Symbol('t'), undefined] },
      { nested: { toJSON: () => ({ b: 2, a: 1 }) } },
      { toJSON: () => undefined },
      'plain',
      null,
    ];
    for (const value of values) {
      const wire = JSON.stringify(value);
      // What JSON.stringify sends, read back and put in canonical form, is what canonicalJson writes.
      expect(canonicalJson(value)).toBe(wire === undefined ? 'null' : canonicalJson(JSON.parse(wire)));
    }
    // Two values the wire carries differently are never one key; two it carries alike are.
    expect(canonicalJson({ at: new Date(0) })).not.toBe(canonicalJson({ at: new Date(1) }));
    expect(canonicalJson({ amount: new Number(10) })).not.toBe(canonicalJson({ amount: new Number(1_000_000) }));
    expect(canonicalJson({ on: new Boolean(true) })).not.toBe(canonicalJson({ on: new Boolean(false) }));
    expect(canonicalJson({ at: new Date(0) })).toBe(canonicalJson({ at: '1970-01-01T00:00:00.000Z' }));
  });
  it('writes a bigint (a Long beyond 2^53) as the number it is, boxed or not', () => {
    expect(canonicalJson({ big: 2n ** 64n, boxed: Object(7n) })).toBe('{"big":18446744073709551616,"boxed":7}');
  });
});

describe('quoteJson', () => {
  it('writes exactly what JSON.stringify writes, for 20,000 strings over quotes, backslashes, controls, surrogates (paired and lone) and the rest', () => {
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '\u0000', '\u0007', '\n', '\u001f', '\u007f', '\u2028', '\u00e9', '\ud83d\ude00', '\ud800', '\udfff', '::'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      const length = Math.floor(next() * 12);
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(next() * alphabet.length)];
      expect(quoteJson(text), JSON.stringify(text)).toBe(JSON.stringify(text));
    }
    expect(quoteJson('')).toBe('""');
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 createHash gives, for ASCII, non-ASCII, lone surrogates and long text', () => {
    const texts = ['', 'a', 'é', '😀', '\ud800', 'x\udc00y', 'tok.'.repeat(500), String.fromCharCode(...Array.from({ length: 2000 }, (_, i) => (i * 7919) % 0xffff))];
    for (const text of texts) expect(sha256Hex(text)).toBe(createHash('sha256').update(text).digest('hex'));
  });
});
