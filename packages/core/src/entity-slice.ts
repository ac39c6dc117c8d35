/**
 * Picks the entities one request needs: the roots (principal, action, resource, entities the
 * context and the tenant's policies name), their ancestors, and entities their attributes
 * reference, transitively. cedar-wasm's cost grows with every entity it is handed, so the
 * engine never sees a whole entity store — and never a partial slice either: a request that
 * needs more than the limits is refused with ERR_DECISION_LIMIT, never decided on what fit.
 */
import { VerityError } from './errors.js';
import type { CedarValue, Entity, EntityUid } from './types.js';
import { formatEntityUid, UidMap } from './entity-uid.js';
import { MAX_ANCESTOR_PAIRS, MAX_SLICE_ENTITIES, MAX_VALUE_DEPTH } from './limits.js';

export interface SliceLimits {
  /** Most entities the slice may hold (default MAX_SLICE_ENTITIES). */
  maxEntities?: number;
  /** Most (entity, ancestor) pairs in its transitive closure (default MAX_ANCESTOR_PAIRS). */
  maxAncestorPairs?: number;
  /**
   * Entity types never looked up: with a schema, action entities come from the schema and
   * Cedar refuses action entities that differ from it.
   */
  skipTypes?: ReadonlySet<string>;
}

/** The slice and what the caller's cost estimate needs to know about it. */
export interface Slice {
  entities: Entity[];
  /** Length of the longest string in any attribute or tag of the slice (feeds `like`). */
  longestString: number;
  /** Attribute and tag values (every record, set and scalar), and entity references among them. */
  values: number;
  references: number;
  /** (entity, ancestor) pairs of the slice's transitive closure. */
  ancestorPairs: number;
}

/** Most uids one decision may look up, found or not: a request cannot make the PIP scan. */
const MAX_LOOKUPS_PER_ENTITY = 4;

function limit(message: string): VerityError {
  return new VerityError('ERR_DECISION_LIMIT', message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The entity a value refers to: `{__entity: {type, id}}`, or a record of exactly `type` and
 * `id` strings, which a schema may declare as an entity reference. Treating the second as a
 * reference when it is only a record loads one entity too many, which changes no decision.
 */
export function entityReferenceOf(value: unknown): EntityUid | null {
  if (!isRecord(value)) return null;
  const inner = isRecord(value.__entity) ? value.__entity : value;
  // The cheap tests first: most records on the decision path are no reference at all.
  const { type, id } = inner;
  if (typeof type !== 'string' || typeof id !== 'string') return null;
  if (inner !== value && Object.keys(value).length !== 1) return null;
  if (Object.keys(inner).length !== 2) return null;
  return { type, id };
}

/** What a walk over values found: references, the longest string, the deepest nesting, and how many values. */
export interface ValueScan {
  references: EntityUid[];
  longestString: number;
  depth: number;
  /** Values seen (records, sets, scalars), and references among them, over every scan into this object. */
  values: number;
  referenceCount: number;
}

/** Scan values (iteratively) for entity references, string lengths and nesting depth. */
export function scanValues(values: Iterable<CedarValue | undefined>, into: ValueScan = emptyScan()): ValueScan {
  // Two stacks, not one of [value, depth] pairs: no allocation per value (this runs on every decision).
  const stack: unknown[] = [];
  const depths: number[] = [];
  for (const value of values) {
    stack.push(value);
    depths.push(1);
  }
  while (stack.length > 0) {
    const value = stack.pop();
    const depth = depths.pop() as number;
    into.values++;
    if (typeof value === 'string') {
      if (value.length > into.longestString) into.longestString = value.length;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > into.depth) into.depth = depth;
    const reference = entityReferenceOf(value);
    if (reference) {
      into.references.push(reference);
      into.referenceCount++;
      continue;
    }
    const record = value as Record<string, unknown>;
    // An extension value (`{__extn: {fn, arg}}`) holds strings, not references.
    for (const child of Array.isArray(value) ? value : Object.values(record)) {
      stack.push(child);
      depths.push(depth + 1);
    }
  }
  return into;
}

/** Scans of values the PDP made and shares between decisions, per object (they are frozen). */
const sharedScans = new WeakMap<object, ValueScan>();

/**
 * Add to `into` the scan of `value` as one more top-level value (as if it were another entry of
 * the scanned record): for a frozen value shared between decisions (`context.risk`, interned by
 * the risk engine), scanned once per object.
 */
export function addSharedScan(into: ValueScan, value: Readonly<Record<string, CedarValue>>): void {
  // Only a frozen value can be remembered: one that may still change is scanned each time.
  if (!Object.isFrozen(value)) {
    scanValues([value as CedarValue], into);
    return;
  }
  let scan = sharedScans.get(value);
  if (scan === undefined) {
    scan = scanValues([value as CedarValue]);
    sharedScans.set(value, scan);
  }
  into.values += scan.values;
  into.referenceCount += scan.referenceCount;
  for (const reference of scan.references) into.references.push(reference);
  if (scan.longestString > into.longestString) into.longestString = scan.longestString;
  if (scan.depth > into.depth) into.depth = scan.depth;
}

/** A scan with nothing seen yet. */
export function emptyScan(): ValueScan {
  return { references: [], longestString: 0, depth: 0, values: 0, referenceCount: 0 };
}

/** Every uid an entity points at: parents and references inside attributes and tags. */
export function referencedUids(entity: Entity): EntityUid[] {
  const scan = scanValues([...Object.values(entity.attrs), ...Object.values(entity.tags ?? {})]);
  return [...entity.parents, ...scan.references];
}

/** Refuse values nested deeper than MAX_VALUE_DEPTH (cedar-wasm parses them by recursion). */
export function assertValueDepth(depth: number, what: string): void {
  if (depth > MAX_VALUE_DEPTH) throw limit(`${what} nests values ${depth} levels deep; at most ${MAX_VALUE_DEPTH} are allowed (MAX_VALUE_DEPTH)`);
}

/**
 * Count (entity, ancestor) pairs of the slice's transitive closure, stopping as soon as the
 * count passes `max`. Ancestors include parents that are not in the slice, as Cedar counts them.
 * Exported for its test (the small and the large count agree).
 */
export function countAncestorPairs(entities: readonly Entity[], max: number): number {
  // Fast path: no entity's parent is in the slice, so each entity's ancestors are its parents.
  const byKey = new Map<string, EntityFacts>();
  for (const entity of entities) {
    const facts = factsOf(entity);
    byKey.set(facts.key, facts);
  }
  let direct = 0;
  let nested = false;
  for (const entity of entities) {
    const parents = factsOf(entity).parentKeys;
    direct += parents.size;
    for (const parent of parents) if (byKey.has(parent)) nested = true;
    if (nested) break;
  }
  if (!nested) return direct;
  // A small hierarchy (most decisions: a user, its groups or roles, a resource): bit masks.
  const small = byKey.size === entities.length ? countSmallAncestorPairs(entities) : undefined;
  if (small !== undefined) return small;
  return countLargeAncestorPairs(entities, byKey, max);
}

/** Most distinct uids (slice entities and the parents outside it) the bit-mask count takes: a 30-bit mask. */
const SMALL_UIDS = 30;

/**
 * {@link countAncestorPairs} for a slice of distinct entities whose uids and parents' uids
 * number at most SMALL_UIDS: each entity's ancestors as a bit mask (slice entities first, then
 * the parents outside it), closed under "a parent's ancestors" until nothing grows; no set or
 * map per entity. Undefined when the uids do not fit.
 */
function countSmallAncestorPairs(entities: readonly Entity[]): number | undefined {
  const n = entities.length;
  if (n > SMALL_UIDS) return undefined;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(factsOf(entities[i] as Entity).key, i);
  const masks = new Int32Array(n);
  let next = n;
  for (let i = 0; i < n; i++) {
    let mask = 0;
    for (const parent of factsOf(entities[i] as Entity).parentKeys) {
      let j = index.get(parent);
      if (j === undefined) {
        if (next >= SMALL_UIDS) return undefined;
        j = next++;
        index.set(parent, j);
      }
      mask |= 1 << j;
    }
    masks[i] = mask;
  }
  const inSlice = n === 30 ? 0x3fffffff : (1 << n) - 1;
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < n; i++) {
      const before = masks[i] as number;
      let mask = before;
      for (let rest = before & inSlice; rest !== 0; rest &= rest - 1) mask |= masks[31 - Math.clz32(rest & -rest)] as number;
      if (mask !== before) {
        masks[i] = mask;
        changed = true;
      }
    }
  }
  let total = 0;
  // An entity is never its own ancestor, even on a cycle.
  for (let i = 0; i < n; i++) for (let mask = (masks[i] as number) & ~(1 << i); mask !== 0; mask &= mask - 1) total++;
  return total;
}

/**
 * {@link countAncestorPairs} for any slice: each entity's ancestors found by a walk up its
 * parents (exact on cycles too, which Cedar refuses but must not be under-counted on the way),
 * stopping as soon as the count passes `max`: each step adds one pair, so the work is bounded
 * by `max` and the parents' count.
 */
function countLargeAncestorPairs(entities: readonly Entity[], byKey: ReadonlyMap<string, EntityFacts>, max: number): number {
  let total = 0;
  const counted = new Set<string>();
  const seen = new Set<string>();
  const stack: string[] = [];
  for (const entity of entities) {
    const facts = factsOf(entity);
    // A uid the slice holds twice counts once, as Cedar holds it once.
    if (counted.has(facts.key)) continue;
    counted.add(facts.key);
    seen.clear();
    for (const parent of facts.parentKeys) stack.push(parent);
    while (stack.length > 0) {
      const key = stack.pop() as string;
      if (seen.has(key)) continue;
      seen.add(key);
      if (key !== facts.key && ++total > max) return total;
      const above = byKey.get(key);
      if (above !== undefined) for (const parent of above.parentKeys) if (!seen.has(parent)) stack.push(parent);
    }
  }
  return total;
}

/** What the slice needs of one entity, computed once per entity object (stored entities are shared and never changed in place). */
interface EntityFacts {
  key: string;
  /** Its parents' keys, each once. */
  parentKeys: ReadonlySet<string>;
  /** The scan of its attributes and tags. */
  scan: ValueScan;
}

const entityFacts = new WeakMap<Entity, EntityFacts>();

function factsOf(entity: Entity): EntityFacts {
  let facts = entityFacts.get(entity);
  if (facts === undefined) {
    facts = {
      key: formatEntityUid(entity.uid),
      parentKeys: new Set(entity.parents.map(formatEntityUid)),
      scan: scanValues([...Object.values(entity.attrs), ...Object.values(entity.tags ?? {})]),
    };
    entityFacts.set(entity, facts);
  }
  return facts;
}

/**
 * The walk, one frontier at a time, as a generator: it yields the uids it wants next and is
 * resumed with the entities found among them. The sync and async drivers below share it.
 */
function* walk(roots: readonly EntityUid[], limits: SliceLimits): Generator<EntityUid[], Slice, Entity[]> {
  const maxEntities = limits.maxEntities ?? MAX_SLICE_ENTITIES;
  const maxPairs = limits.maxAncestorPairs ?? MAX_ANCESTOR_PAIRS;
  const maxLookups = maxEntities * MAX_LOOKUPS_PER_ENTITY;
  const skip = limits.skipTypes;
  // By type and id, not by `Type::"id"` text: no key string is made per uid.
  const seen = new UidMap<true>();
  const entities: Entity[] = [];
  const scan = emptyScan();
  const admit = (uid: EntityUid, into: EntityUid[]) => {
    if (skip?.has(uid.type)) return;
    if (seen.has(uid)) return;
    seen.set(uid, true);
    into.push(uid);
  };
  let frontier: EntityUid[] = [];
  for (const uid of roots) admit(uid, frontier);
  while (frontier.length > 0) {
    if (seen.size > maxLookups) throw limit(`the decision refers to more than ${maxLookups} entities (${MAX_LOOKUPS_PER_ENTITY} × MAX_SLICE_ENTITIES)`);
    const found: Entity[] = yield frontier;
    frontier = [];
    for (const entity of found) {
      entities.push(entity);
      if (entities.length > maxEntities) throw limit(`the decision needs more than ${maxEntities} entities (MAX_SLICE_ENTITIES); it is refused rather than decided on part of them`);
      const own = factsOf(entity).scan;
      scan.values += own.values;
      scan.referenceCount += own.referenceCount;
      if (own.longestString > scan.longestString) scan.longestString = own.longestString;
      if (own.depth > MAX_VALUE_DEPTH) assertValueDepth(own.depth, `entity ${formatEntityUid(entity.uid)}`);
      for (const uid of entity.parents) admit(uid, frontier);
      for (const uid of own.references) admit(uid, frontier);
    }
  }
  const pairs = countAncestorPairs(entities, maxPairs);
  if (pairs > maxPairs) throw limit(`the entities of this decision have more than ${maxPairs} (entity, ancestor) pairs (MAX_ANCESTOR_PAIRS): the hierarchy is too deep or too wide to decide in time`);
  return { entities, longestString: scan.longestString, values: scan.values, references: scan.referenceCount, ancestorPairs: pairs };
}

/** Slice from a store reached asynchronously (the server's entity repository or cache). */
export async function sliceEntities(roots: readonly EntityUid[], fetchMany: (uids: EntityUid[]) => Promise<Entity[]> | Entity[], limits: SliceLimits = {}): Promise<Slice> {
  const steps = walk(roots, limits);
  let step = steps.next([]);
  while (!step.done) {
    // A look-up answered from a cache needs no turn of the event loop.
    const found = fetchMany(step.value);
    step = steps.next(found instanceof Promise ? await found : found);
  }
  return step.value;
}
