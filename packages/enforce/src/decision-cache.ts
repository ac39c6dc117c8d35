/**
 * The decision cache: LRU with TTL, keyed by tenant, policy version, principal, calling workload,
 * Txn-Token, action, resource and canonical context. A token is keyed by its SHA-256, never by its text.
 */
import { canonicalJson, quoteJson, sha256Hex } from '@verity/core';
import { hasUsableReceipt } from './receipt.js';
import type { Decision, DecisionRequest } from './types.js';

/**
 * What a decision is cached by: the request without its request id and tier, and the calling
 * workload. `receipt` is not part of the key: it says whether a hit must carry a receipt that is
 * still valid.
 */
export type CacheKeyInput = Pick<DecisionRequest, 'tenant' | 'token' | 'subject' | 'action' | 'resource' | 'context' | 'audience' | 'receipt' | 'txnToken'> & {
  /** The calling workload's SPIFFE id (null: not authenticated): a decision for one caller is never served to another. */
  caller?: string | null;
};

export interface DecisionCacheOptions {
  /** Entries kept before the least recently used is dropped (default 10 000). */
  maxEntries?: number;
  /**
   * How long a decision may be reused, in milliseconds (default 30 000). The change stream
   * invalidates sooner; the TTL bounds staleness when the stream is down.
   */
  ttlMs?: number;
  /** The clock, in epoch milliseconds (default `Date.now`). */
  now?: () => number;
}

export interface DecisionCache {
  /**
   * A cached decision for this request under the tenant's current policy version, if any. With
   * `input.receipt`, a cached allow is a hit only while its receipt has more than 1 s left (by
   * this cache's clock); else it is a miss, and the fresh decision `set` afterwards replaces it.
   * Without `input.receipt`, a hit never carries a receipt (one cached with it may be expired).
   */
  get(input: CacheKeyInput): Decision | undefined;
  /**
   * Keep a decision. `epoch` is {@link DecisionCache.epoch} read before asking the source: a
   * decision asked for before an invalidation is not kept. `expiresAt` (epoch ms, e.g. the
   * token's `exp`) shortens the entry's life below the TTL.
   */
  set(input: CacheKeyInput, decision: Decision, epoch: number, expiresAt?: number): void;
  /** The tenant's invalidation counter: it moves on every invalidation and policy version change. */
  epoch(tenant: string): number;
  /** Forget every decision of the tenant at once (new policy version, revocation, entities). */
  invalidateTenant(tenant: string): void;
  clear(): void;
  readonly size: number;
  readonly stats: { hits: number; misses: number };
}

interface TenantState {
  epoch: number;
  /** The policy version the tenant's entries were decided by, as last seen from the source. */
  version: number | null;
}

interface Entry {
  decision: Decision;
  expiresAt: number;
  /** The placement count when it was last put at the newest end (see `get`). */
  placedAt: number;
}

/**
 * SHA-256 of a token, hex: how a token principal appears in a cache key (and may appear in logs).
 *
 * @example
 * ```ts
 * log.info({ token: tokenFingerprint(token).slice(0, 12) }, 'decided');
 * ```
 */
export function tokenFingerprint(token: string): string {
  return sha256Hex(token);
}

/**
 * The key of a request under a tenant epoch and policy version. Exported for tests: it holds
 * the token's SHA-256, never the token.
 */
export function decisionCacheKey(input: CacheKeyInput, epoch: number, version: number | null): string {
  // canonicalJson([tenant, epoch, version, principal, call, action, resource, context]), its
  // fixed-shape parts written directly (keys in sorted order) and only what the caller gave
  // (action, resource, context) sorted generically: this runs on every cache look-up.
  // Strings through quoteJson (JSON.stringify's text, without the serializer when nothing needs
  // escaping); the epoch and version are whole numbers (or null), which String writes as JSON does.
  const text = (value: string | null | undefined) => (value === undefined || value === null ? 'null' : quoteJson(value));
  const principal =
    input.token !== undefined ? `{"audience":${text(input.audience)},"token":"${tokenFingerprint(input.token)}"}` : `{"subject":${canonicalJson(input.subject ?? null)}}`;
  const call = `{"caller":${text(input.caller)},"txn":${input.txnToken === undefined ? 'null' : `"${tokenFingerprint(input.txnToken)}"`}}`;
  return `[${quoteJson(input.tenant)},${String(epoch)},${version === null ? 'null' : String(version)},${principal},${call},${canonicalJson(input.action)},${canonicalJson(input.resource)},${canonicalJson(input.context)}]`;
}

const DEFAULTS = { maxEntries: 10_000, ttlMs: 30_000 };

/**
 * Create a decision cache. Only decisions with a decision id and policy version are kept (a
 * refused token is asked again every time).
 *
 * @example
 * ```ts
 * const cache = createDecisionCache({ maxEntries: 5000, ttlMs: 10_000 });
 * const enforcer = createEnforcer({ source, cache, tenant: 'acme', tier: 'orders' });
 * createChangeFollower({ url: pdpUrl, tenant: 'acme', onChange: () => cache.invalidateTenant('acme') });
 * ```
 */
export function createDecisionCache(options: DecisionCacheOptions = {}): DecisionCache {
  for (const key of Object.keys(options)) if (!['maxEntries', 'ttlMs', 'now'].includes(key)) throw new TypeError(`createDecisionCache: unknown option "${key}"`);
  const maxEntries = options.maxEntries ?? DEFAULTS.maxEntries;
  const ttlMs = options.ttlMs ?? DEFAULTS.ttlMs;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('createDecisionCache: maxEntries must be a positive integer');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('createDecisionCache: ttlMs must be a positive number');

  const entries = new Map<string, Entry>();
  /** Counts placements (insertions and moves to the newest end). */
  let clock = 0;
  const tenants = new Map<string, TenantState>();
  const stats = { hits: 0, misses: 0 };

  function stateOf(tenant: string): TenantState {
    let state = tenants.get(tenant);
    if (!state) {
      state = { epoch: 0, version: null };
      tenants.set(tenant, state);
    }
    return state;
  }

  function invalidateTenant(tenant: string): void {
    const state = stateOf(tenant);
    state.epoch++;
    state.version = null;
    // Keys start with the tenant; entries of older epochs can never match again, so drop them
    // now rather than wait for the LRU.
    const prefix = canonicalJson([tenant]).slice(0, -1);
    for (const key of entries.keys()) if (key.startsWith(`${prefix},`)) entries.delete(key);
  }

  return {
    get(input) {
      const state = stateOf(input.tenant);
      const key = decisionCacheKey(input, state.epoch, state.version);
      const entry = entries.get(key);
      const at = now();
      // `!(… > at)`, not `… <= at`: an entry whose expiry is not a number is expired, never immortal.
      if (!entry || !(entry.expiresAt > at)) {
        if (entry) entries.delete(key);
        stats.misses++;
        return undefined;
      }
      // An allow asked with a receipt needs one that is still good; the decision itself may be.
      if (input.receipt && entry.decision.decision === 'allow' && !hasUsableReceipt(entry.decision, at)) {
        stats.misses++;
        return undefined;
      }
      // Most recently used last (Map keeps insertion order), approximately: a hit moves its entry
      // only once half the capacity was placed after it, so a hot entry is not deleted and
      // re-inserted on every hit, and one hit at least once per maxEntries / 2 placements is
      // never the one dropped.
      if (clock - entry.placedAt >= maxEntries / 2) {
        entries.delete(key);
        entries.set(key, entry);
        entry.placedAt = ++clock;
      }
      stats.hits++;
      if (input.receipt || entry.decision.receipt === undefined) return entry.decision;
      const { receipt: _receipt, receiptExpiresAt: _expiresAt, ...decision } = entry.decision;
      return decision;
    },
    set(input, decision, epoch, expiresAt) {
      if (decision.decisionId === null || decision.policyVersion === null) return;
      const state = stateOf(input.tenant);
      if (epoch !== state.epoch) return;
      if (state.version !== decision.policyVersion) {
        // The PDP decided by another version than the one our entries came from: they are stale.
        if (state.version !== null) invalidateTenant(input.tenant);
        state.version = decision.policyVersion;
      }
      const key = decisionCacheKey(input, state.epoch, state.version);
      const until = Math.min(now() + ttlMs, expiresAt ?? Number.POSITIVE_INFINITY);
      // Not kept when already past, or when a source's bound is not a number (NaN would never expire).
      if (!(until > now())) return;
      entries.delete(key);
      entries.set(key, { decision, expiresAt: until, placedAt: ++clock });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    epoch: (tenant) => stateOf(tenant).epoch,
    invalidateTenant,
    clear() {
      entries.clear();
      for (const state of tenants.values()) {
        state.epoch++;
        state.version = null;
      }
    },
    get size() {
      return entries.size;
    },
    stats,
  };
}
