/**
 * Whether writing entities would close a cycle in a tenant's stored hierarchy. Cedar refuses
 * every request over an entity set whose parent graph has a cycle ("input graph has a cycle"),
 * and a bulk replace is checked whole by Cedar; a merge or a single-entity write is checked
 * here against what the store already holds, so the stored set stays one Cedar accepts.
 */
import { VerityError } from './errors.js';
import { formatEntityUid, UidMap } from './entity-uid.js';
import type { Entity, EntityUid } from './types.js';

/** Most entities (written and stored ancestors) one check reads before it refuses the write. */
export const MAX_CYCLE_CHECK_ENTITIES = 100_000;

/**
 * Throw ERR_ENTITY_INVALID when `written` (replacing the stored entities of the same uids),
 * laid over the stored ones `lookup` returns, has a parent cycle: one of them among its own
 * ancestors. Reads the written entities' ancestors, a frontier at a time; refuses the write
 * (ERR_ENTITY_INVALID) when they are more than MAX_CYCLE_CHECK_ENTITIES, never writes unchecked.
 */
export async function assertNoHierarchyCycle(written: readonly Entity[], lookup: (uids: EntityUid[]) => Promise<readonly Entity[]>): Promise<void> {
  // Every uid reached upwards from the written entities, with its parents (the written version wins).
  const parentsOf = new UidMap<readonly EntityUid[]>();
  for (const entity of written) parentsOf.set(entity.uid, entity.parents);
  let frontier = unknownParents(written.map((entity) => entity.uid), parentsOf);
  while (frontier.length > 0) {
    if (parentsOf.size + frontier.length > MAX_CYCLE_CHECK_ENTITIES) {
      throw new VerityError('ERR_ENTITY_INVALID', `the written entities have more than ${MAX_CYCLE_CHECK_ENTITIES} ancestors (MAX_CYCLE_CHECK_ENTITIES): too many to check for a cycle; import the whole set with mode "replace"`);
    }
    const found = new UidMap<Entity>();
    for (const entity of await lookup(frontier)) found.set(entity.uid, entity);
    for (const uid of frontier) parentsOf.set(uid, found.get(uid)?.parents ?? []);
    frontier = unknownParents(frontier, parentsOf);
  }
  // Depth-first over the reached graph (iteratively: it may be deep): a parent still on the
  // path is a cycle. The stored set had none, so any cycle passes through a written entity.
  const state = new UidMap<1 | 2>(); // 1: on the path, 2: done
  for (const root of written) {
    if (state.has(root.uid)) continue;
    const path: EntityUid[] = [root.uid];
    const next: number[] = [0];
    state.set(root.uid, 1);
    while (path.length > 0) {
      const top = path.length - 1;
      const uid = path[top] as EntityUid;
      const parents = parentsOf.get(uid) ?? [];
      const i = next[top] as number;
      if (i >= parents.length) {
        state.set(uid, 2);
        path.pop();
        next.pop();
        continue;
      }
      next[top] = i + 1;
      const parent = parents[i] as EntityUid;
      const seen = state.get(parent);
      if (seen === 1) throw new VerityError('ERR_ENTITY_INVALID', `the entities would form a parent cycle through ${formatEntityUid(parent).slice(0, 200)}: Cedar refuses every request over a hierarchy with a cycle`);
      if (seen === undefined) {
        state.set(parent, 1);
        path.push(parent);
        next.push(0);
      }
    }
  }
}

/** The parents of `uids` not yet in `parentsOf`, each once. */
function unknownParents(uids: readonly EntityUid[], parentsOf: UidMap<readonly EntityUid[]>): EntityUid[] {
  const out: EntityUid[] = [];
  const taken = new UidMap<true>();
  for (const uid of uids) {
    for (const parent of parentsOf.get(uid) ?? []) {
      if (parentsOf.has(parent) || taken.has(parent)) continue;
      taken.set(parent, true);
      out.push(parent);
    }
  }
  return out;
}
