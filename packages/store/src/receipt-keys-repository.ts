/** Data-tier receipt-signing keys: sealed HMAC secrets moving pending → active → retired. */
import { VerityError } from '@verity/core';
import { isForeignKeyViolation } from './sql-errors.js';
import { firstRow, toNumber } from './sql-values.js';
import { requireTenant, tenantNotFound } from './tenant-guard.js';
import type { Database, ReceiptKeyState, Store, StoredReceiptKey } from './types.js';

interface ReceiptKeyRow {
  tenant_id: string;
  kid: string;
  sealed_secret: string;
  state: ReceiptKeyState;
  created_at_ms: unknown;
  activated_at_ms: unknown;
  retired_at_ms: unknown;
  verify_until_ms: unknown;
}

const COLUMNS = 'tenant_id, kid, sealed_secret, state, created_at_ms, activated_at_ms, retired_at_ms, verify_until_ms';

const toNumberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : toNumber(value));

function toKey(row: ReceiptKeyRow): StoredReceiptKey {
  return {
    tenant: row.tenant_id,
    kid: row.kid,
    sealedSecret: row.sealed_secret,
    state: row.state,
    createdAtMs: toNumber(row.created_at_ms),
    activatedAtMs: toNumberOrNull(row.activated_at_ms),
    retiredAtMs: toNumberOrNull(row.retired_at_ms),
    verifyUntilMs: toNumberOrNull(row.verify_until_ms),
  };
}

/** The `receiptKeys` repository of a {@link Store}. */
export function createReceiptKeysRepository(db: Database): Store['receiptKeys'] {
  return {
    async create(key) {
      try {
        const { rows } = await db.query<ReceiptKeyRow>(
          `INSERT INTO receipt_keys (kid, tenant_id, sealed_secret, state, created_at_ms) VALUES ($1, $2, $3, 'pending', $4) RETURNING ${COLUMNS}`,
          [key.kid, key.tenant, key.sealedSecret, key.createdAtMs],
        );
        return toKey(firstRow(rows));
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(key.tenant);
        throw error;
      }
    },

    async list(tenant) {
      const { rows } = await db.query<ReceiptKeyRow>(`SELECT ${COLUMNS} FROM receipt_keys WHERE tenant_id = $1 ORDER BY created_at_ms, kid`, [tenant]);
      return rows.map(toKey);
    },

    async active(tenant) {
      const { rows } = await db.query<ReceiptKeyRow>(`SELECT ${COLUMNS} FROM receipt_keys WHERE tenant_id = $1 AND state = 'active'`, [tenant]);
      return rows[0] === undefined ? null : toKey(rows[0]);
    },

    activate(tenant, kid, { nowMs, verifyUntilMs }) {
      return db.transaction(async (tx) => {
        // The tenant row lock serializes activations of one tenant (replicas, concurrent rotations).
        await requireTenant(tx, tenant, 'no-key-update');
        const { rows } = await tx.query<ReceiptKeyRow>(`SELECT ${COLUMNS} FROM receipt_keys WHERE tenant_id = $1 AND kid = $2`, [tenant, kid]);
        const found = rows[0];
        if (found === undefined) throw new VerityError('ERR_RECEIPT_KEY_NOT_FOUND', 'the tenant has no receipt key with this kid');
        if (found.state !== 'pending') throw new VerityError('ERR_RECEIPT_KEY_NOT_PENDING', `the receipt key is ${found.state}: only a pending key can be activated`);
        await tx.query(`DELETE FROM receipt_keys WHERE tenant_id = $1 AND state = 'retired' AND verify_until_ms < $2`, [tenant, nowMs]);
        await tx.query(`UPDATE receipt_keys SET state = 'retired', retired_at_ms = $2, verify_until_ms = $3 WHERE tenant_id = $1 AND state = 'active'`, [tenant, nowMs, verifyUntilMs]);
        const updated = await tx.query<ReceiptKeyRow>(`UPDATE receipt_keys SET state = 'active', activated_at_ms = $3 WHERE tenant_id = $1 AND kid = $2 RETURNING ${COLUMNS}`, [tenant, kid, nowMs]);
        return toKey(firstRow(updated.rows));
      });
    },
  };
}
