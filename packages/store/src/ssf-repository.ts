/** Shared Signals (SSF/CAEP): transmitters and receivers of a tenant, used SET ids, assurance levels. */
import { isForeignKeyViolation } from './sql-errors.js';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Database, Store, StoredAssurance, StoredSsfReceiver, StoredSsfTransmitter } from './types.js';

interface TransmitterRow {
  tenant_id: string;
  id: string;
  issuer: string;
  jwks: unknown;
  jwks_uri: string | null;
  audience: string | null;
  updated_at_ms: unknown;
  created?: boolean;
}

interface ReceiverRow {
  tenant_id: string;
  id: string;
  endpoint: string;
  audience: string;
  updated_at_ms: unknown;
  created?: boolean;
}

interface AssuranceRow {
  tenant_id: string;
  subject: string;
  acr: string;
  at_ms: unknown;
}

const TRANSMITTER_COLUMNS = 'tenant_id, id, issuer, jwks, jwks_uri, audience, updated_at_ms';
const RECEIVER_COLUMNS = 'tenant_id, id, endpoint, audience, updated_at_ms';

const toTransmitter = (row: TransmitterRow): StoredSsfTransmitter => ({
  tenant: row.tenant_id,
  id: row.id,
  issuer: row.issuer,
  jwks: row.jwks === null ? null : fromJson<StoredSsfTransmitter['jwks']>(row.jwks),
  jwksUri: row.jwks_uri,
  audience: row.audience,
  updatedAtMs: toNumber(row.updated_at_ms),
});

const toReceiver = (row: ReceiverRow): StoredSsfReceiver => ({
  tenant: row.tenant_id,
  id: row.id,
  endpoint: row.endpoint,
  audience: row.audience,
  updatedAtMs: toNumber(row.updated_at_ms),
});

/** A write that names the tenant by foreign key: an unknown tenant is ERR_TENANT_NOT_FOUND. */
async function guarded<T>(tenant: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
    throw error;
  }
}

/** The `ssf` repository of a {@link Store}. */
export function createSsfRepository(db: Database): Store['ssf'] {
  return {
    putTransmitter: (t) =>
      guarded(t.tenant, async () => {
        // xmax is 0 for a row this statement inserted, not for one it updated.
        const { rows } = await db.query<TransmitterRow>(
          `INSERT INTO ssf_transmitters (${TRANSMITTER_COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
           ON CONFLICT (tenant_id, id) DO UPDATE SET issuer = EXCLUDED.issuer, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri, audience = EXCLUDED.audience, updated_at_ms = EXCLUDED.updated_at_ms
           RETURNING ${TRANSMITTER_COLUMNS}, (xmax = 0) AS created`,
          [t.tenant, t.id, t.issuer, t.jwks === null ? null : toJsonParam(t.jwks), t.jwksUri, t.audience, t.updatedAtMs],
        );
        const row = rows[0] as TransmitterRow;
        return { transmitter: toTransmitter(row), created: row.created === true };
      }),

    async listTransmitters(tenant) {
      const { rows } = await db.query<TransmitterRow>(`SELECT ${TRANSMITTER_COLUMNS} FROM ssf_transmitters WHERE tenant_id = $1 ORDER BY id`, [tenant]);
      return rows.map(toTransmitter);
    },

    async removeTransmitter(tenant, id) {
      const { rows } = await db.query('DELETE FROM ssf_transmitters WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, id]);
      return rows.length > 0;
    },

    putReceiver: (r) =>
      guarded(r.tenant, async () => {
        const { rows } = await db.query<ReceiverRow>(
          `INSERT INTO ssf_receivers (${RECEIVER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, id) DO UPDATE SET endpoint = EXCLUDED.endpoint, audience = EXCLUDED.audience, updated_at_ms = EXCLUDED.updated_at_ms
           RETURNING ${RECEIVER_COLUMNS}, (xmax = 0) AS created`,
          [r.tenant, r.id, r.endpoint, r.audience, r.updatedAtMs],
        );
        const row = rows[0] as ReceiverRow;
        return { receiver: toReceiver(row), created: row.created === true };
      }),

    async listReceivers(tenant) {
      const { rows } = await db.query<ReceiverRow>(`SELECT ${RECEIVER_COLUMNS} FROM ssf_receivers WHERE tenant_id = $1 ORDER BY id`, [tenant]);
      return rows.map(toReceiver);
    },

    async removeReceiver(tenant, id) {
      const { rows } = await db.query('DELETE FROM ssf_receivers WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, id]);
      return rows.length > 0;
    },

    useJti: (tenant, used, nowMs) =>
      guarded(tenant, async () => {
        // One statement: of two replicas taking the same SET at once, one inserts, the other finds
        // the row (unexpired) and updates nothing. An entry past its expiry is taken over.
        const { rows } = await db.query(
          `INSERT INTO ssf_used_jtis (tenant_id, issuer, jti, exp_ms) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, issuer, jti) DO UPDATE SET exp_ms = EXCLUDED.exp_ms WHERE ssf_used_jtis.exp_ms <= $5
           RETURNING jti`,
          [tenant, used.issuer, used.jti, used.expMs, nowMs],
        );
        return rows.length > 0;
      }),

    async forgetJti(tenant, issuer, jti) {
      await db.query('DELETE FROM ssf_used_jtis WHERE tenant_id = $1 AND issuer = $2 AND jti = $3', [tenant, issuer, jti]);
    },

    async pruneJtis(nowMs) {
      await db.query('DELETE FROM ssf_used_jtis WHERE exp_ms <= $1', [nowMs]);
    },

    setAssurance: (a) =>
      guarded(a.tenant, async () => {
        const { rows } = await db.query(
          `INSERT INTO ssf_assurance (tenant_id, subject, acr, at_ms) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, subject) DO UPDATE SET acr = EXCLUDED.acr, at_ms = EXCLUDED.at_ms WHERE ssf_assurance.at_ms < EXCLUDED.at_ms
           RETURNING subject`,
          [a.tenant, a.subject, a.acr, a.atMs],
        );
        return rows.length > 0;
      }),

    async listAssurance(tenant) {
      const { rows } =
        tenant === null
          ? await db.query<AssuranceRow>('SELECT tenant_id, subject, acr, at_ms FROM ssf_assurance ORDER BY tenant_id, subject')
          : await db.query<AssuranceRow>('SELECT tenant_id, subject, acr, at_ms FROM ssf_assurance WHERE tenant_id = $1 ORDER BY subject', [tenant]);
      return rows.map((row): StoredAssurance => ({ tenant: row.tenant_id, subject: row.subject, acr: row.acr, atMs: toNumber(row.at_ms) }));
    },
  };
}
