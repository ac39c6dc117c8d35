/**
 * Request-time entities: AuthZEN `properties` overlay stored attributes, and entities sent
 * with a Cedar-native request replace stored ones of the same uid.
 */
import type { CedarValue, Entity, EntityUid } from './types.js';
import { formatEntityUid } from './entity-uid.js';

export interface RequestEntities {
  /**
   * Attributes to lay over the stored entity (or to make one from, if none is stored), and
   * parents to add to the stored ones (a verified token's groups).
   */
  overlays: ReadonlyArray<{ uid: EntityUid; attrs: Record<string, CedarValue>; parents?: readonly EntityUid[] }>;
  /** Whole entities sent with the request; they win over stored ones. */
  provided: readonly Entity[];
}

/**
 * Wrap a store lookup so that request-time entities take part in the entity slice: provided
 * entities shadow stored ones and are never looked up; overlays merge per attribute.
 */
export function resolveWithRequestEntities<R extends Entity[] | Promise<Entity[]>>(
  request: RequestEntities,
  lookup: (uids: EntityUid[]) => R,
): (uids: EntityUid[]) => R {
  if (request.overlays.length === 0 && request.provided.length === 0) return lookup;
  const provided = new Map(request.provided.map((e) => [formatEntityUid(e.uid), e]));
  const overlays = new Map<string, { attrs: Record<string, CedarValue>; parents: EntityUid[] }>();
  for (const o of request.overlays) {
    const key = formatEntityUid(o.uid);
    const previous = overlays.get(key);
    overlays.set(key, { attrs: { ...previous?.attrs, ...o.attrs }, parents: [...(previous?.parents ?? []), ...(o.parents ?? [])] });
  }
  const combine = (uids: EntityUid[], stored: Entity[]): Entity[] => {
    const byKey = new Map(stored.map((e) => [formatEntityUid(e.uid), e]));
    return uids.flatMap((uid) => {
      const key = formatEntityUid(uid);
      const base = provided.get(key) ?? byKey.get(key);
      const overlay = overlays.get(key);
      if (overlay === undefined) return base ?? [];
      if (!base) return { uid, attrs: overlay.attrs, parents: overlay.parents };
      const parents = [...base.parents];
      for (const parent of overlay.parents) if (!parents.some((p) => p.type === parent.type && p.id === parent.id)) parents.push(parent);
      return { ...base, attrs: { ...base.attrs, ...overlay.attrs }, parents };
    });
  };
  return ((uids: EntityUid[]) => {
    const toFetch = uids.filter((uid) => !provided.has(formatEntityUid(uid)));
    const stored = toFetch.length === 0 ? [] : lookup(toFetch);
    return stored instanceof Promise ? stored.then((found) => combine(uids, found)) : combine(uids, stored);
  }) as (uids: EntityUid[]) => R;
}
