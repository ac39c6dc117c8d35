/** Device trust: registered devices and the posture their MDM last reported. */
import { isForeignKeyViolation } from './sql-errors.js';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Database, Store, StoredDevice } from './types.js';

interface DeviceRow {
  tenant_id: string;
  id: string;
  posture: unknown;
  compliant: boolean;
  issues: unknown;
  registered_at_ms: unknown;
  updated_at_ms: unknown;
}

const COLUMNS = 'tenant_id, id, posture, compliant, issues, registered_at_ms, updated_at_ms';

const toDevice = (row: DeviceRow): StoredDevice => ({
  tenant: row.tenant_id,
  id: row.id,
  posture: fromJson<Record<string, unknown>>(row.posture),
  compliant: row.compliant,
  issues: fromJson<string[]>(row.issues),
  registeredAtMs: toNumber(row.registered_at_ms),
  updatedAtMs: toNumber(row.updated_at_ms),
});

/** The `devices` repository of a {@link Store}. */
export function createDevicesRepository(db: Database): Store['devices'] {
  return {
    async put(tenant, device, nowMs) {
      try {
        // Insert, or read the one already there. A removal committing between the two leaves
        // nothing to read: then insert again (each round, one of the two statements finds a row
        // unless yet another removal races it).
        for (;;) {
          const { rows } = await db.query<DeviceRow>(
            `INSERT INTO devices (${COLUMNS}) VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6, $6)
             ON CONFLICT (tenant_id, id) DO NOTHING RETURNING ${COLUMNS}`,
            [tenant, device.id, toJsonParam(device.posture), device.compliant, toJsonParam(device.issues), nowMs],
          );
          if (rows[0] !== undefined) return { device: toDevice(rows[0]), created: true };
          const existing = await db.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE tenant_id = $1 AND id = $2`, [tenant, device.id]);
          if (existing.rows[0] !== undefined) return { device: toDevice(existing.rows[0]), created: false };
        }
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
        throw error;
      }
    },

    async report(tenant, device, nowMs) {
      const { rows } = await db.query<DeviceRow>(
        `UPDATE devices SET posture = $3::jsonb, compliant = $4, issues = $5::jsonb, updated_at_ms = $6
         WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        [tenant, device.id, toJsonParam(device.posture), device.compliant, toJsonParam(device.issues), nowMs],
      );
      return rows[0] === undefined ? null : toDevice(rows[0]);
    },

    async list(tenant) {
      const { rows } = await db.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE tenant_id = $1 ORDER BY id`, [tenant]);
      return rows.map(toDevice);
    },

    async remove(tenant, id) {
      const { rows } = await db.query('DELETE FROM devices WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, id]);
      return rows.length > 0;
    },
  };
}
