/** Workload identity: CA and JWT-SVID authorities, registrations, join tokens, deny list, proof ids. */
import { VerityError } from '@verity/core';
import { isForeignKeyViolation, isUniqueViolation, isUnstorableText, UNSTORABLE_TEXT_MESSAGE } from './sql-errors.js';
import { firstRow, fromJson, toIsoTime, toJsonParam, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Database, DeniedWorkload, SqlClient, Store, StoredCaAuthority, StoredJwtAuthority, StoredWorkload, WorkloadAttestor, WorkloadAuthorityState } from './types.js';

interface CaRow {
  tenant_id: string;
  id: string;
  state: WorkloadAuthorityState;
  trust_domain: string;
  root_pem: string;
  intermediate_pem: string;
  sealed_key: string;
  not_after_ms: unknown;
  created_at_ms: unknown;
  retire_after_ms: unknown;
  issued_until_ms: unknown;
}

interface JwtRow {
  tenant_id: string;
  kid: string;
  state: WorkloadAuthorityState;
  public_jwk: unknown;
  sealed_key: string;
  created_at_ms: unknown;
  retire_after_ms: unknown;
  issued_until_ms: unknown;
}

interface WorkloadRow {
  tenant_id: string;
  id: string;
  spiffe_id: string;
  selectors: unknown;
  attestor: WorkloadAttestor;
  x509_ttl_sec: unknown;
  jwt_ttl_sec: unknown;
  issued_until_ms: unknown;
  created_at: unknown;
}

const CA_COLUMNS = 'tenant_id, id, state, trust_domain, root_pem, intermediate_pem, sealed_key, not_after_ms, created_at_ms, retire_after_ms, issued_until_ms';
const JWT_COLUMNS = 'tenant_id, kid, state, public_jwk, sealed_key, created_at_ms, retire_after_ms, issued_until_ms';
const WORKLOAD_COLUMNS = 'tenant_id, id, spiffe_id, selectors, attestor, x509_ttl_sec, jwt_ttl_sec, issued_until_ms, created_at';

const toNumberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : toNumber(value));

const toCa = (row: CaRow): StoredCaAuthority => ({
  tenant: row.tenant_id,
  id: row.id,
  state: row.state,
  trustDomain: row.trust_domain,
  rootPem: row.root_pem,
  intermediatePem: row.intermediate_pem,
  sealedKey: row.sealed_key,
  notAfterMs: toNumber(row.not_after_ms),
  createdAtMs: toNumber(row.created_at_ms),
  retireAfterMs: toNumberOrNull(row.retire_after_ms),
  issuedUntilMs: toNumber(row.issued_until_ms),
});

const toJwt = (row: JwtRow): StoredJwtAuthority => ({
  tenant: row.tenant_id,
  kid: row.kid,
  state: row.state,
  publicJwk: fromJson<Record<string, unknown>>(row.public_jwk),
  sealedKey: row.sealed_key,
  createdAtMs: toNumber(row.created_at_ms),
  retireAfterMs: toNumberOrNull(row.retire_after_ms),
  issuedUntilMs: toNumber(row.issued_until_ms),
});

const toWorkload = (row: WorkloadRow): StoredWorkload => ({
  tenant: row.tenant_id,
  id: row.id,
  spiffeId: row.spiffe_id,
  selectors: fromJson<string[]>(row.selectors),
  attestor: row.attestor,
  x509TtlSec: toNumber(row.x509_ttl_sec),
  jwtTtlSec: toNumber(row.jwt_ttl_sec),
  createdAt: toIsoTime(row.created_at),
  issuedUntilMs: toNumber(row.issued_until_ms),
});

/**
 * Take the tenant's workload lock: its sequence row, created at 0 when missing, locked until the
 * transaction ends. Serializes a tenant's workload writers (replicas racing to create a CA, a
 * removal racing a registration of the same id). Throws ERR_TENANT_NOT_FOUND.
 */
async function lockTenant(tx: SqlClient, tenant: string): Promise<void> {
  try {
    await tx.query(
      `INSERT INTO workload_sequences (tenant_id, sequence) VALUES ($1, 0)
       ON CONFLICT (tenant_id) DO UPDATE SET sequence = workload_sequences.sequence`,
      [tenant],
    );
  } catch (error) {
    if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
    throw error;
  }
}

async function raiseSequence(tx: SqlClient, tenant: string): Promise<number> {
  const { rows } = await tx.query<{ sequence: unknown }>('UPDATE workload_sequences SET sequence = sequence + 1 WHERE tenant_id = $1 RETURNING sequence', [tenant]);
  return toNumber(firstRow(rows).sequence);
}

async function insertAuthorities(tx: SqlClient, tenant: string, { x509, jwt }: { x509: StoredCaAuthority; jwt: StoredJwtAuthority }): Promise<void> {
  await tx.query(
    `INSERT INTO workload_ca_authorities (tenant_id, id, state, trust_domain, root_pem, intermediate_pem, sealed_key, not_after_ms, created_at_ms)
     VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8)`,
    [tenant, x509.id, x509.trustDomain, x509.rootPem, x509.intermediatePem, x509.sealedKey, x509.notAfterMs, x509.createdAtMs],
  );
  await tx.query(
    `INSERT INTO workload_jwt_authorities (tenant_id, kid, state, public_jwk, sealed_key, created_at_ms) VALUES ($1, $2, 'active', $3::jsonb, $4, $5)`,
    [tenant, jwt.kid, toJsonParam(jwt.publicJwk), jwt.sealedKey, jwt.createdAtMs],
  );
}

async function deleteLapsedAuthorities(tx: SqlClient, tenant: string, nowMs: number): Promise<number> {
  let count = 0;
  for (const table of ['workload_ca_authorities', 'workload_jwt_authorities']) {
    const { rows } = await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1 AND state = 'retiring' AND retire_after_ms < $2 RETURNING tenant_id`, [tenant, nowMs]);
    count += rows.length;
  }
  return count;
}

/** The `workloads` repository of a {@link Store}. */
export function createWorkloadsRepository(db: Database): Store['workloads'] {
  async function sequence(client: SqlClient, tenant: string): Promise<number> {
    const { rows } = await client.query<{ sequence: unknown }>('SELECT sequence FROM workload_sequences WHERE tenant_id = $1', [tenant]);
    return rows[0] === undefined ? 0 : toNumber(rows[0].sequence);
  }

  return {
    authorities(tenant) {
      // One transaction: the sequence and the authorities are read as of the same commit. The
      // active one (always the newest) comes last, also when the clock gave two the same time.
      return db.transaction(async (tx) => {
        const seq = await sequence(tx, tenant);
        const ca = await tx.query<CaRow>(`SELECT ${CA_COLUMNS} FROM workload_ca_authorities WHERE tenant_id = $1 ORDER BY state = 'active', created_at_ms, id`, [tenant]);
        const jwt = await tx.query<JwtRow>(`SELECT ${JWT_COLUMNS} FROM workload_jwt_authorities WHERE tenant_id = $1 ORDER BY state = 'active', created_at_ms, kid`, [tenant]);
        return { sequence: seq, x509: ca.rows.map(toCa), jwt: jwt.rows.map(toJwt) };
      });
    },

    createAuthorities(tenant, authorities) {
      return db.transaction(async (tx) => {
        await lockTenant(tx, tenant);
        const { rows } = await tx.query(`SELECT 1 FROM workload_ca_authorities WHERE tenant_id = $1 AND state = 'active'`, [tenant]);
        if (rows.length > 0) return { installed: false, sequence: await sequence(tx, tenant) };
        await insertAuthorities(tx, tenant, authorities);
        return { installed: true, sequence: await raiseSequence(tx, tenant) };
      });
    },

    rotateAuthorities(tenant, authorities, { nowMs, graceMs, replacing }) {
      return db.transaction(async (tx) => {
        await lockTenant(tx, tenant);
        if (replacing !== undefined) {
          const { rows } = await tx.query<{ id: string }>(`SELECT id FROM workload_ca_authorities WHERE tenant_id = $1 AND state = 'active'`, [tenant]);
          if (rows[0]?.id !== replacing) return { rotated: false, sequence: await sequence(tx, tenant) };
        }
        await deleteLapsedAuthorities(tx, tenant, nowMs);
        for (const table of ['workload_ca_authorities', 'workload_jwt_authorities']) {
          await tx.query(`UPDATE ${table} SET state = 'retiring', retire_after_ms = GREATEST(issued_until_ms, $2::bigint) + $3::bigint WHERE tenant_id = $1 AND state = 'active'`, [tenant, nowMs, graceMs]);
        }
        await insertAuthorities(tx, tenant, authorities);
        return { rotated: true, sequence: await raiseSequence(tx, tenant) };
      });
    },

    pruneAuthorities(tenant, nowMs) {
      return db.transaction(async (tx) => {
        await lockTenant(tx, tenant);
        if ((await deleteLapsedAuthorities(tx, tenant, nowMs)) === 0) return false;
        await raiseSequence(tx, tenant);
        return true;
      });
    },

    async recordIssued(tenant, { registrationId, authority, expiresAtMs }) {
      // Registration first: a removal that commits after this sees the new high-water and denies
      // the id long enough; one that committed before leaves no row, so the SVID is not handed out.
      const registration = await db.query('UPDATE workload_registrations SET issued_until_ms = GREATEST(issued_until_ms, $3::bigint) WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenant, registrationId, expiresAtMs]);
      if (registration.rows.length === 0) return 'registration-gone';
      // `state = 'active'` is re-checked on the row a concurrent rotation left: once that rotation
      // has set the retire time, an SVID it did not count is refused here instead.
      const [table, key, value] = 'x509' in authority ? ['workload_ca_authorities', 'id', authority.x509] : ['workload_jwt_authorities', 'kid', authority.jwt];
      const updated = await db.query(`UPDATE ${table} SET issued_until_ms = GREATEST(issued_until_ms, $3::bigint) WHERE tenant_id = $1 AND ${key} = $2 AND state = 'active' RETURNING tenant_id`, [tenant, value, expiresAtMs]);
      return updated.rows.length === 0 ? 'authority-changed' : 'recorded';
    },

    async createRegistration(workload, nowMs) {
      try {
        return await db.transaction(async (tx) => {
          await lockTenant(tx, workload.tenant);
          const denied = await tx.query<{ until_ms: unknown }>('SELECT until_ms FROM workload_denied WHERE tenant_id = $1 AND spiffe_id = $2 AND until_ms > $3', [workload.tenant, workload.spiffeId, nowMs]);
          if (denied.rows[0] !== undefined) {
            const until = new Date(toNumber(denied.rows[0].until_ms)).toISOString();
            throw new VerityError('ERR_WORKLOAD_EXISTS', `this SPIFFE id was removed and stays denied until ${until}, when every SVID issued to it has expired`);
          }
          const { rows } = await tx.query<WorkloadRow>(
            `INSERT INTO workload_registrations (tenant_id, id, spiffe_id, selectors, attestor, x509_ttl_sec, jwt_ttl_sec)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING ${WORKLOAD_COLUMNS}`,
            [workload.tenant, workload.id, workload.spiffeId, toJsonParam(workload.selectors), workload.attestor, workload.x509TtlSec, workload.jwtTtlSec],
          );
          await raiseSequence(tx, workload.tenant);
          return toWorkload(firstRow(rows));
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new VerityError('ERR_WORKLOAD_EXISTS', 'a workload with this SPIFFE id is already registered', { cause: error });
        if (isUnstorableText(error)) throw new VerityError('ERR_WORKLOAD_INVALID', `the registration ${UNSTORABLE_TEXT_MESSAGE}`, { cause: error });
        throw error;
      }
    },

    async getRegistration(tenantId, id) {
      const { rows } = await db.query<WorkloadRow>(`SELECT ${WORKLOAD_COLUMNS} FROM workload_registrations WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
      return rows[0] === undefined ? null : toWorkload(rows[0]);
    },

    async findRegistration(tenantId, spiffeId) {
      const { rows } = await db.query<WorkloadRow>(`SELECT ${WORKLOAD_COLUMNS} FROM workload_registrations WHERE tenant_id = $1 AND spiffe_id = $2`, [tenantId, spiffeId]);
      return rows[0] === undefined ? null : toWorkload(rows[0]);
    },

    async listRegistrations(tenantId) {
      const { rows } = await db.query<WorkloadRow>(`SELECT ${WORKLOAD_COLUMNS} FROM workload_registrations WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
      return rows.map(toWorkload);
    },

    removeRegistration(tenantId, id, nowMs) {
      return db.transaction(async (tx) => {
        await lockTenant(tx, tenantId);
        const { rows } = await tx.query<{ spiffe_id: string; issued_until_ms: unknown }>('DELETE FROM workload_registrations WHERE tenant_id = $1 AND id = $2 RETURNING spiffe_id, issued_until_ms', [tenantId, id]);
        const removed = rows[0];
        if (removed === undefined) return null;
        const untilMs = Math.max(toNumber(removed.issued_until_ms), nowMs);
        await tx.query(
          `INSERT INTO workload_denied (tenant_id, spiffe_id, until_ms) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, spiffe_id) DO UPDATE SET until_ms = GREATEST(workload_denied.until_ms, EXCLUDED.until_ms)`,
          [tenantId, removed.spiffe_id, untilMs],
        );
        await raiseSequence(tx, tenantId);
        return { tenant: tenantId, spiffeId: removed.spiffe_id, untilMs };
      });
    },

    async createJoinToken(token) {
      try {
        await db.query('INSERT INTO workload_join_tokens (token_hash, tenant_id, registration_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5)', [
          token.tokenHash,
          token.tenant,
          token.registrationId,
          token.createdAtMs,
          token.expiresAtMs,
        ]);
      } catch (error) {
        if (isForeignKeyViolation(error)) throw new VerityError('ERR_WORKLOAD_NOT_FOUND', 'no such workload registration', { cause: error });
        throw error;
      }
    },

    async consumeJoinToken(tenantId, tokenHash, nowMs) {
      // One statement: of two concurrent uses, the second finds used_at_ms set and gets no row.
      const { rows } = await db.query<{ registration_id: string }>(
        'UPDATE workload_join_tokens SET used_at_ms = $3 WHERE token_hash = $2 AND tenant_id = $1 AND used_at_ms IS NULL AND expires_at_ms > $3 RETURNING registration_id',
        [tenantId, tokenHash, nowMs],
      );
      return rows[0]?.registration_id ?? null;
    },

    async listDenied(tenantId, nowMs) {
      const { rows } = await db.query<{ tenant_id: string; spiffe_id: string; until_ms: unknown }>(
        tenantId === null
          ? 'SELECT tenant_id, spiffe_id, until_ms FROM workload_denied WHERE until_ms > $1 ORDER BY tenant_id, spiffe_id'
          : 'SELECT tenant_id, spiffe_id, until_ms FROM workload_denied WHERE until_ms > $1 AND tenant_id = $2 ORDER BY spiffe_id',
        tenantId === null ? [nowMs] : [nowMs, tenantId],
      );
      return rows.map((row): DeniedWorkload => ({ tenant: row.tenant_id, spiffeId: row.spiffe_id, untilMs: toNumber(row.until_ms) }));
    },

    sequence: (tenantId) => sequence(db, tenantId),

    async useProofJti(tenantId, jti, expMs) {
      try {
        const { rows } = await db.query('INSERT INTO workload_proof_jtis (tenant_id, jti, exp_ms) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, jti) DO NOTHING RETURNING jti', [tenantId, jti, expMs]);
        return rows.length > 0;
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(tenantId);
        throw error;
      }
    },

    async pruneExpired(nowMs) {
      await db.query('DELETE FROM workload_join_tokens WHERE expires_at_ms <= $1', [nowMs]);
      await db.query('DELETE FROM workload_proof_jtis WHERE exp_ms <= $1', [nowMs]);
      await db.query('DELETE FROM workload_denied WHERE until_ms <= $1', [nowMs]);
    },
  };
}
