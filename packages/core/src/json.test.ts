import { parse as parseLossless } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { parseJson, stringifyJson } from './json.js';

const exact = (text: string) => parseLossless(text, null, (n: string) => {
  const value = Number(n);
  return Number.isSafeInteger(value) || !/^-?\d+$/.test(n) ? value : BigInt(n);
});

describe('parseJson', () => {
  it('keeps integers beyond 2^53 exact, and leaves everything else as JSON.parse has it', () => {
    expect(parseJson('{"a": 9007199254740993, "b": -9223372036854775808, "c": 9007199254740991, "d": 1.2345678901234567, "e": 1234567890123456789e2}')).toEqual({
      a: 9007199254740993n,
      b: -9223372036854775808n,
      c: 9007199254740991,
      d: 1.2345678901234567,
      e: 1234567890123456789e2,
    });
  });

  it('never touches digits inside strings, keys or escapes', () => {
    const text = '{"9007199254740993": "9007199254740993", "q": "a\\"9007199254740993\\"b", "r": ["\\\\", 9007199254740993]}';
    expect(parseJson(text)).toEqual({ '9007199254740993': '9007199254740993', q: 'a"9007199254740993"b', r: ['\\', 9007199254740993n] });
  });

  it('agrees with an exact JavaScript JSON parser on generated documents', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const digits = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? 1 + Math.floor(next() * 9) : Math.floor(next() * 10))).join('');
    const atom = (): string => {
      const pick = Math.floor(next() * 6);
      if (pick === 0) return `${next() < 0.5 ? '-' : ''}${digits(1 + Math.floor(next() * 22))}`;
      if (pick === 1) return `${digits(3)}.${digits(1 + Math.floor(next() * 20))}`;
      if (pick === 2) return JSON.stringify(`s${digits(18)}"\\${digits(2)}`);
      if (pick === 3) return `${digits(17)}e${Math.floor(next() * 5)}`;
      if (pick === 4) return next() < 0.5 ? 'true' : 'null';
      return `-${digits(17)}.5`;
    };
    const value = (depth: number): string => {
      if (depth > 3 || next() < 0.4) return atom();
      return next() < 0.5 ? `[${Array.from({ length: 3 }, () => value(depth + 1)).join(', ')}]` : `{${Array.from({ length: 3 }, (_, i) => `"k${i}": ${value(depth + 1)}`).join(',')}}`;
    };
    for (let i = 0; i < 500; i++) {
      const text = value(0);
      expect(parseJson(text), text).toEqual(exact(text));
    }
  });

  it('throws SyntaxError on invalid JSON, on both paths', () => {
    expect(() => parseJson('{"a": }')).toThrow(SyntaxError);
    expect(() => parseJson('{"a": 90071992547409930 }}')).toThrow(SyntaxError);
  });

  it('round-trips through stringifyJson digit for digit', () => {
    const text = '{"a":[9007199254740993,-12345678901234567890,1.5,"x"]}';
    expect(stringifyJson(parseJson(text))).toBe(text);
  });
});
