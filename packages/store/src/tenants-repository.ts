/** Tenants: creation, lookup, listing, versioned settings changes, deletion and the removal of a deleted tenant's audit. */
import { GENESIS_HASH, VerityError } from '@verity/core';
import type { Tenant, TenantSettings, TenantSettingsVersion, TenantSettingsVersionInfo } from '@verity/core';
import { UNSTORABLE_TEXT_MESSAGE, isUniqueViolation, isUnstorableText } from './sql-errors.js';
import { firstRow, fromJson, toIsoTime, toJsonParam, toNumber } from './sql-values.js';
import type { Database, SettingsWriteOptions, SqlClient, Store, StoredSettingsChange } from './types.js';

interface TenantRow {
  id: string;
  name: string;
  settings: unknown;
  settings_version: unknown;
  active_version: unknown;
  created_at: unknown;
  deleted_at: unknown;
}

interface SettingsVersionRow {
  version: unknown;
  settings?: unknown;
  created_by: string;
  message: string;
  restored_from: unknown;
  created_at: unknown;
  current: boolean;
}

const COLUMNS = 'id, name, settings, settings_version, active_version, created_at, deleted_at';

const VERSION_COLUMNS = 'v.version, v.created_by, v.message, v.restored_from, v.created_at, v.version = t.settings_version AS current';

/** Who made a settings version when the caller does not say: Verity itself. */
const VERITY = 'verity';

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
        return await db.transaction(async (tx) => {
          const { rows } = await tx.query<TenantRow>(`INSERT INTO tenants (id, name, settings) VALUES ($1, $2, $3::jsonb) RETURNING ${COLUMNS}`, [input.id, input.name, toJsonParam(input.settings)]);
          await recordSettingsVersion(tx, input.id, input, null);
          return toTenant(firstRow(rows));
        });
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
    async updateSettings(id, change, options = {}) {
      try {
        return await db.transaction(async (tx) => {
          const tenant = await writeSettings(tx, id, change, options.ifVersion);
          if (tenant !== null) await recordSettingsVersion(tx, id, options, 'replace' in change ? change.restoredFrom : null);
          return tenant;
        });
      } catch (error) {
        if (isUniqueViolation(error, TRUST_DOMAIN_INDEX)) throw trustDomainTaken(error);
        if (isUnstorableText(error)) throw new VerityError('ERR_TENANT_INVALID', `the settings ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },
    async listSettingsVersions(id) {
      const { rows } = await db.query<SettingsVersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM tenant_settings_versions v JOIN tenants t ON t.id = v.tenant_id WHERE v.tenant_id = $1 ORDER BY v.version`,
        [id],
      );
      return rows.map((row) => toVersionInfo(id, row));
    },
    async getSettingsVersion(id, version) {
      if (!Number.isInteger(version)) return null;
      const { rows } = await db.query<SettingsVersionRow>(
        `SELECT ${VERSION_COLUMNS}, v.settings FROM tenant_settings_versions v JOIN tenants t ON t.id = v.tenant_id WHERE v.tenant_id = $1 AND v.version = $2`,
        [id, version],
      );
      const row = rows[0];
      return row === undefined ? null : ({ ...toVersionInfo(id, row), settings: fromJson<TenantSettings>(row.settings) } satisfies TenantSettingsVersion);
    },
    removeAudit(id, exportedThrough) {
      return db.transaction(async (tx) => {
        // A tombstone stays one: no lock on the tenant's row (an appender holding the head lock
        // takes a key-share lock on it for its inserts; locking it here could deadlock with one).
        const { rows: tenants } = await tx.query<{ deleted: boolean }>('SELECT deleted_at IS NOT NULL AS deleted FROM tenants WHERE id = $1', [id]);
        if (tenants[0] === undefined) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${id}"`);
        if (!tenants[0].deleted) throw new VerityError('ERR_AUDIT_TENANT_LIVE', `tenant "${id}" is live: only a deleted tenant's audit is removed (delete the tenant first)`);
        // The lock every appender takes before chaining (audit-append.mjs): none is half done, and
        // the head read here is the last record until this transaction ends.
        const { rows: heads } = await tx.query<{ seq: unknown; hash: string }>('SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE', [id]);
        const head = heads[0] === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: toNumber(heads[0].seq), hash: heads[0].hash };
        if (head.seq !== exportedThrough.seq || head.hash !== exportedThrough.hash) {
          throw new VerityError('ERR_AUDIT_NOT_EXPORTED', `the audit of "${id}" ends at seq ${head.seq} (hash ${head.hash}), not where the export did (seq ${exportedThrough.seq}): export the rest, then remove it`);
        }
        const { rows } = await tx.query<{ n: unknown }>('WITH gone AS (DELETE FROM audit_events WHERE tenant_id = $1 RETURNING 1) SELECT count(*) AS n FROM gone', [id]);
        await tx.query('DELETE FROM audit_checkpoints WHERE tenant_id = $1', [id]);
        await tx.query('DELETE FROM audit_heads WHERE tenant_id = $1', [id]);
        return { removed: toNumber(rows[0]?.n ?? 0) };
      });
    },
  };
}

/**
 * Apply a settings change to a live tenant's row, numbering the result: the row lock the UPDATE
 * takes orders concurrent changes, each merged into the settings the one before left. Null when
 * there is no such tenant; ERR_TENANT_SETTINGS_CONFLICT when `ifVersion` is not the current one.
 */
async function writeSettings(tx: SqlClient, id: string, change: StoredSettingsChange, ifVersion: number | undefined): Promise<Tenant | null> {
  const [settings, params] = 'replace' in change ? ['$2::jsonb', [id, toJsonParam(change.replace)]] : ['(settings || $2::jsonb) - $3::text[]', [id, toJsonParam(change.set), [...change.remove]]];
  const guard = ifVersion === undefined ? '' : ` AND settings_version = $${params.length + 1}`;
  const { rows } = await tx.query<TenantRow>(
    `UPDATE tenants SET settings = ${settings}, settings_version = settings_version + 1 WHERE id = $1 AND deleted_at IS NULL${guard} RETURNING ${COLUMNS}`,
    ifVersion === undefined ? params : [...params, ifVersion],
  );
  if (rows[0] !== undefined) return toTenant(rows[0]);
  if (ifVersion === undefined) return null;
  const { rows: live } = await tx.query<{ settings_version: unknown }>('SELECT settings_version FROM tenants WHERE id = $1 AND deleted_at IS NULL', [id]);
  if (live[0] === undefined) return null;
  throw new VerityError('ERR_TENANT_SETTINGS_CONFLICT', `the settings of "${id}" are at version ${toNumber(live[0].settings_version)}, not ${ifVersion}: read them again, then change them`);
}

/** Copy the tenant's settings, as they now are, into the settings version their number names. */
async function recordSettingsVersion(tx: SqlClient, id: string, author: SettingsWriteOptions, restoredFrom: number | null): Promise<void> {
  await tx.query(
    `INSERT INTO tenant_settings_versions (tenant_id, version, settings, created_by, message, restored_from)
     SELECT id, settings_version, settings, $2, $3, $4 FROM tenants WHERE id = $1`,
    [id, author.createdBy ?? VERITY, author.message ?? '', restoredFrom],
  );
}

function toVersionInfo(tenant: string, row: SettingsVersionRow): TenantSettingsVersionInfo {
  return {
    tenant,
    version: toNumber(row.version),
    createdAt: toIsoTime(row.created_at),
    createdBy: row.created_by,
    message: row.message,
    restoredFrom: row.restored_from === null || row.restored_from === undefined ? null : toNumber(row.restored_from),
    current: row.current === true,
  };
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    createdAt: toIsoTime(row.created_at),
    activeVersion: row.active_version === null ? null : toNumber(row.active_version),
    settings: fromJson<TenantSettings>(row.settings),
    settingsVersion: toNumber(row.settings_version),
    ...(row.deleted_at === null || row.deleted_at === undefined ? {} : { deletedAt: toIsoTime(row.deleted_at) }),
  };
}
