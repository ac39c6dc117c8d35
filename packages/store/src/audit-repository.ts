/** The audit log: per-tenant hash-chained decision records, appended under a chain-head row lock. */
import { GENESIS_HASH, computeAuditHash } from '@verity/core';
import type { AuditEvent, DecisionRecord, EntityUid } from '@verity/core';
import { formatEntityUid } from './entity-uid-text.js';
import { firstRow, fromJson, toJsonParam, toNumber } from './sql-values.js';
import { requireTenant } from './tenant-guard.js';
import type { AuditQuery, Database, SqlClient, Store } from './types.js';

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
  prev_hash: string;
  hash: string;
}

const COLUMNS = `tenant_id, seq, decision_id, time, request_id, tier, principal_json, action_json, resource_json,
  decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed`;

/** One jsonb parameter carries the whole batch: one INSERT per transaction, any batch size. */
const INSERT_BATCH = `INSERT INTO audit_events (tenant_id, seq, decision_id, time, request_id, tier, principal, principal_json,
    action, action_json, resource, resource_json, decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed)
  SELECT $1, e.seq, e.decision_id, e.time, e.request_id, e.tier, e.principal, e.principal_json, e.action, e.action_json,
    e.resource, e.resource_json, e.decision, e.reasons, e.errors, e.policy_version, e.latency_us, e.prev_hash, e.hash, COALESCE(e.observed, false)
  FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, decision_id text, time text, request_id text, tier text,
    principal text, principal_json jsonb, action text, action_json jsonb, resource text, resource_json jsonb,
    decision text, reasons jsonb, errors jsonb, policy_version integer, latency_us double precision,
    prev_hash text, hash text, observed boolean)`;

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
    async readChain(tenant, afterSeq, limit) {
      const { rows } = await db.query<AuditRow>(
        `SELECT ${COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [tenant, afterSeq, limit],
      );
      return rows.map(toEvent);
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
  };
}

function uid(value: EntityUid): EntityUid {
  return { type: value.type, id: value.id };
}

function toInsertRow(record: DecisionRecord, seq: number, prevHash: string, hash: string): Record<string, unknown> {
  return {
    seq,
    decision_id: record.decisionId,
    time: record.time,
    request_id: record.requestId,
    tier: record.tier,
    principal: formatEntityUid(record.principal),
    principal_json: record.principal,
    action: formatEntityUid(record.action),
    action_json: record.action,
    resource: formatEntityUid(record.resource),
    resource_json: record.resource,
    decision: record.decision,
    reasons: record.reasons,
    errors: record.errors,
    policy_version: record.policyVersion,
    latency_us: record.latencyUs,
    observed: record.observed === true,
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
  return { where: clauses.join(' AND '), params };
}

function toEvent(row: AuditRow): AuditEvent {
  return {
    decisionId: row.decision_id,
    time: row.time,
    tenant: row.tenant_id,
    requestId: row.request_id,
    tier: row.tier,
    principal: uid(fromJson<EntityUid>(row.principal_json)),
    action: uid(fromJson<EntityUid>(row.action_json)),
    resource: uid(fromJson<EntityUid>(row.resource_json)),
    decision: row.decision,
    reasons: fromJson<string[]>(row.reasons),
    errors: fromJson<Array<{ policyId: string; message: string }>>(row.errors),
    policyVersion: toNumber(row.policy_version),
    latencyUs: toNumber(row.latency_us),
    ...(row.observed === true ? { observed: true as const } : {}),
    seq: toNumber(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
