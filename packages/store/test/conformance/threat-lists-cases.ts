/** Conformance cases for the threat-lists repository: whole-list replacement, expiry kept, per tenant. */
import { describe, expect, it } from 'vitest';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

/** Register the threat-list cases. */
export function describeThreatLists(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('threat lists', () => {
    it('imports a list and replaces it whole on the next import of the same source', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const first = await store.threatLists.put('acme', { source: 'feed-a', entries: ['203.0.113.0/24', '2001:db8::/32'], expiresAtMs: 9000 }, 1000);
      expect(first).toEqual({ tenant: 'acme', source: 'feed-a', entryCount: 2, expiresAtMs: 9000, importedAtMs: 1000 });
      const second = await store.threatLists.put('acme', { source: 'feed-a', entries: ['198.51.100.7/32'], expiresAtMs: null }, 2000);
      expect(second).toEqual({ tenant: 'acme', source: 'feed-a', entryCount: 1, expiresAtMs: null, importedAtMs: 2000 });
      expect(await store.threatLists.load('acme')).toEqual([{ ...second, entries: ['198.51.100.7/32'] }]);
      await expectVerityError(store.threatLists.put('nope', { source: 'feed-a', entries: [], expiresAtMs: null }, 1000), 'ERR_TENANT_NOT_FOUND');
    });

    it('lists by source without entries, keeps tenants apart, and removes', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.threatLists.put('acme', { source: 'zeta', entries: ['192.0.2.0/24'], expiresAtMs: 500 }, 1000);
      await store.threatLists.put('acme', { source: 'Alpha', entries: ['192.0.2.1/32', '192.0.2.2/32'], expiresAtMs: null }, 1100);
      await store.threatLists.put('globex', { source: 'zeta', entries: [], expiresAtMs: null }, 1200);
      expect(await store.threatLists.list('acme')).toEqual([
        { tenant: 'acme', source: 'Alpha', entryCount: 2, expiresAtMs: null, importedAtMs: 1100 },
        // Expired lists are kept: the reader decides by its clock.
        { tenant: 'acme', source: 'zeta', entryCount: 1, expiresAtMs: 500, importedAtMs: 1000 },
      ]);
      expect(await store.threatLists.remove('acme', 'zeta')).toBe(true);
      expect(await store.threatLists.remove('acme', 'zeta')).toBe(false);
      expect((await store.threatLists.load('acme')).map((list) => list.source)).toEqual(['Alpha']);
      expect(await store.threatLists.load('globex')).toEqual([{ tenant: 'globex', source: 'zeta', entryCount: 0, expiresAtMs: null, importedAtMs: 1200, entries: [] }]);
      expect(await store.threatLists.list('nope')).toEqual([]);
    });
  });
}
