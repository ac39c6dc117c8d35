/** The audit log: per-tenant hash-chained decision records, appended under a chain-head row lock. */
import { GENESIS_HASH, computeAuditHash } from '@verity/core';
import type { AuditEvent, DecisionRecord, EntityUid, RecordedRisk } from '@verity/core';
import { firstRow, fromJson, toJsonParam, toNumber } from './sql-values.js';
import { isForeignKeyViolation } from './sql-errors.js';
import { requireTenant, tenantNotFound } from './tenant-guard.js';
import type { AuditQuery, Database, SealedCheckpointKey, SqlClient, Store, StoredAuditCheckpoint } from './types.js';

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
  prev_hash: string;
  hash: string;
}

const COLUMNS = `tenant_id, seq, decision_id, time, request_id, tier, principal_json, action_json, resource_json,
  decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed, reported_by, caller, txn, actors, risk`;

/**
 * One jsonb parameter carries the whole batch: one INSERT per transaction, any batch size. The
 * `principal`, `action` and `resource` text columns are generated from the hashed JSON.
 */
const INSERT_BATCH = `INSERT INTO audit_events (tenant_id, seq, decision_id, time, request_id, tier, principal_json,
    action_json, resource_json, decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed, reported_by, caller, txn, actors, risk)
  SELECT $1, e.seq, e.decision_id, e.time, e.request_id, e.tier, e.principal_json, e.action_json,
    e.resource_json, e.decision, e.reasons, e.errors, e.policy_version, e.latency_us, e.prev_hash, e.hash, COALESCE(e.observed, false), e.reported_by, e.caller, e.txn, e.actors, e.risk
  FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, decision_id text, time text, request_id text, tier text,
    principal_json jsonb, action_json jsonb, resource_json jsonb,
    decision text, reasons jsonb, errors jsonb, policy_version integer, latency_us double precision,
    prev_hash text, hash text, observed boolean, reported_by text, caller text, txn text, actors jsonb, risk jsonb)`;

/** The `audit` repository of a {@link Store}. */
export function createAuditRepository(db: Database): Store['audit'] {
  return {
    async append(records, options = {}) {
      // Tenants are chained one transaction each, so no transaction ever holds two head locks.
      for (const [tenant, batch] of groupByTenant(records)) {
        await db.transaction((tx) => appendToChain(tx, tenant, batch, options.skipExisting === true));
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

async function appendToChain(tx: SqlClient, tenant: string, input: readonly DecisionRecord[], skipExisting: boolean): Promise<void> {
  await requireTenant(tx, tenant);
  let records = input;
  await tx.query('INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant_id) DO NOTHING', [
    tenant,
    GENESIS_HASH,
  ]);
  // The head row lock is what keeps concurrent appenders (other replicas) from forking the chain.
  const head = firstRow(
    (await tx.query<{ seq: unknown; hash: string }>('SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE', [tenant]))
      .rows,
  );
  if (skipExisting) {
    // Under the head lock, so a batch delivered twice (at-least-once shipping) chains once.
    const ids = [...new Set(records.map((record) => record.decisionId))];
    const { rows: existing } = await tx.query<{ decision_id: string }>('SELECT decision_id FROM audit_events WHERE tenant_id = $1 AND decision_id = ANY($2::text[])', [tenant, ids]);
    const seen = new Set(existing.map((row) => row.decision_id));
    records = records.filter((record) => (seen.has(record.decisionId) ? false : (seen.add(record.decisionId), true)));
    if (records.length === 0) return;
  }
  let seq = toNumber(head.seq);
  let prevHash = head.hash;
  const rows = records.map((input) => {
    const record = normalizeRecord(input);
    seq += 1;
    const hash = computeAuditHash(record, seq, prevHash);
    const row = toInsertRow(record, seq, prevHash, hash);
    prevHash = hash;
    return row;
  });
  await tx.query(INSERT_BATCH, [tenant, toJsonParam(rows)]);
  await tx.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [tenant, seq, prevHash]);
}

function groupByTenant(records: readonly DecisionRecord[]): Map<string, DecisionRecord[]> {
  const groups = new Map<string, DecisionRecord[]>();
  for (const record of records) {
    const group = groups.get(record.tenant);
    if (group === undefined) groups.set(record.tenant, [record]);
    else group.push(record);
  }
  return groups;
}

/**
 * Exactly the fields that are stored, in the shapes they read back as. The hash is computed
 * over this copy so that what verification recomputes from a row always matches (an absent
 * requestId, or an extra property on a uid, would otherwise hash differently than it reads).
 */
function normalizeRecord(record: DecisionRecord): DecisionRecord {
  return {
    decisionId: record.decisionId,
    time: record.time,
    tenant: record.tenant,
    requestId: record.requestId ?? null,
    tier: record.tier ?? null,
    principal: uid(record.principal),
    action: uid(record.action),
    resource: uid(record.resource),
    decision: record.decision,
    reasons: [...record.reasons],
    errors: record.errors.map((error) => ({ policyId: error.policyId, message: error.message })),
    policyVersion: record.policyVersion,
    latencyUs: record.latencyUs,
    ...(record.observed === true ? { observed: true as const } : {}),
    ...(record.reportedBy === undefined ? {} : { reportedBy: record.reportedBy }),
    ...(record.caller === undefined ? {} : { caller: record.caller }),
    ...(record.txn === undefined ? {} : { txn: record.txn }),
    ...(record.actors === undefined || record.actors.length === 0 ? {} : { actors: [...record.actors] }),
    ...(record.risk === undefined ? {} : { risk: { score: record.risk.score, level: record.risk.level, factors: record.risk.factors.map((f) => ({ ...f })), ...(record.risk.stepUp === undefined ? {} : { stepUp: { ...record.risk.stepUp } }) } }),
  };
}

/** `{type, id}` of a uid; anything else (an edited row) keeps whatever it holds, so its hash fails. */
function uid(value: unknown): EntityUid {
  const v = (value !== null && typeof value === 'object' ? value : {}) as Partial<EntityUid>;
  return { type: v.type as string, id: v.id as string };
}

function toInsertRow(record: DecisionRecord, seq: number, prevHash: string, hash: string): Record<string, unknown> {
  return {
    seq,
    decision_id: record.decisionId,
    time: record.time,
    request_id: record.requestId,
    tier: record.tier,
    principal_json: record.principal,
    action_json: record.action,
    resource_json: record.resource,
    decision: record.decision,
    reasons: record.reasons,
    errors: record.errors,
    policy_version: record.policyVersion,
    latency_us: record.latencyUs,
    observed: record.observed === true,
    reported_by: record.reportedBy ?? null,
    caller: record.caller ?? null,
    txn: record.txn ?? null,
    actors: record.actors ?? null,
    risk: record.risk ?? null,
    prev_hash: prevHash,
    hash,
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
    seq: toNumber(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
