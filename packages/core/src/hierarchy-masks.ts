/**
 * The transitive closure of a small entity hierarchy as bit masks: most decisions see a few
 * entities (a user, its groups or roles, a resource), and closing their parent graph with a set
 * per entity cost more than the rest of the hierarchy's use. Shared by the slice's ancestor-pair
 * count and the compiled evaluator's entity store.
 */

/** Most distinct uids (entities, and parents outside them) a mask holds: 30 bits, a small integer. */
export const MAX_MASK_UIDS = 30;

/** The closure: `index` numbers the entities (0..count-1) and then the parents outside them. */
export interface HierarchyMasks {
  /** `Type::"id"` key → bit number. */
  readonly index: ReadonlyMap<string, number>;
  /** Entity `i`'s ancestors (bit `j`: uid `j` is one); an entity on a cycle has its own bit. */
  readonly masks: Int32Array;
}

/**
 * Close the hierarchy of `count` entities with distinct keys `keyOf(i)` and parents
 * `parentsOf(i)` (keys). Undefined when the entities and their outside parents are more than
 * MAX_MASK_UIDS, or when two entities share a key.
 */
export function hierarchyMasks(count: number, keyOf: (i: number) => string, parentsOf: (i: number) => Iterable<string>): HierarchyMasks | undefined {
  if (count > MAX_MASK_UIDS) return undefined;
  const index = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const key = keyOf(i);
    if (index.has(key)) return undefined;
    index.set(key, i);
  }
  const masks = new Int32Array(count);
  let next = count;
  for (let i = 0; i < count; i++) {
    let mask = 0;
    for (const parent of parentsOf(i)) {
      let j = index.get(parent);
      if (j === undefined) {
        if (next >= MAX_MASK_UIDS) return undefined;
        j = next++;
        index.set(parent, j);
      }
      mask |= 1 << j;
    }
    masks[i] = mask;
  }
  // Add each in-hierarchy ancestor's ancestors until nothing grows (at most `count` rounds).
  const inside = count === 30 ? 0x3fffffff : (1 << count) - 1;
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < count; i++) {
      const before = masks[i] as number;
      let mask = before;
      for (let rest = before & inside; rest !== 0; rest &= rest - 1) mask |= masks[31 - Math.clz32(rest & -rest)] as number;
      if (mask !== before) {
        masks[i] = mask;
        changed = true;
      }
    }
  }
  return { index, masks };
}

/** Bits set in `mask`. */
export function bitCount(mask: number): number {
  let count = 0;
  for (let rest = mask; rest !== 0; rest &= rest - 1) count++;
  return count;
}
