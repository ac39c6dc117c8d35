/** API credentials: only the sha256 of each token is stored; revocation is a timestamp. */
import { VerityError } from '@verity/core';
import { isForeignKeyViolation, isUniqueViolation } from './sql-errors.js';
import { firstRow, toIsoTime, toIsoTimeOrNull, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Credential, Database, Store } from './types.js';

interface CredentialRow {
  id: string;
  token_hash: string;
  role: Credential['role'];
  tenant_id: string | null;
  label: string;
  created_at: unknown;
  revoked_at: unknown;
}

const COLUMNS = 'id, token_hash, role, tenant_id, label, created_at, revoked_at';

/** The `credentials` repository of a {@link Store}. */
export function createCredentialsRepository(db: Database): Store['credentials'] {
  return {
    async create(credential) {
      try {
        const { rows } = await db.query<CredentialRow>(
          `INSERT INTO credentials (id, token_hash, role, tenant_id, label) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
          [credential.id, credential.tokenHash, credential.role, credential.tenant, credential.label],
        );
        return toCredential(firstRow(rows));
      } catch (error) {
        if (isForeignKeyViolation(error) && credential.tenant !== null) throw tenantNotFound(credential.tenant);
        // No dedicated code exists for this: ids and tokens are generated, so a clash is a bad request.
        if (isUniqueViolation(error)) throw new VerityError('ERR_REQUEST_INVALID', 'a credential with this id or token already exists', { cause: error });
        throw error;
      }
    },
    async findByTokenHash(tokenHash) {
      const { rows } = await db.query<CredentialRow>(`SELECT ${COLUMNS} FROM credentials WHERE token_hash = $1`, [tokenHash]);
      return rows[0] === undefined ? null : toCredential(rows[0]);
    },
    async get(id) {
      const { rows } = await db.query<CredentialRow>(`SELECT ${COLUMNS} FROM credentials WHERE id = $1`, [id]);
      return rows[0] === undefined ? null : toCredential(rows[0]);
    },
    async countActiveAdmins() {
      const { rows } = await db.query<{ count: unknown }>("SELECT COUNT(*) AS count FROM credentials WHERE role = 'platform-admin' AND revoked_at IS NULL");
      return toNumber(firstRow(rows).count);
    },
    async rotate(id, tokenHash, options = {}) {
      const { rows } = await db.query<CredentialRow>(
        `UPDATE credentials SET token_hash = $2, revoked_at = NULL WHERE id = $1 AND ($3 OR revoked_at IS NULL) RETURNING ${COLUMNS}`,
        [id, tokenHash, options.revive === true],
      );
      return rows[0] === undefined ? null : toCredential(rows[0]);
    },
    async count() {
      const { rows } = await db.query<{ count: unknown }>('SELECT COUNT(*) AS count FROM credentials');
      return toNumber(firstRow(rows).count);
    },
    async list(filter = {}) {
      const where = filter.tenant === undefined ? '' : filter.tenant === null ? 'WHERE tenant_id IS NULL' : 'WHERE tenant_id = $1';
      const params = filter.tenant === undefined || filter.tenant === null ? [] : [filter.tenant];
      const { rows } = await db.query<CredentialRow>(`SELECT ${COLUMNS} FROM credentials ${where} ORDER BY created_at, id`, params);
      return rows.map(toCredential);
    },
    async revoke(id) {
      const { rows } = await db.query('UPDATE credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id]);
      return rows.length > 0;
    },
  };
}

function toCredential(row: CredentialRow): Credential {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    role: row.role,
    tenant: row.tenant_id,
    label: row.label,
    createdAt: toIsoTime(row.created_at),
    revokedAt: toIsoTimeOrNull(row.revoked_at),
  };
}
