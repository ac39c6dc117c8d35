import { describe, expect, it } from 'vitest';
import { Lru } from './lru.js';

describe('Lru', () => {
  it('keeps at most max entries and forgets the one placed longest ago', () => {
    const lru = new Lru<string, number>(4);
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) lru.set(key, i);
    // a was placed 3 placements ago (more than max / 2): the read moves it to the newest end.
    expect(lru.get('a')).toBe(0);
    lru.set('e', 4);
    expect(lru.size).toBe(4);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(0);
    // Setting a key again replaces its value and places it anew.
    lru.set('c', 20);
    lru.set('f', 5);
    lru.set('g', 6);
    expect(lru.get('c')).toBe(20);
    expect(lru.get('d')).toBeUndefined();
  });

  it('never evicts an entry read at least once per max / 2 insertions, however long it runs', () => {
    const max = 100;
    const lru = new Lru<string, string>(max);
    lru.set('hot', 'kept');
    for (let i = 0; i < 10_000; i++) {
      lru.set(`cold-${i}`, 'x');
      if (i % (max / 2) === 0) expect(lru.get('hot')).toBe('kept');
    }
    expect(lru.get('hot')).toBe('kept');
    expect(lru.size).toBe(max);
    // The cold keys are forgotten in insertion order: only the newest max - 1 of them remain.
    expect(lru.get('cold-9901')).toBe('x');
    expect(lru.get('cold-9900')).toBeUndefined();
  });

  it('tells a stored null from a missing key, and deletes and clears', () => {
    const lru = new Lru<string, null | number>(2);
    lru.set('none', null);
    expect(lru.get('none')).toBeNull();
    expect(lru.get('missing')).toBeUndefined();
    lru.delete('none');
    expect(lru.get('none')).toBeUndefined();
    lru.set('x', 1);
    lru.clear();
    expect(lru.size).toBe(0);
  });
});
