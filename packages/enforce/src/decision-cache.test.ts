import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@verity/core';
import { createDecisionCache, decisionCacheKey, tokenFingerprint, type CacheKeyInput } from './decision-cache.js';
import type { Decision } from './types.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const request = (overrides: Partial<CacheKeyInput> = {}): CacheKeyInput => ({ tenant: 'acme', token: TOKEN, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { a: 1, b: [2] }, ...overrides });
const alice = (): CacheKeyInput => ({ tenant: 'acme', subject: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { a: 1, b: [2] } });
const allow = (version = 1, id = 'dec-1'): Decision => ({ decision: 'allow', decisionId: id, policyVersion: version, reasons: ['p1'] });

function setup(options: { maxEntries?: number; ttlMs?: number } = {}) {
  let clock = 1_000_000;
  const cache = createDecisionCache({ ...options, now: () => clock });
  return { cache, advance: (ms: number) => (clock += ms), put: (input: CacheKeyInput, decision = allow()) => cache.set(input, decision, cache.epoch(input.tenant)) };
}

describe('decision cache', () => {
  it('returns a kept decision for the same request, with context compared canonically', () => {
    const { cache, put } = setup();
    expect(cache.get(request())).toBeUndefined();
    put(request());
    expect(cache.get(request({ context: { b: [2], a: 1 } }))).toEqual(allow());
    expect(cache.get(request({ context: { a: 1, b: [3] } }))).toBeUndefined();
    expect(cache.get(request({ action: 'write' }))).toBeUndefined();
    expect(cache.get(request({ resource: { type: 'Doc', id: 'd2' } }))).toBeUndefined();
    expect(cache.get(request({ token: `${TOKEN}x` }))).toBeUndefined();
    expect(cache.get(request({ audience: 'other' }))).toBeUndefined();
    expect(cache.stats).toEqual({ hits: 1, misses: 6 });
  });

  it('keys a token by its SHA-256, never by its text', () => {
    const key = decisionCacheKey(request(), 0, 1);
    expect(key).not.toContain(TOKEN);
    for (const part of TOKEN.split('.')) expect(key).not.toContain(part);
    expect(key).toContain(tokenFingerprint(TOKEN));
    expect(decisionCacheKey(alice(), 0, 1)).toContain('"alice"');
  });

  it('is the canonical JSON of the request\'s parts, written directly: every shape gives the same key as canonicalJson', () => {
    /** The key's definition, slowly: canonicalJson of the whole tuple. */
    const reference = (input: CacheKeyInput, epoch: number, version: number | null) =>
      canonicalJson([
        input.tenant,
        epoch,
        version,
        input.token !== undefined ? { token: tokenFingerprint(input.token), audience: input.audience ?? null } : { subject: input.subject ?? null },
        { caller: input.caller ?? null, txn: input.txnToken === undefined ? null : tokenFingerprint(input.txnToken) },
        input.action,
        input.resource,
        input.context,
      ]);
    const inputs: CacheKeyInput[] = [
      request(),
      request({ audience: 'api://orders', caller: 'spiffe://td/ns/a/sa/b', txnToken: `${TOKEN}.txn` }),
      request({ context: undefined as never, resource: { type: 'Doc', id: 'd"1\\', properties: { z: 1, a: { y: [true, null, 'é\u2028'] } } } as never }),
      alice(),
      { ...alice(), subject: { type: 'User', id: 'ann', properties: { b: 2, a: 1 } } as never, caller: null },
      { tenant: 't\u0000', subject: undefined as never, action: { name: 'x' } as never, resource: { type: 'R', id: '' }, context: { '': [], ' ': {} } },
    ];
    for (const input of inputs) {
      for (const [epoch, version] of [[0, null], [7, 3]] as const) expect(decisionCacheKey(input, epoch, version)).toBe(reference(input, epoch, version));
    }
  });

  it('keeps a subject and a token apart even when they look alike', () => {
    const { cache, put } = setup();
    put(alice());
    expect(cache.get(request())).toBeUndefined();
    expect(cache.get(alice())).toEqual(allow());
  });

  it('forgets entries after the TTL, or sooner when the token expires', () => {
    const { cache, advance } = setup({ ttlMs: 1000 });
    cache.set(request(), allow(), 0);
    cache.set(request({ action: 'short' }), allow(), 0, 1_000_000 + 200);
    advance(300);
    expect(cache.get(request())).toBeDefined();
    expect(cache.get(request({ action: 'short' }))).toBeUndefined();
    advance(700);
    expect(cache.get(request())).toBeUndefined();
    // A token already expired is not kept at all.
    cache.set(request({ action: 'old' }), allow(), 0, 5);
    expect(cache.size).toBe(0);
  });

  it('never drops an entry hit at least once per maxEntries / 2 insertions, and holds at most maxEntries', () => {
    const { cache, put } = setup({ maxEntries: 100 });
    put(request({ action: 'hot' }));
    for (let i = 0; i < 2000; i++) {
      put(request({ action: `cold-${i}` }));
      if (i % 50 === 0) expect(cache.get(request({ action: 'hot' })), `after ${i}`).toBeDefined();
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    expect(cache.get(request({ action: 'cold-1999' }))).toBeDefined();
    expect(cache.get(request({ action: 'cold-0' }))).toBeUndefined();
  });

  it('drops the least recently used entry beyond maxEntries', () => {
    const { cache, put } = setup({ maxEntries: 2 });
    put(request({ action: 'a' }));
    put(request({ action: 'b' }));
    expect(cache.get(request({ action: 'a' }))).toBeDefined();
    put(request({ action: 'c' }));
    expect(cache.size).toBe(2);
    expect(cache.get(request({ action: 'b' }))).toBeUndefined();
    expect(cache.get(request({ action: 'a' }))).toBeDefined();
    expect(cache.get(request({ action: 'c' }))).toBeDefined();
  });

  it('invalidateTenant drops that tenant only, at once', () => {
    const { cache, put } = setup();
    put(request());
    put(request({ tenant: 'globex' }));
    cache.invalidateTenant('acme');
    expect(cache.size).toBe(1);
    expect(cache.get(request())).toBeUndefined();
    expect(cache.get(request({ tenant: 'globex' }))).toBeDefined();
  });

  it('a decision by another policy version makes the tenant older entries stale', () => {
    const { cache, put } = setup();
    put(request({ action: 'a' }), allow(1));
    put(request({ action: 'b' }), allow(2));
    expect(cache.get(request({ action: 'a' }))).toBeUndefined();
    expect(cache.get(request({ action: 'b' }))?.policyVersion).toBe(2);
    // A rollback is a version change too.
    put(request({ action: 'c' }), allow(1));
    expect(cache.get(request({ action: 'b' }))).toBeUndefined();
  });

  it('does not keep a decision asked for before an invalidation', () => {
    const { cache } = setup();
    const epoch = cache.epoch('acme');
    cache.invalidateTenant('acme');
    cache.set(request(), allow(), epoch);
    expect(cache.get(request())).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('never keeps a refused token (no decision id)', () => {
    const { cache, put } = setup();
    put(request(), { decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TOKEN_EXPIRED' });
    expect(cache.size).toBe(0);
  });

  it('refuses bad options', () => {
    expect(() => createDecisionCache({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => createDecisionCache({ ttlMs: -1 })).toThrow(TypeError);
    expect(() => createDecisionCache({ ttl: 5 } as never)).toThrow(TypeError);
  });

  describe('with data-tier receipts', () => {
    // Clock starts at 1_000_000 ms; this receipt expires 30 s later.
    const withReceipt = (expiresAt = 1_030_000, id = 'dec-r'): Decision => ({ ...allow(1, id), receipt: `receipt-of-${id}`, receiptExpiresAt: expiresAt });

    it('reuses a cached allow for a receipt request while its receipt has more than 1 s left, then misses', () => {
      const { cache, put, advance } = setup({ ttlMs: 60_000 });
      put(request({ receipt: true }), withReceipt());
      expect(cache.get(request({ receipt: true }))).toEqual(withReceipt());
      advance(28_999);
      expect(cache.get(request({ receipt: true }))?.receipt).toBe('receipt-of-dec-r');
      advance(1);
      // Exactly 1 s left: not enough.
      expect(cache.get(request({ receipt: true }))).toBeUndefined();
      expect(cache.stats).toEqual({ hits: 2, misses: 1 });
      // The fresh decision replaces the entry, and is reused in turn.
      put(request({ receipt: true }), withReceipt(1_059_000, 'dec-s'));
      expect(cache.size).toBe(1);
      expect(cache.get(request({ receipt: true }))?.receipt).toBe('receipt-of-dec-s');
    });

    it('does not take an allow cached without a receipt for a receipt request', () => {
      const { cache, put } = setup();
      put(request());
      expect(cache.get(request())).toEqual(allow());
      expect(cache.get(request({ receipt: true }))).toBeUndefined();
    });

    it('reuses a cached deny for a receipt request (a deny has no receipt)', () => {
      const { cache, put } = setup();
      const deny: Decision = { decision: 'deny', decisionId: 'dec-d', policyVersion: 1, reasons: [] };
      put(request(), deny);
      expect(cache.get(request({ receipt: true }))).toEqual(deny);
    });

    it('answers a request without receipt from a receipt entry, without the receipt, also once it expired', () => {
      const { cache, put, advance } = setup({ ttlMs: 60_000 });
      put(request({ receipt: true }), withReceipt());
      expect(cache.get(request())).toEqual(allow(1, 'dec-r'));
      advance(45_000);
      expect(cache.get(request())).toEqual(allow(1, 'dec-r'));
      expect(cache.get(request({ receipt: true }))).toBeUndefined();
      expect(cache.stats).toEqual({ hits: 2, misses: 1 });
    });
  });
});
