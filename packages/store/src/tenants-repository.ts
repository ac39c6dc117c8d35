/** Tenants: creation, lookup, listing and settings updates. */
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
}

const COLUMNS = 'id, name, settings, active_version, created_at';

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
          throw new VerityError('ERR_TENANT_EXISTS', `tenant "${input.id}" already exists`, { cause: error });
        }
        if (isUnstorableText(error)) throw new VerityError('ERR_TENANT_INVALID', `the tenant ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },
    async get(id) {
      const { rows } = await db.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
      return rows[0] === undefined ? null : toTenant(rows[0]);
    },
    async list() {
      const { rows } = await db.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants ORDER BY id`);
      return rows.map(toTenant);
    },
    async updateSettings(id, change) {
      // One statement: concurrent updates of different keys both land, and none is half-applied.
      try {
        const { rows } = await db.query<TenantRow>(
          `UPDATE tenants SET settings = (settings || $2::jsonb) - $3::text[] WHERE id = $1 RETURNING ${COLUMNS}`,
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
  };
}
