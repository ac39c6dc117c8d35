import { describe, expect, it } from 'vitest';
import type { VerifiedToken } from './types.js';
import { createVerifiedTokenCache, tokenCacheKey } from './verified-token-cache.js';

function entry(subject: string, expiresAt: number) {
  return { token: { subject, expiresAt } as VerifiedToken, context: 'ctx' };
}

describe('verified token cache', () => {
  it('keys by sha256 hex of the token', () => {
    expect(tokenCacheKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('expires entries at exp', () => {
    const cache = createVerifiedTokenCache();
    cache.set('k', entry('a', 100));
    expect(cache.get('k', 99)?.token.subject).toBe('a');
    expect(cache.get('k', 100)).toBeUndefined();
    expect(cache.stats()).toEqual({ entries: 0, hits: 1, misses: 1, evictions: 0 });
  });

  it('evicts the least recently used beyond its bound', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2 });
    cache.set('a', entry('a', 100));
    cache.set('b', entry('b', 100));
    cache.get('a', 0);
    cache.set('c', entry('c', 100));
    expect(cache.get('b', 0)).toBeUndefined();
    expect(cache.get('a', 0)).toBeDefined();
    expect(cache.get('c', 0)).toBeDefined();
    expect(cache.stats().evictions).toBe(1);
  });

  it('serves an entry only when accept agrees', () => {
    const cache = createVerifiedTokenCache();
    cache.set('k', entry('a', 100));
    expect(cache.get('k', 0, (e) => e.context === 'other')).toBeUndefined();
    expect(cache.get('k', 0, (e) => e.context === 'ctx')).toBeDefined();
  });

  it('purges matching entries and counts them', () => {
    const cache = createVerifiedTokenCache();
    cache.set('a', entry('alice', 100));
    cache.set('b', entry('bob', 100));
    cache.set('c', entry('alice', 100));
    expect(cache.purge((token) => token.subject === 'alice')).toBe(2);
    expect(cache.stats().entries).toBe(1);
  });

  it('can be disabled', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 0 });
    cache.set('a', entry('a', 100));
    expect(cache.get('a', 0)).toBeUndefined();
  });
});
