/** Each tenant's entity store (Cedar entity JSON), with keyset pagination. */
import { isStorableText, VerityError } from '@verity/core';
import type { CedarValue, Entity, EntityUid } from '@verity/core';
import { UNSTORABLE_TEXT_MESSAGE, isUnstorableText } from './sql-errors.js';
import { fromJson, toJsonParam } from './sql-values.js';
import { requireTenant } from './tenant-guard.js';
import type { Database, SqlClient, Store } from './types.js';

interface EntityRow {
  type: string;
  id: string;
  attrs: unknown;
  parents: unknown;
  tags: unknown;
}

// As text: the drivers' own jsonb parsing would round integers beyond 2^53 (see fromJson).
const COLUMNS = 'type, id, attrs::text AS attrs, parents::text AS parents, tags::text AS tags';

/**
 * Writes pass the whole batch as one jsonb parameter expanded by jsonb_to_recordset: one
 * statement per batch whatever its size (no 65535-parameter limit), identical on both drivers.
 */
const INSERT_BATCH = `INSERT INTO entities (tenant_id, type, id, attrs, parents, tags)
  SELECT $1, e.type, e.id, e.attrs, e.parents, e.tags
  FROM jsonb_to_recordset($2::jsonb) AS e(type text, id text, attrs jsonb, parents jsonb, tags jsonb)`;

/** The `entities` repository of a {@link Store}. */
export function createEntitiesRepository(db: Database): Store['entities'] {
  return {
    async upsert(tenant, entities, check) {
      const unique = dedupe(entities);
      await db.transaction(async (tx) => {
        // With a check: locked as replaceAll locks, so it sees every write before it and none after.
        await requireTenant(tx, tenant, check === undefined ? undefined : 'no-key-update');
        if (check !== undefined) await check((uids) => getManyWith(tx, tenant, uids));
        await insertBatch(
          tx,
          tenant,
          unique,
          ' ON CONFLICT (tenant_id, type, id) DO UPDATE SET attrs = EXCLUDED.attrs, parents = EXCLUDED.parents, tags = EXCLUDED.tags',
        );
      });
      return unique.length;
    },
    async replaceAll(tenant, entities) {
      const unique = dedupe(entities);
      await db.transaction(async (tx) => {
        // Locked so two concurrent replaceAll calls apply one after the other.
        await requireTenant(tx, tenant, 'no-key-update');
        await tx.query('DELETE FROM entities WHERE tenant_id = $1', [tenant]);
        await insertBatch(tx, tenant, unique, '');
      });
      return unique.length;
    },
    async delete(tenant, uid) {
      if (!storable(uid)) {
        await requireTenant(db, tenant);
        return false;
      }
      const { rows } = await db.query('DELETE FROM entities WHERE tenant_id = $1 AND type = $2 AND id = $3 RETURNING id', [
        tenant,
        uid.type,
        uid.id,
      ]);
      if (rows.length > 0) return true;
      await requireTenant(db, tenant);
      return false;
    },
    getMany: (tenant, uids) => getManyWith(db, tenant, uids),
    async list(tenant, options) {
      if (!Number.isInteger(options.limit) || options.limit < 1) throw new TypeError('entities.list: limit must be a positive integer');
      const after = options.after === undefined ? null : decodeCursor(options.after);
      const { rows } = await db.query<EntityRow>(
        `SELECT ${COLUMNS} FROM entities
         WHERE tenant_id = $1 AND ($2::text IS NULL OR type = $2::text)
           AND ($3::text IS NULL OR (type, id) > ($3::text, $4::text))
         ORDER BY type, id LIMIT $5`,
        [tenant, options.type ?? null, after?.type ?? null, after?.id ?? null, options.limit + 1],
      );
      const page = rows.slice(0, options.limit).map(toEntity);
      const last = page[page.length - 1];
      return { entities: page, next: rows.length > options.limit && last !== undefined ? encodeCursor(last.uid) : null };
    },
    async listIds(tenant, type) {
      const { rows } = await db.query<{ id: string }>('SELECT id FROM entities WHERE tenant_id = $1 AND type = $2 ORDER BY id', [
        tenant,
        type,
      ]);
      return rows.map((row) => row.id);
    },
  };
}

/** The stored entities among `uids`, read through `client` (the store, or a transaction). */
async function getManyWith(client: SqlClient, tenant: string, uids: readonly EntityUid[]): Promise<Entity[]> {
  // A uid the store cannot hold (a policy may name `User::"a\0b"`) is simply not there.
  const held = uids.filter(storable);
  if (held.length === 0) return [];
  const { rows } = await client.query<EntityRow>(
    `SELECT ${COLUMNS} FROM entities WHERE tenant_id = $1 AND (type, id) IN
       (SELECT u.type, u.id FROM jsonb_to_recordset($2::jsonb) AS u(type text, id text))
     ORDER BY type, id`,
    [tenant, toJsonParam(held.map((uid) => ({ type: uid.type, id: uid.id })))],
  );
  return rows.map(toEntity);
}

async function insertBatch(tx: SqlClient, tenant: string, entities: readonly Entity[], onConflict: string): Promise<void> {
  if (entities.length === 0) return;
  const batch = entities.map((entity) => ({
    type: entity.uid.type,
    id: entity.uid.id,
    attrs: entity.attrs,
    parents: entity.parents,
    tags: entity.tags ?? null,
  }));
  try {
    await tx.query(INSERT_BATCH + onConflict, [tenant, toJsonParam(batch)]);
  } catch (error) {
    // The transaction rolls back, so a batch holding one such entity writes nothing.
    if (isUnstorableText(error)) throw new VerityError('ERR_ENTITY_INVALID', `an entity ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
    throw error;
  }
}

/** Whether a uid is text the store can hold (so it may be stored at all). */
function storable(uid: EntityUid): boolean {
  return isStorableText(uid.type) && isStorableText(uid.id);
}

/** Last occurrence wins, as if the batch were applied in order (ON CONFLICT cannot touch a row twice). */
function dedupe(entities: readonly Entity[]): Entity[] {
  const byUid = new Map<string, Entity>();
  for (const entity of entities) {
    const key = JSON.stringify([entity.uid.type, entity.uid.id]);
    byUid.delete(key);
    byUid.set(key, entity);
  }
  return [...byUid.values()];
}

function toEntity(row: EntityRow): Entity {
  const entity: Entity = {
    uid: { type: row.type, id: row.id },
    attrs: fromJson<Record<string, CedarValue>>(row.attrs),
    parents: fromJson<EntityUid[]>(row.parents).map((parent) => ({ type: parent.type, id: parent.id })),
  };
  const tags = fromJson<Record<string, CedarValue> | null>(row.tags);
  if (tags !== null) entity.tags = tags;
  return entity;
}

/** The cursor is base64url of `[type, id]` of the page's last entity; callers treat it as opaque. */
function encodeCursor(uid: EntityUid): string {
  return Buffer.from(JSON.stringify([uid.type, uid.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): EntityUid {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { type: value[0], id: value[1] };
    }
  } catch {
    // Falls through to the domain error below: a malformed cursor is untrusted input.
  }
  throw new VerityError('ERR_REQUEST_INVALID', 'invalid entity page cursor');
}
