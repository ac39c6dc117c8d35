import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, hashCanonical, quoteJson, sha256Hex } from './canonical-json.js';

describe('canonical JSON', () => {
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
