/** The audit log: per-tenant hash-chained decision records, appended under a chain-head row lock. */
import { GENESIS_HASH } from '@verity/core';
import type { AuditEvent, RecordedRisk } from '@verity/core';
import { TENANT_NOT_FOUND, appendAuditRecords, uid } from './audit-append.mjs';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { isForeignKeyViolation } from './sql-errors.js';
import { tenantNotFound } from './tenant-guard.js';
import type { AuditQuery, Database, SealedCheckpointKey, Store, StoredAuditCheckpoint } from './types.js';

interface AuditRow {
  tenant_id: string;
  seq: unknown;
  decision_id: string;
  time: string;
  request_id: string | null;
  tier: string | null;
  principal_json: unknown;
  action_json: unknown;
  resource_json: unknown;
  decision: 'allow' | 'deny';
  reasons: unknown;
  errors: unknown;
  policy_version: unknown;
  latency_us: unknown;
  observed: boolean | null;
  reported_by: string | null;
  caller?: string | null;
  txn?: string | null;
  actors?: unknown;
  risk?: unknown;
  input?: string | null;
  prev_hash: string;
  hash: string;
}

const COLUMNS = `tenant_id, seq, decision_id, time, request_id, tier, principal_json, action_json, resource_json,
  decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed, reported_by, caller, txn, actors, risk, input`;

/** The `audit` repository of a {@link Store}. */
export function createAuditRepository(db: Database): Store['audit'] {
  return {
    async append(records, options = {}) {
      if (records.length === 0) return;
      const skipExisting = options.skipExisting === true;
      try {
        // Chaining (canonical JSON, SHA-256) and the inserts run where the driver says: on its
        // own thread (PGlite worker, PostgreSQL audit thread), else here (audit-append.mjs).
        if (db.appendAudit !== undefined) await db.appendAudit(records, { skipExisting });
        else await appendAuditRecords((work) => db.transaction((tx) => work({ query: (sql, params) => tx.query(sql, params) })), records, skipExisting);
      } catch (error) {
        const e = error as { code?: unknown; tenant?: unknown } | null;
        if (e?.code === TENANT_NOT_FOUND && typeof e.tenant === 'string') throw tenantNotFound(e.tenant);
        throw error;
      }
    },
    async query(tenant, query) {
      const { where, params } = buildFilter(tenant, query);
      params.push(query.limit);
      const { rows } = await db.query<AuditRow>(
        `SELECT ${COLUMNS} FROM audit_events WHERE ${where} ORDER BY seq LIMIT $${params.length}`,
        params,
      );
      return rows.map(toEvent);
    },
    async workloadCalls(tenant, limit) {
      const { rows } = await db.query<{ caller: string; tier: string | null; action_type: string; action_id: string; allowed: unknown; denied: unknown; last_seen: string }>(
        `SELECT caller, tier, action_json->>'type' AS action_type, action_json->>'id' AS action_id,
           count(*) FILTER (WHERE decision = 'allow') AS allowed, count(*) FILTER (WHERE decision = 'deny') AS denied, max(time) AS last_seen
         FROM audit_events WHERE tenant_id = $1 AND caller IS NOT NULL
         GROUP BY caller, tier, action_json->>'type', action_json->>'id'
         ORDER BY last_seen DESC, caller, tier, action_type, action_id LIMIT $2`,
        [tenant, limit],
      );
      return rows.map((row) => ({
        caller: row.caller,
        callee: row.tier,
        action: `${row.action_type}::${JSON.stringify(row.action_id)}`,
        allowed: toNumber(row.allowed),
        denied: toNumber(row.denied),
        lastSeen: row.last_seen,
      }));
    },
    async observedDenials(tenant, since, limit) {
      const { rows } = await db.query<{ tier: string | null; action: string; resource: string; denied: unknown; principals: unknown; sample_principals: string[]; policies: string[]; first_seen: string; last_seen: string }>(
        `SELECT e.tier, e.action, e.resource, count(DISTINCT e.seq) AS denied, count(DISTINCT e.principal) AS principals,
           (array_agg(DISTINCT e.principal))[1:10] AS sample_principals,
           array_remove(array_agg(DISTINCT r.policy), NULL) AS policies,
           min(e.time) AS first_seen, max(e.time) AS last_seen
         FROM audit_events e LEFT JOIN LATERAL jsonb_array_elements_text(e.reasons) AS r(policy) ON true
         WHERE e.tenant_id = $1 AND e.observed AND e.decision = 'deny' AND e.time >= $2
         GROUP BY e.tier, e.action, e.resource
         ORDER BY denied DESC, last_seen DESC, e.action, e.resource LIMIT $3`,
        [tenant, since, limit],
      );
      return rows.map((row) => ({
        tier: row.tier,
        action: row.action,
        resource: row.resource,
        denied: toNumber(row.denied),
        principals: toNumber(row.principals),
        samplePrincipals: row.sample_principals,
        policies: row.policies,
        firstSeen: row.first_seen,
        lastSeen: row.last_seen,
      }));
    },
    async readChain(tenant, afterSeq, limit) {
      const { rows } = await db.query<AuditRow>(
        `SELECT ${COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [tenant, afterSeq, limit],
      );
      return rows.map(toEvent);
    },
    async head(tenant) {
      const { rows } = await db.query<{ seq: unknown; hash: string }>('SELECT seq, hash FROM audit_heads WHERE tenant_id = $1', [tenant]);
      const row = rows[0];
      return row ? { seq: toNumber(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
    },
    async saveCheckpoint(checkpoint) {
      try {
        await db.query('INSERT INTO audit_checkpoints (tenant_id, seq, hash, time, jws) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, seq) DO NOTHING', [
          checkpoint.tenant,
          checkpoint.seq,
          checkpoint.hash,
          checkpoint.time,
          checkpoint.jws,
        ]);
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(checkpoint.tenant);
        throw error;
      }
    },
    async latestCheckpoint(tenant) {
      const { rows } = await db.query<{ seq: unknown; hash: string; time: string; jws: string }>(
        'SELECT seq, hash, time, jws FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
        [tenant],
      );
      const row = rows[0];
      return row ? ({ tenant, seq: toNumber(row.seq), hash: row.hash, time: row.time, jws: row.jws } satisfies StoredAuditCheckpoint) : null;
    },
    async addCheckpointKey(key) {
      await db.query('INSERT INTO audit_checkpoint_keys (kid, sealed_key, public_jwk, created_at_ms) VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (kid) DO NOTHING', [
        key.kid,
        key.sealedKey,
        toJsonParam(key.publicJwk),
        key.createdAtMs,
      ]);
    },
    async loadCheckpointKeys() {
      const { rows } = await db.query<{ kid: string; sealed_key: string; public_jwk: unknown; created_at_ms: unknown }>(
        'SELECT kid, sealed_key, public_jwk, created_at_ms FROM audit_checkpoint_keys ORDER BY created_at_ms, kid',
      );
      return rows.map((row): SealedCheckpointKey => ({ kid: row.kid, sealedKey: row.sealed_key, publicJwk: fromJson<Record<string, unknown>>(row.public_jwk), createdAtMs: toNumber(row.created_at_ms) }));
    },
  };
}

/** WHERE clause and parameters for an audit query; only the filters given are added. */
function buildFilter(tenant: string, query: AuditQuery): { where: string; params: unknown[] } {
  const params: unknown[] = [tenant];
  const clauses = ['tenant_id = $1'];
  const add = (clause: string, value: unknown): void => {
    params.push(value);
    clauses.push(clause.replace('?', `$${params.length}`));
  };
  if (query.after !== undefined) add('seq > ?', query.after);
  if (query.since !== undefined) add('time >= ?', query.since);
  if (query.decision !== undefined) add('decision = ?', query.decision);
  if (query.principal !== undefined) add('principal = ?', query.principal);
  if (query.requestId !== undefined) add('request_id = ?', query.requestId);
  if (query.txn !== undefined) add('txn = ?', query.txn);
  if (query.caller !== undefined) add('caller = ?', query.caller);
  return { where: clauses.join(' AND '), params };
}

/**
 * A stored event as read. The jsonb columns come parsed by the driver and are taken as they are,
 * never parsed again: a value edited into the database (a JSON string where a list was, a null
 * uid) reads back as that value, its hash no longer matches, and verification reports the row
 * as edited instead of failing on it.
 */
function toEvent(row: AuditRow): AuditEvent {
  return {
    decisionId: row.decision_id,
    time: row.time,
    tenant: row.tenant_id,
    requestId: row.request_id,
    tier: row.tier,
    principal: uid(row.principal_json),
    action: uid(row.action_json),
    resource: uid(row.resource_json),
    decision: row.decision,
    reasons: row.reasons as string[],
    errors: row.errors as Array<{ policyId: string; message: string }>,
    policyVersion: toNumber(row.policy_version),
    latencyUs: toNumber(row.latency_us),
    ...(row.observed === true ? { observed: true as const } : {}),
    ...(row.reported_by === null ? {} : { reportedBy: row.reported_by }),
    ...(row.caller === null || row.caller === undefined ? {} : { caller: row.caller }),
    ...(row.txn === null || row.txn === undefined ? {} : { txn: row.txn }),
    ...(row.actors === null || row.actors === undefined ? {} : { actors: row.actors as string[] }),
    ...(row.risk === null || row.risk === undefined ? {} : { risk: row.risk as RecordedRisk }),
    ...(row.input === null || row.input === undefined ? {} : { input: row.input }),
    seq: toNumber(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
