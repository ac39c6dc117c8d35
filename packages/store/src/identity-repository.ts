/** Identity sources, token-service clients, sealed signing keys and revocations. */
import { isForeignKeyViolation } from './sql-errors.js';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { requireTenant, tenantNotFound } from './tenant-guard.js';
import type { Database, IdentityRecord, SealedSigningKey, Store, StoredRevocation } from './types.js';

interface ConfigRow {
  tenant_id: string;
  id: string;
  config: unknown;
  secret_hash?: string | null;
}

/** Run a write, turning a foreign-key failure on tenant_id into ERR_TENANT_NOT_FOUND. */
async function forTenant<T>(tenant: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
    throw error;
  }
}

const toRecord = (row: ConfigRow): IdentityRecord => ({ id: row.id, tenant: row.tenant_id, config: fromJson<Record<string, unknown>>(row.config) });
const toClient = (row: ConfigRow) => ({ ...toRecord(row), secretHash: row.secret_hash ?? null });

/** The two key tables: token-service keys, and policy-bundle keys (a separate ring PEPs pin). */
type KeyTable = 'signing_keys' | 'bundle_signing_keys';

/** Replace the tenant's whole key ring in `table` in one transaction. */
function saveKeys(db: Database, table: KeyTable, tenant: string, keys: readonly SealedSigningKey[], expectedKids?: readonly string[]): Promise<boolean> {
  return db.transaction(async (tx) => {
    await requireTenant(tx, tenant, 'no-key-update');
    if (expectedKids !== undefined) {
      // Under the tenant's lock: another replica or worker that changed the ring since it was read wins.
      const { rows } = await tx.query<{ kid: string }>(`SELECT kid FROM ${table} WHERE tenant_id = $1`, [tenant]);
      const stored = new Set(rows.map((row) => row.kid));
      if (stored.size !== new Set(expectedKids).size || !expectedKids.every((kid) => stored.has(kid))) return false;
    }
    await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenant]);
    for (const key of keys) {
      await tx.query(`INSERT INTO ${table} (tenant_id, kid, sealed_key, created_at_ms, retire_after_ms) VALUES ($1, $2, $3, $4, $5)`, [
        tenant,
        key.kid,
        key.sealedKey,
        key.createdAtMs,
        key.retireAfterMs,
      ]);
    }
    return true;
  });
}

async function loadKeys(db: Database, table: KeyTable, tenant: string): Promise<SealedSigningKey[]> {
  const { rows } = await db.query<{ kid: string; sealed_key: string; created_at_ms: unknown; retire_after_ms: unknown }>(
    `SELECT kid, sealed_key, created_at_ms, retire_after_ms FROM ${table} WHERE tenant_id = $1 ORDER BY created_at_ms, kid`,
    [tenant],
  );
  return rows.map((row): SealedSigningKey => ({ kid: row.kid, sealedKey: row.sealed_key, createdAtMs: toNumber(row.created_at_ms), retireAfterMs: toNumber(row.retire_after_ms) }));
}

/** The `identity` repository of a {@link Store}. */
export function createIdentityRepository(db: Database): Store['identity'] {
  return {
    putSource: (source) =>
      forTenant(source.tenant, async () => {
        await db.query(
          `INSERT INTO identity_sources (tenant_id, id, config) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (tenant_id, id) DO UPDATE SET config = EXCLUDED.config`,
          [source.tenant, source.id, toJsonParam(source.config)],
        );
      }),
    async listSources(tenant) {
      const { rows } = await db.query<ConfigRow>('SELECT tenant_id, id, config FROM identity_sources WHERE tenant_id = $1 ORDER BY id', [tenant]);
      return rows.map(toRecord);
    },
    async deleteSource(tenant, id) {
      const { rows } = await db.query('DELETE FROM identity_sources WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, id]);
      return rows.length > 0;
    },
    putClient: (client) =>
      forTenant(client.tenant, async () => {
        await db.query(
          `INSERT INTO sts_clients (tenant_id, id, config, secret_hash) VALUES ($1, $2, $3::jsonb, $4)
           ON CONFLICT (tenant_id, id) DO UPDATE SET config = EXCLUDED.config, secret_hash = EXCLUDED.secret_hash`,
          [client.tenant, client.id, toJsonParam(client.config), client.secretHash],
        );
      }),
    async getClient(tenant, id) {
      const { rows } = await db.query<ConfigRow>('SELECT tenant_id, id, config, secret_hash FROM sts_clients WHERE tenant_id = $1 AND id = $2', [tenant, id]);
      return rows[0] === undefined ? null : toClient(rows[0]);
    },
    async listClients(tenant) {
      const { rows } = await db.query<ConfigRow>('SELECT tenant_id, id, config, secret_hash FROM sts_clients WHERE tenant_id = $1 ORDER BY id', [tenant]);
      return rows.map(toClient);
    },
    async deleteClient(tenant, id) {
      const { rows } = await db.query('DELETE FROM sts_clients WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, id]);
      return rows.length > 0;
    },
    saveSigningKeys: (tenant, keys, expectedKids) => saveKeys(db, 'signing_keys', tenant, keys, expectedKids),
    loadSigningKeys: (tenant) => loadKeys(db, 'signing_keys', tenant),
    saveBundleKeys: (tenant, keys, expectedKids) => saveKeys(db, 'bundle_signing_keys', tenant, keys, expectedKids),
    loadBundleKeys: (tenant) => loadKeys(db, 'bundle_signing_keys', tenant),
    addRevocation: (revocation) =>
      forTenant(revocation.tenant, async () => {
        // Re-revoking moves a subject/client cut-off forward, never back.
        await db.query(
          `INSERT INTO revocations (tenant_id, kind, value, at_sec) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, kind, value) DO UPDATE SET at_sec = GREATEST(revocations.at_sec, EXCLUDED.at_sec)`,
          [revocation.tenant, revocation.kind, revocation.value, revocation.atSec],
        );
      }),
    async listRevocations() {
      const { rows } = await db.query<{ tenant_id: string; kind: StoredRevocation['kind']; value: string; at_sec: unknown }>(
        'SELECT tenant_id, kind, value, at_sec FROM revocations ORDER BY tenant_id, kind, value',
      );
      return rows.map((row) => ({ tenant: row.tenant_id, kind: row.kind, value: row.value, atSec: toNumber(row.at_sec) }));
    },
    async forgetExpiredRevocations(nowSec) {
      const { rows } = await db.query(`DELETE FROM revocations WHERE kind = 'token' AND at_sec < $1 RETURNING value`, [nowSec]);
      return rows.length;
    },
    async useAssertionJti(tenant, keyHash, expSec) {
      try {
        const { rows } = await db.query('INSERT INTO client_assertion_jtis (tenant_id, key_hash, exp_sec) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, key_hash) DO NOTHING RETURNING key_hash', [tenant, keyHash, expSec]);
        return rows.length > 0;
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
        throw error;
      }
    },
    async forgetExpiredAssertionJtis(nowSec) {
      const { rows } = await db.query('DELETE FROM client_assertion_jtis WHERE exp_sec < $1 RETURNING key_hash', [nowSec]);
      return rows.length;
    },
  };
}
