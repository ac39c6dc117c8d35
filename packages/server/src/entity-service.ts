/** Tenants' entity stores (the PIP): validated writes, and a cache for the decision path. */
import { requireTenant } from './require-tenant.js';
import { assertNoHierarchyCycle, formatEntityUid, isPlainObject, UidMap, VerityError, type Engine, type Entity, type EntityUid } from '@verity/core';
import type { EntityPage, Store } from '@verity/store';
import { EntityCache } from './entity-cache.js';
import type { CacheStats } from './metrics.js';
import type { PolicyService } from './policy-service.js';
import type { PublishChange } from './change-feed.js';

export interface EntityService {
  /**
   * Entities among `uids` for a decision (cached; misses are cached too): without a promise
   * when every uid is cached (most decisions), so the slice does not wait a turn for them.
   */
  getMany(tenantId: string, uids: EntityUid[]): Promise<Entity[]> | Entity[];
  get(tenantId: string, uid: EntityUid): Promise<Entity>;
  list(tenantId: string, options: { type?: string; after?: string; limit: number }): Promise<EntityPage>;
  import(tenantId: string, entities: unknown, mode: 'merge' | 'replace'): Promise<number>;
  remove(tenantId: string, uid: EntityUid): Promise<void>;
  /** Forget cached entities of a tenant (after a change made elsewhere). */
  invalidate(tenantId: string): void;
  invalidateAll(): void;
  /** Entity look-ups of decisions answered from the cache, and read from the store, since start. */
  cacheStats(): CacheStats;
}

/** An entity uid: a non-empty type and any id (Cedar allows the empty string as an id). */
function parseUid(value: unknown, path: string): EntityUid {
  if (!isPlainObject(value) || typeof value.type !== 'string' || typeof value.id !== 'string' || value.type === '') {
    throw new VerityError('ERR_ENTITY_INVALID', `${path} must be {"type": non-empty string, "id": string}`);
  }
  return { type: value.type, id: value.id };
}

/** Check the shape of Cedar entity JSON; the engine checks values and the schema after. */
export function parseEntities(value: unknown): Entity[] {
  if (!Array.isArray(value)) throw new VerityError('ERR_ENTITY_INVALID', 'entities must be an array of Cedar entities');
  return value.map((item, i) => {
    if (!isPlainObject(item)) throw new VerityError('ERR_ENTITY_INVALID', `entities[${i}] must be an object`);
    const entity: Entity = { uid: parseUid(item.uid, `entities[${i}].uid`), attrs: {}, parents: [] };
    if (item.attrs !== undefined) {
      if (!isPlainObject(item.attrs)) throw new VerityError('ERR_ENTITY_INVALID', `entities[${i}].attrs must be an object`);
      entity.attrs = item.attrs as Entity['attrs'];
    }
    if (item.parents !== undefined) {
      if (!Array.isArray(item.parents)) throw new VerityError('ERR_ENTITY_INVALID', `entities[${i}].parents must be an array`);
      entity.parents = item.parents.map((p, j) => parseUid(p, `entities[${i}].parents[${j}]`));
    }
    if (item.tags !== undefined) {
      if (!isPlainObject(item.tags)) throw new VerityError('ERR_ENTITY_INVALID', `entities[${i}].tags must be an object`);
      entity.tags = item.tags as Entity['attrs'];
    }
    return entity;
  });
}

export function createEntityService(store: Store, engine: Engine, policies: PolicyService, options: { cacheSize?: number; publish?: PublishChange } = {}): EntityService {
  // A write replaces the tenant's cached view at once (entity-cache.ts).
  const cache = new EntityCache(options.cacheSize ?? 100_000);
  const publish = options.publish ?? (async ({ tenant }) => cache.invalidate(tenant));

  async function schemaOf(tenantId: string): Promise<{ schema?: string; types: ReadonlySet<string> | null }> {
    try {
      const active = await policies.active(tenantId);
      return active.content.schema === undefined ? { types: null } : { schema: active.content.schema, types: active.prepared.entityTypes };
    } catch (error) {
      if (error instanceof VerityError && error.code === 'ERR_POLICY_NO_ACTIVE_VERSION') return { types: null };
      throw error;
    }
  }

  const counts: CacheStats = { hits: 0, misses: 0 };

  return {
    cacheStats: () => ({ ...counts }),

    getMany(tenantId, uids) {
      // The view before the read: an invalidation during it makes the result a miss for later
      // decisions instead of a stale hit.
      const view = cache.view(tenantId);
      const found: Entity[] = [];
      const missing: EntityUid[] = [];
      for (const uid of uids) {
        const hit = cache.get(view, uid);
        if (hit === undefined) missing.push(uid);
        else if (hit !== null) found.push(hit);
      }
      counts.hits += uids.length - missing.length;
      counts.misses += missing.length;
      if (missing.length === 0) return found;
      return store.entities.getMany(tenantId, missing).then((loaded) => {
        const byUid = new UidMap<Entity>();
        for (const entity of loaded) byUid.set(entity.uid, entity);
        for (const uid of missing) {
          const entity = byUid.get(uid) ?? null;
          cache.set(view, uid, entity);
          if (entity) found.push(entity);
        }
        return found;
      });
    },

    async get(tenantId, uid) {
      await requireTenant(store, tenantId);
      const [entity] = await store.entities.getMany(tenantId, [uid]);
      if (!entity) throw new VerityError('ERR_ENTITY_NOT_FOUND', `no entity ${formatEntityUid(uid)}`);
      return entity;
    },

    async list(tenantId, options) {
      await requireTenant(store, tenantId);
      return store.entities.list(tenantId, options);
    },

    async import(tenantId, value, mode) {
      await requireTenant(store, tenantId);
      const entities = parseEntities(value);
      const { schema, types } = await schemaOf(tenantId);
      if (types) {
        const unknown = entities.find((e) => !types.has(e.uid.type) && !/(^|::)Action$/.test(e.uid.type));
        if (unknown) throw new VerityError('ERR_ENTITY_UNKNOWN_TYPE', `entity type "${unknown.uid.type}" is not in the tenant's schema`);
      }
      const diagnostics = await engine.checkEntities(entities, schema);
      if (diagnostics.length > 0) throw new VerityError('ERR_ENTITY_INVALID', 'the entities are not valid Cedar entities', { diagnostics });
      // Replace: Cedar checked the whole set (a cycle included). Merge: the written entities
      // laid over the stored ones must not close a parent cycle either (checked in the write's
      // transaction, against the store as it is then).
      const count =
        mode === 'replace'
          ? await store.entities.replaceAll(tenantId, entities)
          : await store.entities.upsert(tenantId, entities, (getMany) => assertNoHierarchyCycle(entities, getMany));
      await publish({ tenant: tenantId, kind: 'entities' });
      return count;
    },

    async remove(tenantId, uid) {
      await requireTenant(store, tenantId);
      if (!(await store.entities.delete(tenantId, uid))) throw new VerityError('ERR_ENTITY_NOT_FOUND', `no entity ${formatEntityUid(uid)}`);
      await publish({ tenant: tenantId, kind: 'entities' });
    },

    invalidate(tenantId) {
      cache.invalidate(tenantId);
    },

    invalidateAll() {
      cache.clear();
    },
  };
}
