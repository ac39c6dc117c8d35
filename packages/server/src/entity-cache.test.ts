import { describe, expect, it } from 'vitest';
import type { Entity } from '@verity/core';
import { EntityCache } from './entity-cache.js';

const user = (id: string): Entity => ({ uid: { type: 'User', id }, attrs: {}, parents: [] });
const uid = (id: string) => ({ type: 'User', id });

describe('EntityCache', () => {
  it('keeps entities and misses per tenant, by type and id', () => {
    const cache = new EntityCache(10);
    const acme = cache.view('acme');
    cache.set(acme, uid('alice'), user('alice'));
    cache.set(acme, uid('ghost'), null);
    expect(cache.get(cache.view('acme'), { type: 'User', id: 'alice' })).toEqual(user('alice'));
    expect(cache.get(acme, uid('ghost'))).toBeNull();
    expect(cache.get(acme, uid('bob'))).toBeUndefined();
    expect(cache.get(acme, { type: 'Group', id: 'alice' })).toBeUndefined();
    expect(cache.get(cache.view('other'), uid('alice'))).toBeUndefined();
    // A type and id that would print alike are still two uids.
    cache.set(acme, { type: 'A', id: 'b::"c' }, user('x'));
    expect(cache.get(acme, { type: 'A::"b', id: 'c' })).toBeUndefined();
  });

  it('drops what a read found when the tenant was invalidated during it, and only that tenant', () => {
    const cache = new EntityCache(10);
    const before = cache.view('acme');
    const other = cache.view('globex');
    cache.set(other, uid('carol'), user('carol'));
    cache.invalidate('acme');
    cache.set(before, uid('alice'), user('alice'));
    expect(cache.get(cache.view('acme'), uid('alice'))).toBeUndefined();
    expect(cache.get(cache.view('globex'), uid('carol'))).toEqual(user('carol'));
    cache.clear();
    cache.set(other, uid('dave'), user('dave'));
    expect(cache.get(cache.view('globex'), uid('carol'))).toBeUndefined();
    expect(cache.get(cache.view('globex'), uid('dave'))).toBeUndefined();
  });

  it('holds at most max entries, and an entry read between insertions is never the one dropped', () => {
    const cache = new EntityCache(100);
    const view = cache.view('acme');
    cache.set(view, uid('hot'), user('hot'));
    for (let i = 0; i < 10_000; i++) {
      cache.set(view, uid(`cold-${i}`), user(`cold-${i}`));
      expect(cache.get(view, uid('hot'))).toEqual(user('hot'));
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    // The newest cold entries are held, the oldest are gone.
    expect(cache.get(view, uid('cold-9999'))).toEqual(user('cold-9999'));
    expect(cache.get(view, uid('cold-0'))).toBeUndefined();
    // Invalidated views give their room back as the hand passes them.
    cache.invalidate('acme');
    const fresh = cache.view('acme');
    for (let i = 0; i < 100; i++) cache.set(fresh, uid(`new-${i}`), user(`new-${i}`));
    expect(cache.size).toBe(100);
    for (let i = 0; i < 100; i++) expect(cache.get(fresh, uid(`new-${i}`))).toEqual(user(`new-${i}`));
  });
});
