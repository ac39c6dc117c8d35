/** Conformance cases for the activity repository: merged writes, re-reads by sequence, retention, per tenant. */
import { describe, expect, it } from 'vitest';
import { requestActivity } from '@verity/core';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

const ALICE = 'User::"alice"';
const BOB = 'User::"bob"';
const OPEN = { windowFloor: 0, seenSinceMs: 0 };
const at = (subject: string, nowMs: number, action = 'read', location: { lat: number; lon: number } | null = null) =>
  requestActivity({ subject, nowMs, location, action, resourceType: 'Doc' }, 60);

/** Register the activity cases. */
export function describeActivity(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('activity', () => {
    it('creates a row on first write and merges later writes into it (counts summed, latest location, names unioned)', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      expect(await store.activity.get('acme', ALICE)).toBeNull();
      const [first] = await store.activity.record('acme', [at(ALICE, 60_000, 'read', { lat: 51.5, lon: -0.12 }), at(ALICE, 61_000)], OPEN);
      expect(first).toMatchObject({ tenant: 'acme', subject: ALICE, lastSeenMs: 61_000, location: { lat: 51.5, lon: -0.12, atMs: 60_000 }, windows: [[1, 2]], actions: [['read', 61_000]] });
      // A second replica's requests, merged into the same row.
      const [second] = await store.activity.record('acme', [at(ALICE, 125_000, 'write', { lat: 48.85, lon: 2.35 })], OPEN);
      expect(second).toEqual({
        tenant: 'acme',
        subject: ALICE,
        lastSeenMs: 125_000,
        location: { lat: 48.85, lon: 2.35, atMs: 125_000 },
        windowSec: 60,
        windows: [[1, 2], [2, 1]],
        actions: [['read', 61_000], ['write', 125_000]],
        resourceTypes: [['Doc', 125_000]],
        seq: second?.seq,
      });
      expect(second?.seq).toBeGreaterThan(first?.seq ?? Infinity);
      expect(await store.activity.get('acme', ALICE)).toEqual(second);
      // The bounds drop old windows and names.
      const [bounded] = await store.activity.record('acme', [at(ALICE, 130_000)], { windowFloor: 2, seenSinceMs: 100_000 });
      expect(bounded).toMatchObject({ windows: [[2, 2]], actions: [['read', 130_000], ['write', 125_000]] });
      await expectVerityError(store.activity.record('nope', [at(ALICE, 1000)], OPEN), 'ERR_TENANT_NOT_FOUND');
    });

    it('lists the given subjects written after a sequence number, and keeps tenants apart', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      const [alice, bob] = await store.activity.record('acme', [at(BOB, 1000), at(ALICE, 1000)], OPEN);
      await store.activity.record('globex', [at(ALICE, 5000)], OPEN);
      expect([alice?.subject, bob?.subject]).toEqual([ALICE, BOB]);
      expect((await store.activity.listSince('acme', 0, [ALICE, BOB])).map((row) => row.subject)).toEqual([ALICE, BOB]);
      expect(await store.activity.listSince('acme', bob?.seq ?? 0, [ALICE, BOB])).toEqual([]);
      const [again] = await store.activity.record('acme', [at(ALICE, 2000)], OPEN);
      expect(await store.activity.listSince('acme', bob?.seq ?? 0, [ALICE, BOB])).toEqual([again]);
      expect(await store.activity.listSince('acme', 0, [BOB])).toEqual([bob]);
      expect(await store.activity.listSince('acme', 0, [])).toEqual([]);
      expect((await store.activity.get('globex', ALICE))?.lastSeenMs).toBe(5000);
      expect(await store.activity.tenants()).toEqual(['acme', 'globex']);
    });

    it('deletes the subjects whose last request is older than the cut-off, and erases one subject on request', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      const day = 86_400_000;
      await store.activity.record('acme', [at(ALICE, 1 * day), at(BOB, 20 * day)], OPEN);
      await store.activity.record('globex', [at(ALICE, 1 * day)], OPEN);
      expect(await store.activity.prune('acme', 1 * day)).toBe(0);
      expect(await store.activity.prune('acme', 1 * day + 1)).toBe(1);
      expect(await store.activity.get('acme', ALICE)).toBeNull();
      expect((await store.activity.get('acme', BOB))?.lastSeenMs).toBe(20 * day);
      expect((await store.activity.get('globex', ALICE))?.lastSeenMs).toBe(day);
      const before = (await store.activity.get('acme', BOB))?.seq ?? Infinity;
      expect(await store.activity.erase('acme', BOB)).toBe(true);
      const erased = await store.activity.get('acme', BOB);
      expect(erased).toEqual({ tenant: 'acme', subject: BOB, lastSeenMs: 0, location: null, windowSec: 0, windows: [], actions: [], resourceTypes: [], seq: erased?.seq });
      expect(erased?.seq).toBeGreaterThan(before);
      expect(await store.activity.erase('acme', BOB)).toBe(false);
      expect(await store.activity.erase('acme', 'User::"nobody"')).toBe(false);
      // A new request after the erasure starts afresh.
      expect(await store.activity.record('acme', [at(BOB, 21 * day)], OPEN)).toMatchObject([{ lastSeenMs: 21 * day, windows: [[21 * 1440, 1]], actions: [['read', 21 * day]] }]);
      expect(await store.activity.erase('acme', BOB)).toBe(true);
      expect(await store.activity.prune('acme', 1)).toBe(1);
      expect(await store.activity.tenants()).toEqual(['globex']);
    });
  });
}
