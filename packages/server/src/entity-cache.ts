/**
 * The decision path's entity cache: each tenant's stored entities (and the uids it does not
 * hold) by uid, bounded over all tenants.
 *
 * - Look-ups go by type and id (core's `UidMap`), never by a `Type::"id"` key text: a decision
 *   looks up several uids, and building and hashing a fresh key string for each was a large
 *   share of a cached decision (bench/RESULTS.md).
 * - Invalidation replaces a tenant's whole view at once. A read that began before it keeps the
 *   view it began with ({@link EntityCache.view}), and what it stores there is never seen again:
 *   a write during a read makes the result a miss for later decisions, not a stale hit.
 * - The bound is kept with CLOCK, an approximation of least-recently-used: entries wait in
 *   insertion order; when one more than `max` is held, the oldest is dropped unless it was read
 *   since it was placed there, in which case it goes back to the end once (a second chance).
 *   So a hot entry is not moved on every read, and one read at least once per `max` insertions
 *   is never dropped.
 */
import { UidMap, type Entity, type EntityUid } from '@verity/core';

/** One tenant's view: what it holds, until an invalidation replaces it. */
export interface TenantEntityView {
  readonly tenant: string;
  /** Found entities, and `null` for uids the store does not hold. */
  readonly entries: UidMap<Slot>;
}

interface Slot {
  view: TenantEntityView;
  uid: EntityUid;
  value: Entity | null;
  /** Read since it was last placed at the end of the queue. */
  used: boolean;
}

export class EntityCache {
  readonly #max: number;
  readonly #views = new Map<string, TenantEntityView>();
  /** Slots in placement order, from `#head` on (the array is compacted as the head moves). */
  #queue: Slot[] = [];
  #head = 0;

  /** `max`: entries held over all tenants (a positive integer). */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('EntityCache: max must be a positive integer');
    this.#max = max;
  }

  /** The tenant's current view: read from it, and store what a read found into the same view. */
  view(tenant: string): TenantEntityView {
    let view = this.#views.get(tenant);
    if (view === undefined) {
      view = { tenant, entries: new UidMap() };
      this.#views.set(tenant, view);
    }
    return view;
  }

  /** The cached entity (`null`: the store does not hold it), or `undefined` when not cached. */
  get(view: TenantEntityView, uid: EntityUid): Entity | null | undefined {
    const slot = view.entries.get(uid);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.value;
  }

  /** Keep what a read found, in the view the read began with (ignored when it was replaced since). */
  set(view: TenantEntityView, uid: EntityUid, value: Entity | null): void {
    if (this.#views.get(view.tenant) !== view) return;
    const old = view.entries.get(uid);
    if (old !== undefined) {
      old.value = value;
      return;
    }
    const slot: Slot = { view, uid, value, used: false };
    view.entries.set(uid, slot);
    this.#queue.push(slot);
    this.#evict();
  }

  /** Forget everything cached for the tenant (its entities changed). */
  invalidate(tenant: string): void {
    this.#views.delete(tenant);
  }

  /** Forget everything. */
  clear(): void {
    this.#views.clear();
    this.#queue = [];
    this.#head = 0;
  }

  /** Slots held, including those of replaced views not yet passed by the hand (at most `max`). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  #evict(): void {
    while (this.size > this.#max) {
      const slot = this.#queue[this.#head] as Slot;
      this.#head++;
      const live = this.#views.get(slot.view.tenant) === slot.view;
      if (live && slot.used) {
        slot.used = false;
        this.#queue.push(slot);
        continue;
      }
      if (slot.view.entries.get(slot.uid) === slot) slot.view.entries.delete(slot.uid);
    }
    // Compact once the dead prefix is as long as what is held (amortized O(1) per insertion).
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
