// @ts-check
/**
 * Appending decision records to the per-tenant audit hash chains: normalize each record, chain
 * it (seq, prevHash, hash via core's computeAuditHash) under the tenant's chain-head row lock,
 * and insert the batch. Plain JavaScript, so the thread that owns the database runs it (the
 * PGlite worker, pglite-worker.mjs; the PostgreSQL audit thread, postgres-audit-worker.mjs) as
 * well as audit-repository.ts for a driver without one: one mechanism for every audit record
 * (PDP decisions, security events, PEP-shipped records, the spool at start).
 * Types: audit-append.d.mts.
 */
import { GENESIS_HASH, canonicalJson, computeAuditHash, storableText } from '@verity/core/audit-hash';

/**
 * One jsonb parameter carries the whole batch: one INSERT per transaction, any batch size. The
 * `principal`, `action` and `resource` text columns are generated from the hashed JSON.
 */
const INSERT_BATCH = `INSERT INTO audit_events (tenant_id, seq, decision_id, time, request_id, tier, principal_json,
    action_json, resource_json, decision, reasons, errors, policy_version, latency_us, prev_hash, hash, observed, reported_by, caller, txn, actors, risk, input)
  SELECT $1, e.seq, e.decision_id, e.time, e.request_id, e.tier, e.principal_json, e.action_json,
    e.resource_json, e.decision, e.reasons, e.errors, e.policy_version, e.latency_us, e.prev_hash, e.hash, COALESCE(e.observed, false), e.reported_by, e.caller, e.txn, e.actors, e.risk, e.input
  FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, decision_id text, time text, request_id text, tier text,
    principal_json jsonb, action_json jsonb, resource_json jsonb,
    decision text, reasons jsonb, errors jsonb, policy_version integer, latency_us double precision,
    prev_hash text, hash text, observed boolean, reported_by text, caller text, txn text, actors jsonb, risk jsonb, input text)`;

/**
 * The one-statement append of a driver that knows its chain heads (see {@link AuditHeads}): the
 * head moves from the known (seq, hash) to the batch's last only if it still is that, and the
 * events go in only if it moved, in one autocommitted statement. `n` is the events inserted:
 * the batch's length, or 0 when the head was elsewhere (nothing written).
 */
const APPEND_AT_KNOWN_HEAD = `WITH head AS (
    UPDATE audit_heads SET seq = $3, hash = $4 WHERE tenant_id = $1 AND seq = $5 AND hash = $6 RETURNING 1
  ), events AS (
    ${INSERT_BATCH} WHERE EXISTS (SELECT 1 FROM head) RETURNING 1
  ) SELECT count(*)::int AS n FROM events`;

/** The `code` of the error {@link appendAuditRecords} throws for a tenant that does not exist. */
export const TENANT_NOT_FOUND = 'ERR_TENANT_NOT_FOUND';

/**
 * @typedef {import('@verity/core').DecisionRecord} DecisionRecord
 * @typedef {import('@verity/core').EntityUid} EntityUid
 * @typedef {{ query(sql: string, params?: unknown[]): Promise<{ rows: any[] }> }} Queryable
 * @typedef {(work: (tx: Queryable) => Promise<void>) => Promise<void>} RunTransaction
 */

/**
 * What a driver that runs every append itself (the PGlite thread) remembers of each tenant's
 * chain head after its last append, so the next is one statement instead of a transaction of
 * six (PGlite spends ~0.2 ms of CPU on every statement, whatever it does). A remembered head is
 * only a guess: the statement checks it under the row lock and writes nothing when it is wrong,
 * and the append then takes the locking path.
 * @typedef {{ query: Queryable['query'], heads: Map<string, { seq: number, hash: string }> }} AuditHeads
 */

/**
 * Append `records`: each tenant's records in one transaction of `transaction` (so no
 * transaction ever holds two head locks), in the order given. With `skipExisting`, records whose
 * decisionId the tenant's chain already holds are dropped (a batch delivered twice chains once).
 * An unknown tenant fails with an Error whose `code` is {@link TENANT_NOT_FOUND} and `tenant`
 * names it (the caller turns it into its VerityError); tenants before it stay committed.
 * With `known`, a tenant whose head it remembers is appended in one statement (see
 * {@link AuditHeads}); a failed statement forgets the head and fails the append (the writer's
 * retry, with `skipExisting`, takes the locking path, which drops what may have been written).
 * @param {RunTransaction} transaction
 * @param {readonly DecisionRecord[]} records
 * @param {boolean} skipExisting
 * @param {AuditHeads} [known]
 * @returns {Promise<void>}
 */
export async function appendAuditRecords(transaction, records, skipExisting, known) {
  for (const [tenant, batch] of groupByTenant(records)) {
    const head = skipExisting ? undefined : known?.heads.get(tenant);
    if (known !== undefined && head !== undefined) {
      const chained = chain(batch, head.seq, head.hash);
      let inserted;
      try {
        inserted = (await known.query(APPEND_AT_KNOWN_HEAD, [tenant, jsonParam(chained.rows), chained.seq, chained.hash, head.seq, head.hash])).rows[0]?.n;
      } catch (error) {
        known.heads.delete(tenant);
        throw error;
      }
      if (inserted === chained.rows.length) {
        known.heads.set(tenant, { seq: chained.seq, hash: chained.hash });
        continue;
      }
      // The head was not where it was remembered (nothing was written): take the lock.
      known.heads.delete(tenant);
    }
    await transaction((tx) => appendToChain(tx, tenant, batch, skipExisting, known?.heads));
  }
}

/**
 * Normalize and chain `records` after the head (seq, hash): the rows to insert and the new head.
 * @param {readonly DecisionRecord[]} records
 * @param {number} seq
 * @param {string} prevHash
 * @returns {{ rows: ReturnType<typeof toInsertRow>[], seq: number, hash: string }}
 */
function chain(records, seq, prevHash) {
  const rows = records.map((input) => {
    const record = normalizeRecord(input);
    seq += 1;
    const hash = computeAuditHash(record, seq, prevHash);
    const row = toInsertRow(record, seq, prevHash, hash);
    prevHash = hash;
    return row;
  });
  return { rows, seq, hash: prevHash };
}

/**
 * @param {Queryable} tx
 * @param {string} tenant
 * @param {readonly DecisionRecord[]} input
 * @param {boolean} skipExisting
 * @param {AuditHeads['heads']} [heads] remembers the head written (a guess until the commit: checked when used)
 */
async function appendToChain(tx, tenant, input, skipExisting, heads) {
  const { rows: found } = await tx.query('SELECT 1 FROM tenants WHERE id = $1', [tenant]);
  if (found.length === 0) throw Object.assign(new Error(`tenant "${tenant}" does not exist`), { code: TENANT_NOT_FOUND, tenant });
  let records = input;
  await tx.query('INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant_id) DO NOTHING', [tenant, GENESIS_HASH]);
  // The head row lock is what keeps concurrent appenders (other replicas) from forking the chain.
  const head = (await tx.query('SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE', [tenant])).rows[0];
  if (head === undefined) throw new Error('expected the statement to return a row');
  if (skipExisting) {
    // Under the head lock, so a batch delivered twice (at-least-once shipping) chains once.
    const ids = [...new Set(records.map((record) => record.decisionId))];
    const { rows: existing } = await tx.query('SELECT decision_id FROM audit_events WHERE tenant_id = $1 AND decision_id = ANY($2::text[])', [tenant, ids]);
    /** @type {Set<string>} */
    const seen = new Set(existing.map((row) => row.decision_id));
    records = records.filter((record) => (seen.has(record.decisionId) ? false : (seen.add(record.decisionId), true)));
    if (records.length === 0) return;
  }
  // `pg` returns int8 as a string, PGlite as a number (or a bigint beyond 2^53).
  const { rows, seq, hash } = chain(records, Number(head.seq), head.hash);
  await tx.query(INSERT_BATCH, [tenant, jsonParam(rows)]);
  await tx.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [tenant, seq, hash]);
  heads?.set(tenant, { seq, hash });
}

/**
 * JSON text for a jsonb parameter; a bigint (which JSON.stringify refuses) is written digit for
 * digit, as sql-values.ts toJsonParam does (canonical JSON: jsonb keeps no key order anyway).
 * @param {unknown} value
 * @returns {string}
 */
function jsonParam(value) {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
    return canonicalJson(value);
  }
}

/**
 * @param {readonly DecisionRecord[]} records
 * @returns {Map<string, DecisionRecord[]>}
 */
function groupByTenant(records) {
  /** @type {Map<string, DecisionRecord[]>} */
  const groups = new Map();
  for (const record of records) {
    const group = groups.get(record.tenant);
    if (group === undefined) groups.set(record.tenant, [record]);
    else group.push(record);
  }
  return groups;
}

/**
 * Exactly the fields that are stored, in the shapes they read back as, every text storable. The
 * hash is computed over this copy so that what verification recomputes from a row always
 * matches (an absent requestId, or an extra property on a uid, would otherwise hash differently
 * than it reads). Text is made storable here, where every record passes (a NUL or an unpaired
 * surrogate becomes U+FFFD), whoever built the record: one that slipped past its builder's
 * `storableText` cannot make the store refuse the batch, which would stop the audit, and so the
 * decisions, of every tenant.
 * @param {DecisionRecord} record
 * @returns {DecisionRecord}
 */
function normalizeRecord(record) {
  const risk = record.risk;
  return {
    decisionId: text(record.decisionId),
    time: text(record.time),
    tenant: text(record.tenant),
    requestId: optionalText(record.requestId),
    tier: optionalText(record.tier),
    principal: uid(record.principal),
    action: uid(record.action),
    resource: uid(record.resource),
    decision: record.decision,
    reasons: record.reasons.map(text),
    errors: record.errors.map((error) => ({ policyId: text(error.policyId), message: text(error.message) })),
    policyVersion: record.policyVersion,
    latencyUs: record.latencyUs,
    ...(record.observed === true ? { observed: /** @type {const} */ (true) } : {}),
    ...(record.reportedBy === undefined ? {} : { reportedBy: text(record.reportedBy) }),
    ...(record.caller === undefined ? {} : { caller: text(record.caller) }),
    ...(record.txn === undefined ? {} : { txn: text(record.txn) }),
    ...(record.actors === undefined || record.actors.length === 0 ? {} : { actors: record.actors.map(text) }),
    ...(risk === undefined
      ? {}
      : {
          risk: {
            score: risk.score,
            level: text(risk.level),
            factors: risk.factors.map((f) => (f.detail === undefined ? { name: text(f.name), weight: f.weight } : { name: text(f.name), weight: f.weight, detail: text(f.detail) })),
            ...(risk.stepUp === undefined ? {} : { stepUp: risk.stepUp.maxAgeSec === undefined ? { acr: text(risk.stepUp.acr) } : { acr: text(risk.stepUp.acr), maxAgeSec: risk.stepUp.maxAgeSec } }),
          },
        }),
    ...(record.input === undefined ? {} : { input: text(record.input) }),
  };
}

/**
 * A string made storable; anything else as it is (an edited row keeps what it holds, so its hash fails).
 * @param {unknown} value
 * @returns {string}
 */
function text(value) {
  return /** @type {string} */ (typeof value === 'string' ? storableText(value) : value);
}

/**
 * @param {string | null | undefined} value
 * @returns {string | null}
 */
function optionalText(value) {
  return value === undefined || value === null ? null : text(value);
}

/**
 * `{type, id}` of a uid; anything else (an edited row) keeps whatever it holds, so its hash fails.
 * @param {unknown} value
 * @returns {EntityUid}
 */
export function uid(value) {
  const v = /** @type {Partial<EntityUid>} */ (value !== null && typeof value === 'object' ? value : {});
  return { type: text(v.type), id: text(v.id) };
}

/**
 * @param {DecisionRecord} record
 * @param {number} seq
 * @param {string} prevHash
 * @param {string} hash
 */
function toInsertRow(record, seq, prevHash, hash) {
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
    input: record.input ?? null,
    prev_hash: prevHash,
    hash,
  };
}
