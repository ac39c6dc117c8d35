/** Policy-store versions: append-only per tenant, one of them active. */
import { VerityError } from '@verity/core';
import type { PolicyStoreContent, PolicyVersion, PolicyVersionInfo } from '@verity/core';
import { UNSTORABLE_TEXT_MESSAGE, isUniqueViolation, isUnstorableText } from './sql-errors.js';
import { firstRow, fromJson, toIsoTime, toJsonParam, toNumber } from './sql-values.js';
import { requireTenant } from './tenant-guard.js';
import type { Database, SqlClient, Store } from './types.js';

interface VersionRow {
  tenant_id: string;
  version: unknown;
  hash: string;
  created_by: string;
  message: string;
  created_at: unknown;
  active: boolean | null;
  content?: unknown;
}

const INFO_COLUMNS = `pv.tenant_id, pv.version, pv.hash, pv.created_by, pv.message, pv.created_at,
  (t.active_version IS NOT DISTINCT FROM pv.version) AS active`;
const FROM = 'FROM policy_versions pv JOIN tenants t ON t.id = pv.tenant_id';

/** The `policies` repository of a {@link Store}. */
export function createPoliciesRepository(db: Database): Store['policies'] {
  return {
    async createVersion(tenant, input) {
      try {
        return await db.transaction(async (tx) => {
          // The row lock makes max+1 safe: concurrent creators of one tenant queue here.
          await requireTenant(tx, tenant, 'no-key-update');
          const { rows } = await tx.query<{ next: unknown }>(
            'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM policy_versions WHERE tenant_id = $1',
            [tenant],
          );
          const version = toNumber(firstRow(rows).next);
          await tx.query(
            `INSERT INTO policy_versions (tenant_id, version, hash, content, created_by, message)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6)`,
            [tenant, version, input.hash, toJsonParam(input.content), input.createdBy, input.message],
          );
          if (input.activate !== false) {
            await tx.query('UPDATE tenants SET active_version = $2 WHERE id = $1', [tenant, version]);
          }
          return toInfo(firstRow(await selectVersions(tx, tenant, version, false)));
        });
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new VerityError('ERR_POLICY_VERSION_CONFLICT', `a concurrent change created the same version of "${tenant}"`, {
            cause: error,
          });
        }
        if (isUnstorableText(error)) throw new VerityError('ERR_REQUEST_INVALID', `the policy store ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },
    async listVersions(tenant) {
      return (await selectVersions(db, tenant, null, false)).map(toInfo);
    },
    async getVersion(tenant, version) {
      if (!isStorableVersion(version)) return null;
      const row = (await selectVersions(db, tenant, version, true))[0];
      return row === undefined ? null : toVersion(row);
    },
    async getActive(tenant) {
      const { rows } = await db.query<VersionRow>(
        `SELECT ${INFO_COLUMNS}, pv.content ${FROM} WHERE pv.tenant_id = $1 AND pv.version = t.active_version`,
        [tenant],
      );
      return rows[0] === undefined ? null : toVersion(rows[0]);
    },
    async activate(tenant, version) {
      return db.transaction(async (tx) => {
        await requireTenant(tx, tenant, 'no-key-update');
        if (!isStorableVersion(version)) throw versionNotFound(tenant, version);
        const updated = await tx.query(
          `UPDATE tenants SET active_version = $2 WHERE id = $1
             AND EXISTS (SELECT 1 FROM policy_versions WHERE tenant_id = $1 AND version = $2)
           RETURNING id`,
          [tenant, version],
        );
        if (updated.rows.length === 0) throw versionNotFound(tenant, version);
        return toInfo(firstRow(await selectVersions(tx, tenant, version, false)));
      });
    },
  };
}

/** One tenant's versions (all, or the one numbered `version`), oldest first. */
async function selectVersions(client: SqlClient, tenant: string, version: number | null, withContent: boolean): Promise<VersionRow[]> {
  const columns = withContent ? `${INFO_COLUMNS}, pv.content` : INFO_COLUMNS;
  const { rows } = await client.query<VersionRow>(
    `SELECT ${columns} ${FROM} WHERE pv.tenant_id = $1 AND ($2::integer IS NULL OR pv.version = $2::integer) ORDER BY pv.version`,
    [tenant, version],
  );
  return rows;
}

function toInfo(row: VersionRow): PolicyVersionInfo {
  return {
    tenant: row.tenant_id,
    version: toNumber(row.version),
    hash: row.hash,
    createdAt: toIsoTime(row.created_at),
    createdBy: row.created_by,
    message: row.message,
    active: row.active === true,
  };
}

function toVersion(row: VersionRow): PolicyVersion {
  return { ...toInfo(row), content: fromJson<PolicyStoreContent>(row.content) };
}

/** Versions are positive `integer` column values; anything else cannot name a stored version. */
function isStorableVersion(version: number): boolean {
  return Number.isInteger(version) && version > 0 && version <= 2_147_483_647;
}

function versionNotFound(tenant: string, version: number): VerityError {
  return new VerityError('ERR_POLICY_VERSION_NOT_FOUND', `tenant "${tenant}" has no policy version ${version}`);
}
