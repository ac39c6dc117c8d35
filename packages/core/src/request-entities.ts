/**
 * Request-time entities: AuthZEN `properties` overlay stored attributes, and entities sent
 * with a Cedar-native request replace stored ones of the same uid.
 */
import type { CedarValue, Entity, EntityUid } from './types.js';
import { formatEntityUid } from './entity-uid.js';

export interface RequestEntities {
  /** Attributes to lay over the stored entity (or to make one from, if none is stored). */
  overlays: ReadonlyArray<{ uid: EntityUid; attrs: Record<string, CedarValue> }>;
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
  const overlays = new Map<string, Record<string, CedarValue>>();
  for (const o of request.overlays) overlays.set(formatEntityUid(o.uid), { ...overlays.get(formatEntityUid(o.uid)), ...o.attrs });
  const combine = (uids: EntityUid[], stored: Entity[]): Entity[] => {
    const byKey = new Map(stored.map((e) => [formatEntityUid(e.uid), e]));
    return uids.flatMap((uid) => {
      const key = formatEntityUid(uid);
      const base = provided.get(key) ?? byKey.get(key);
      const attrs = overlays.get(key);
      if (attrs === undefined) return base ?? [];
      return base ? { ...base, attrs: { ...base.attrs, ...attrs } } : { uid, attrs, parents: [] };
    });
  };
  return ((uids: EntityUid[]) => {
    const toFetch = uids.filter((uid) => !provided.has(formatEntityUid(uid)));
    const stored = toFetch.length === 0 ? [] : lookup(toFetch);
    return stored instanceof Promise ? stored.then((found) => combine(uids, found)) : combine(uids, stored);
  }) as (uids: EntityUid[]) => R;
}
