/** Tenants: creation, lookup, listing, settings updates and deletion. */
import { VerityError } from '@verity/core';
import type { Tenant, TenantSettings } from '@verity/core';
import { UNSTORABLE_TEXT_MESSAGE, isUniqueViolation, isUnstorableText } from './sql-errors.js';
import { firstRow, fromJson, toIsoTime, toJsonParam, toNumber } from './sql-values.js';
import type { Database, Store } from './types.js';

interface TenantRow {
  id: string;
  name: string;
  settings: unknown;
  active_version: unknown;
  created_at: unknown;
  deleted_at: unknown;
}

const COLUMNS = 'id, name, settings, active_version, created_at, deleted_at';

/**
 * What a deletion keeps (with the tenant's row, as a tombstone): its audit, and the deny list of
 * its removed workloads, which every tenant consults until their SVIDs expire (a deletion must
 * not lift it). The tombstone also keeps a chosen `trust_domain`, so no new tenant can take the
 * name and issue SVIDs for ids still denied or still live in others' caches.
 */
const KEPT_ON_DELETE = new Set(['audit_events', 'audit_heads', 'audit_checkpoints', 'workload_denied']);

/** Every table with a foreign key to `tenants`, and its column, from the catalog (quoted identifiers). */
const TENANT_REFERENCES = `
SELECT c.conrelid::regclass::text AS table_name, quote_ident(a.attname) AS column_name
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = 'tenants'::regclass AND c.conrelid <> 'tenants'::regclass
ORDER BY 1`;

/** The unique index that gives each `trust_domain` setting one tenant (migration 9). */
const TRUST_DOMAIN_INDEX = 'tenants_trust_domain_idx';

const trustDomainTaken = (cause: unknown) => new VerityError('ERR_TENANT_INVALID', 'settings.trust_domain is already the trust domain of another tenant', { cause });

/** The `tenants` repository of a {@link Store}. */
export function createTenantsRepository(db: Database): Store['tenants'] {
  return {
    async create(input) {
      try {
        const { rows } = await db.query<TenantRow>(
          `INSERT INTO tenants (id, name, settings) VALUES ($1, $2, $3::jsonb) RETURNING ${COLUMNS}`,
          [input.id, input.name, toJsonParam(input.settings)],
        );
        return toTenant(firstRow(rows));
      } catch (error) {
        if (isUniqueViolation(error, TRUST_DOMAIN_INDEX)) throw trustDomainTaken(error);
        if (isUniqueViolation(error)) {
          const { rows } = await db.query<{ deleted: boolean }>('SELECT deleted_at IS NOT NULL AS deleted FROM tenants WHERE id = $1', [input.id]);
          const deleted = rows[0]?.deleted === true;
          throw new VerityError('ERR_TENANT_EXISTS', deleted ? `tenant "${input.id}" was deleted: its id is kept with its audit and not used again` : `tenant "${input.id}" already exists`, { cause: error });
        }
        if (isUnstorableText(error)) throw new VerityError('ERR_TENANT_INVALID', `the tenant ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },
    async get(id, options = {}) {
      const { rows } = await db.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1${options.includeDeleted === true ? '' : ' AND deleted_at IS NULL'}`, [id]);
      return rows[0] === undefined ? null : toTenant(rows[0]);
    },
    async list() {
      const { rows } = await db.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE deleted_at IS NULL ORDER BY id`);
      return rows.map(toTenant);
    },
    delete(id) {
      return db.transaction(async (tx) => {
        // The row lock waits for writes that reference the tenant (their foreign-key checks share it).
        const { rows } = await tx.query('SELECT id FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [id]);
        if (rows.length === 0) return false;
        await tx.query('UPDATE tenants SET active_version = NULL WHERE id = $1', [id]);
        const { rows: references } = await tx.query<{ table_name: string; column_name: string }>(TENANT_REFERENCES);
        for (const { table_name: table, column_name: column } of references) {
          if (!KEPT_ON_DELETE.has(table)) await tx.query(`DELETE FROM ${table} WHERE ${column} = $1`, [id]);
        }
        await tx.query(
          `UPDATE tenants SET deleted_at = now(), settings = CASE WHEN settings ? 'trust_domain' THEN jsonb_build_object('trust_domain', settings->'trust_domain') ELSE '{}'::jsonb END WHERE id = $1`,
          [id],
        );
        return true;
      });
    },
    async updateSettings(id, change) {
      // One statement: concurrent updates of different keys both land, and none is half-applied.
      try {
        const { rows } = await db.query<TenantRow>(
          `UPDATE tenants SET settings = (settings || $2::jsonb) - $3::text[] WHERE id = $1 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
          [id, toJsonParam(change.set), [...change.remove]],
        );
        return rows[0] === undefined ? null : toTenant(rows[0]);
      } catch (error) {
        if (isUniqueViolation(error, TRUST_DOMAIN_INDEX)) throw trustDomainTaken(error);
        if (isUnstorableText(error)) throw new VerityError('ERR_TENANT_INVALID', `the settings ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },
  };
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    createdAt: toIsoTime(row.created_at),
    activeVersion: row.active_version === null ? null : toNumber(row.active_version),
    settings: fromJson<TenantSettings>(row.settings),
    ...(row.deleted_at === null || row.deleted_at === undefined ? {} : { deletedAt: toIsoTime(row.deleted_at) }),
  };
}
