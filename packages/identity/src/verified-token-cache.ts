/** A bounded LRU of verified tokens, keyed by the token's sha256, each entry living until the token's exp. */
import { sha256Hex } from '@verity/core';
import type { VerifiedToken } from './types.js';

/** One cached verification and what it was verified against. */
export interface CachedVerification {
  token: VerifiedToken;
  /** Identifies the source configuration and requested audience the token was verified with. */
  context: string;
}

/** Options for {@link createVerifiedTokenCache}. */
export interface VerifiedTokenCacheOptions {
  /** Maximum entries; the least recently used is evicted beyond it (default 10 000). */
  maxEntries?: number;
}

/** Counters since creation. */
export interface VerifiedTokenCacheStats {
  entries: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** The cache. Times are seconds since the epoch, like `exp`. */
export interface VerifiedTokenCache {
  /** The live entry for `key`, if `accept` (default: any) agrees it applies to this request. */
  get(key: string, nowSec: number, accept?: (entry: CachedVerification) => boolean): CachedVerification | undefined;
  set(key: string, entry: CachedVerification): void;
  /** Drop every entry whose token matches (for revocation); returns how many were dropped. */
  purge(match: (token: VerifiedToken) => boolean): number;
  stats(): VerifiedTokenCacheStats;
}

/** The cache key of a token: sha256 hex, so the cache never holds a usable token. */
export function tokenCacheKey(token: string): string {
  return sha256Hex(token);
}

/**
 * Create a verified-token cache. A Map keeps insertion order, so re-inserting on a hit makes
 * the first key the least recently used.
 */
export function createVerifiedTokenCache(options: VerifiedTokenCacheOptions = {}): VerifiedTokenCache {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError('maxEntries must be a non-negative integer');
  const entries = new Map<string, CachedVerification>();
  const counts = { hits: 0, misses: 0, evictions: 0 };

  return {
    get(key, nowSec, accept) {
      const entry = entries.get(key);
      // Expire at exp itself, not exp + clock tolerance: a cache must never extend a token's life.
      if (entry !== undefined && entry.token.expiresAt <= nowSec) entries.delete(key);
      if (entry === undefined || entry.token.expiresAt <= nowSec || (accept !== undefined && !accept(entry))) {
        counts.misses += 1;
        return undefined;
      }
      entries.delete(key);
      entries.set(key, entry);
      counts.hits += 1;
      return entry;
    },
    set(key, entry) {
      if (maxEntries === 0) return;
      entries.delete(key);
      entries.set(key, entry);
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
        counts.evictions += 1;
      }
    },
    purge(match) {
      let dropped = 0;
      for (const [key, entry] of entries) {
        if (match(entry.token)) {
          entries.delete(key);
          dropped += 1;
        }
      }
      return dropped;
    },
    stats: () => ({ entries: entries.size, ...counts }),
  };
}
