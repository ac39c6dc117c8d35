/** Decisions a PEP made in-process and shipped to the PDP's audit, checked field by field. */
import { isDecisionInputText, isPlainObject, isRequestId, isTierLabel, MAX_DECISION_INPUT_CHARS, VerityError, type DecisionRecord, type EntityUid, type RecordedRisk } from '@verity/core';
import { isSpiffeIdText } from './workload-gate.js';

/**
 * A record's time as every Verity writer makes it (`Date.prototype.toISOString`, RFC 3339 in
 * UTC): the audit compares times as text (the `since` windows), so only this one form sorts
 * right, and Date.parse alone also takes V8's free-text forms (a comment holding anything).
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The most records one shipment may hold. */
export const MAX_PEP_RECORDS = 1000;

function invalid(message: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', message);
}

function uid(value: unknown, path: string): EntityUid {
  const v = value as { type?: unknown; id?: unknown } | null;
  if (typeof v?.type !== 'string' || typeof v.id !== 'string' || v.type === '' || v.type.length > 256 || v.id.length > 1024) throw invalid(`${path} must be {type, id}`);
  return { type: v.type, id: v.id };
}

/**
 * One PEP-made decision; it must belong to `tenant`, the tenant of the reporting credential. A
 * `reportedBy` in the body is ignored: the record is marked with the credential that sent it.
 */
function parseRecord(value: unknown, tenant: string, reportedBy: string, i: number): DecisionRecord {
  const r = isPlainObject(value) ? value : {};
  const path = `records[${i}]`;
  if (!isRequestId(r.decisionId)) throw invalid(`${path}.decisionId must be an id`);
  if (typeof r.time !== 'string' || !ISO_TIME.test(r.time) || Number.isNaN(Date.parse(r.time))) throw invalid(`${path}.time must be an ISO 8601 UTC time (2026-12-02T10:00:00.000Z)`);
  if (r.tenant !== tenant) throw invalid(`${path}.tenant must be "${tenant}"`);
  if (r.decision !== 'allow' && r.decision !== 'deny') throw invalid(`${path}.decision must be allow or deny`);
  if (typeof r.policyVersion !== 'number' || !Number.isInteger(r.policyVersion) || r.policyVersion < 0) throw invalid(`${path}.policyVersion must be a version number`);
  if (typeof r.latencyUs !== 'number' || !Number.isFinite(r.latencyUs) || r.latencyUs < 0) throw invalid(`${path}.latencyUs must be a number`);
  const optional = (v: unknown, name: string, valid: (v: unknown) => v is string) => {
    if (v === null || v === undefined) return null;
    if (!valid(v)) throw invalid(`${path}.${name} must be a short token`);
    return v;
  };
  const caller = optional(r.caller, 'caller', isSpiffeIdText);
  const txn = optional(r.txn, 'txn', isRequestId);
  const actors = r.actors ?? [];
  if (!Array.isArray(actors) || actors.length > 16 || actors.some((a) => typeof a !== 'string' || a === '' || a.length > 2048)) throw invalid(`${path}.actors must be at most 16 ids`);
  const reasons = r.reasons ?? [];
  if (!Array.isArray(reasons) || reasons.some((x) => typeof x !== 'string' || x.length > 256)) throw invalid(`${path}.reasons must be policy ids`);
  const errors = r.errors ?? [];
  if (!Array.isArray(errors) || errors.some((e) => typeof e?.policyId !== 'string' || typeof e?.message !== 'string')) throw invalid(`${path}.errors must be [{policyId, message}]`);
  const risk = r.risk === undefined || r.risk === null ? undefined : parseRisk(r.risk, path);
  // What the PEP decided on (its pipeline's decision-input text), for replay: kept as sent once
  // it is a bounded version-1 input; replay checks it again as it checks any request.
  if (r.input !== undefined && r.input !== null && !isDecisionInputText(r.input)) throw invalid(`${path}.input must be a decision input (JSON text, version 1, at most ${MAX_DECISION_INPUT_CHARS} characters)`);
  return {
    decisionId: r.decisionId,
    time: r.time,
    tenant,
    requestId: optional(r.requestId, 'requestId', isRequestId),
    tier: optional(r.tier, 'tier', isTierLabel),
    principal: uid(r.principal, `${path}.principal`),
    action: uid(r.action, `${path}.action`),
    resource: uid(r.resource, `${path}.resource`),
    decision: r.decision,
    reasons: reasons as string[],
    errors: (errors as Array<{ policyId: string; message: string }>).map((e) => ({ policyId: e.policyId.slice(0, 256), message: e.message.slice(0, 1024) })),
    policyVersion: r.policyVersion,
    latencyUs: r.latencyUs,
    ...(r.observed === true ? { observed: true as const } : {}),
    ...(caller === null ? {} : { caller }),
    ...(txn === null ? {} : { txn }),
    ...(actors.length === 0 ? {} : { actors: actors as string[] }),
    ...(risk === undefined ? {} : { risk }),
    ...(typeof r.input === 'string' ? { input: r.input } : {}),
    reportedBy,
  };
}

/** A PEP's risk assessment (its bundle's risk engine): `{score, level, factors: [{name, weight, detail?}]}`, bounded. */
function parseRisk(value: unknown, path: string): RecordedRisk {
  const bad = () => invalid(`${path}.risk must be {score, level, factors: [{name, weight, detail?}]}`);
  if (!isPlainObject(value) || typeof value.score !== 'number' || !Number.isFinite(value.score) || typeof value.level !== 'string' || value.level.length > 16 || !Array.isArray(value.factors) || value.factors.length > 32) throw bad();
  const factors = value.factors.map((factor: unknown) => {
    if (!isPlainObject(factor) || typeof factor.name !== 'string' || factor.name === '' || factor.name.length > 64 || typeof factor.weight !== 'number' || !Number.isFinite(factor.weight)) throw bad();
    if (factor.detail !== undefined && (typeof factor.detail !== 'string' || factor.detail.length > 256)) throw bad();
    return { name: factor.name, weight: factor.weight, ...(factor.detail === undefined ? {} : { detail: factor.detail as string }) };
  });
  return { score: value.score, level: value.level, factors };
}

/**
 * A shipment's `records`: 1 to {@link MAX_PEP_RECORDS} decisions of `tenant`, each marked
 * `reportedBy` the sending credential's id, or ERR_REQUEST_INVALID naming the first field that
 * is wrong (nothing of a bad shipment is kept).
 */
export function parsePepRecords(records: unknown, tenant: string, reportedBy: string): DecisionRecord[] {
  if (!Array.isArray(records) || records.length === 0 || records.length > MAX_PEP_RECORDS) throw invalid(`records must be an array of 1 to ${MAX_PEP_RECORDS} decisions`);
  return records.map((record, i) => parseRecord(record, tenant, reportedBy, i));
}
