/**
 * Request-time entities and what they may change. A request may describe its own principal and
 * resource (AuthZEN `properties`, or the Cedar-native `entities` naming them): their attributes
 * and tags win over the stored ones and their parents are added. It may add entities the
 * tenant's store does not hold. It can never rewrite another stored entity, nor the principal
 * a verified token proved.
 */
import { VerityError } from './errors.js';
import type { CedarValue, Entity, EntityUid } from './types.js';
import { formatEntityUid, UidMap } from './entity-uid.js';
import { mergeRecords } from './records.js';

const NO_TAGS: Readonly<Record<string, CedarValue>> = Object.freeze({});

/** What the request says about one entity, laid over the stored one. */
export interface EntityOverlay {
  uid: EntityUid;
  attrs: Record<string, CedarValue>;
  /** Added to the stored parents (a verified token's groups, a Cedar-native entity's parents). */
  parents?: readonly EntityUid[];
  tags?: Record<string, CedarValue>;
}

export interface RequestEntities {
  /** Descriptions of the request's principal and resource (and a token's principal). */
  overlays: readonly EntityOverlay[];
  /** Entities sent with the request that the store must not already hold. */
  provided: readonly Entity[];
}

function merge(base: Entity | undefined, uid: EntityUid, overlay: EntityOverlay): Entity {
  const parents = [...(base?.parents ?? [])];
  const added = overlay.parents ?? [];
  if (added.length > 0) {
    const known = new UidMap<true>();
    for (const parent of parents) known.set(parent, true);
    for (const parent of added) {
      if (!known.has(parent)) {
        known.set(parent, true);
        parents.push(parent);
      }
    }
  }
  const entity: Entity = { uid, attrs: base === undefined ? { ...overlay.attrs } : mergeRecords(base.attrs, overlay.attrs), parents };
  const tags = base?.tags || overlay.tags ? mergeRecords(base?.tags ?? NO_TAGS, overlay.tags ?? NO_TAGS) : undefined;
  if (tags !== undefined) entity.tags = tags;
  return entity;
}

/**
 * Wrap a store lookup so that request-time entities take part in the entity slice. Throws
 * ERR_DECISION_INVALID_REQUEST when a provided entity is one the store holds (the request may
 * not rewrite what the tenant stored).
 */
export function resolveWithRequestEntities(request: RequestEntities, lookup: (uids: EntityUid[]) => Promise<Entity[]> | Entity[]): (uids: EntityUid[]) => Promise<Entity[]> | Entity[] {
  // By type and id (UidMap), not by `Type::"id"` text: no key string is made per uid.
  const provided = new UidMap<Entity>();
  for (const entity of request.provided) provided.set(entity.uid, entity);
  const overlays = new UidMap<EntityOverlay>();
  for (const overlay of request.overlays) overlays.set(overlay.uid, overlay);
  // Nothing described or provided (most requests): the store's answer is the answer.
  if (provided.size === 0 && overlays.size === 0) return (uids) => (uids.length === 0 ? [] : lookup(uids));
  // Without a promise when the store answers without one (from its cache).
  return (uids) => {
    const stored = uids.length === 0 ? [] : lookup(uids);
    return stored instanceof Promise ? stored.then((found) => laidOver(uids, found, provided, overlays)) : laidOver(uids, stored, provided, overlays);
  };
}

/** The entities of `uids`: the stored ones with the request's descriptions laid over, and the ones it provides. */
function laidOver(uids: readonly EntityUid[], stored: readonly Entity[], provided: UidMap<Entity>, overlays: UidMap<EntityOverlay>): Entity[] {
  // Loops, not map/flatMap with closures: this runs for every frontier of every decision
  // whose request describes an entity.
  const byUid = new UidMap<Entity>();
  for (const entity of stored) byUid.set(entity.uid, entity);
  const found: Entity[] = [];
  for (const uid of uids) {
    const base = byUid.get(uid);
    const given = provided.get(uid);
    if (given && base) {
      throw new VerityError('ERR_DECISION_INVALID_REQUEST', `the request describes ${formatEntityUid(uid).slice(0, 200)}, which the tenant's entity store holds: a request may describe only its principal and resource, and entities the store does not hold`);
    }
    const overlay = overlays.get(uid);
    const entity = overlay ? merge(base, uid, overlay) : (given ?? base);
    if (entity !== undefined) found.push(entity);
  }
  return found;
}

/** Refuse a list that names one entity twice (Cedar refuses it too: which one would count?). */
export function assertNoDuplicateEntities(entities: readonly Entity[], what: string): void {
  const seen = new Set<string>();
  for (const entity of entities) {
    const key = formatEntityUid(entity.uid);
    if (seen.has(key)) throw new VerityError('ERR_DECISION_DUPLICATE_ENTITY', `${what} names ${key.slice(0, 200)} more than once`);
    seen.add(key);
  }
}
