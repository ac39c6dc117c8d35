/**
 * Picks the entities one request needs: the roots (principal, action, resource), their
 * ancestors, and entities their attributes reference, transitively. cedar-wasm's cost grows
 * with every entity it is handed, so the engine never sees a whole entity store.
 */
import type { CedarValue, Entity, EntityUid } from './types.js';
import { formatEntityUid } from './entity-uid.js';

export interface SliceLimits {
  /** Stop following references after this many entities (default 2,000). */
  maxEntities?: number;
}

/** Every uid an entity points at: parents and `__entity` references inside attributes and tags. */
export function referencedUids(entity: Entity): EntityUid[] {
  const found: EntityUid[] = [...entity.parents];
  const visit = (value: CedarValue | undefined): void => {
    if (value === null || value === undefined || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach(visit);
    if ('__entity' in value && typeof value.__entity === 'object' && value.__entity !== null) {
      found.push(value.__entity as EntityUid);
      return;
    }
    Object.values(value).forEach((v) => visit(v as CedarValue));
  };
  Object.values(entity.attrs).forEach(visit);
  if (entity.tags) Object.values(entity.tags).forEach(visit);
  return found;
}

/**
 * The walk, one frontier at a time, as a generator: it yields the uids it wants next and is
 * resumed with the entities found among them. The sync and async drivers below share it.
 */
function* walk(roots: readonly EntityUid[], limits: SliceLimits): Generator<EntityUid[], Entity[], Entity[]> {
  const max = limits.maxEntities ?? 2000;
  const seen = new Set<string>();
  const result: Entity[] = [];
  let frontier = roots.filter((uid) => {
    const key = formatEntityUid(uid);
    return seen.has(key) ? false : (seen.add(key), true);
  });
  while (frontier.length > 0 && result.length < max) {
    const found: Entity[] = yield frontier;
    frontier = [];
    for (const entity of found) {
      if (result.length >= max) break;
      result.push(entity);
      for (const uid of referencedUids(entity)) {
        const key = formatEntityUid(uid);
        if (!seen.has(key)) {
          seen.add(key);
          frontier.push(uid);
        }
      }
    }
  }
  return result;
}

/** Slice from a store reached asynchronously (the server's entity repository or cache). */
export async function sliceEntities(roots: readonly EntityUid[], fetchMany: (uids: EntityUid[]) => Promise<Entity[]>, limits: SliceLimits = {}): Promise<Entity[]> {
  const steps = walk(roots, limits);
  let step = steps.next([]);
  while (!step.done) step = steps.next(await fetchMany(step.value));
  return step.value;
}

/** Slice from entities reached synchronously (held in memory). */
export function sliceEntitiesSync(roots: readonly EntityUid[], fetchMany: (uids: EntityUid[]) => Entity[], limits: SliceLimits = {}): Entity[] {
  const steps = walk(roots, limits);
  let step = steps.next([]);
  while (!step.done) step = steps.next(fetchMany(step.value));
  return step.value;
}
