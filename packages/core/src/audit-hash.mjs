// @ts-check
/**
 * Canonical JSON and the audit chain's hash, in plain JavaScript so that a worker thread (which
 * starts without a TypeScript loader) runs exactly the code the server and verification run:
 * the store's audit writer threads import it as `@verity/core/audit-hash`, and
 * canonical-json.ts and audit-chain.ts re-export it. Types: audit-hash.d.mts.
 */
import { createHash } from 'node:crypto';

/** The hash the first event of every tenant's chain links to. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Serialize `value` with object keys sorted at every depth.
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  // A Long beyond 2^53 (see json.ts) is written as the JSON number it is.
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  // Default sort compares UTF-16 code units: the same order on every platform.
  const record = /** @type {Record<string, unknown>} */ (value);
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/**
 * sha256 of the canonical JSON of `value`, hex.
 * @param {unknown} value
 * @returns {string}
 */
export function hashCanonical(value) {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * hash = sha256(canonical JSON of {seq, prevHash, record}). Every field of the record is
 * covered, so editing any of them, removing an event (seq gap, prevHash mismatch) or
 * reordering events (prevHash mismatch) is detected by verifyAuditChain (audit-chain.ts).
 *
 * Fields added after the first release (`observed`, `reportedBy`, `caller`, `txn`, `actors`, `risk`) join the hashed record only
 * when set: canonical JSON drops absent keys, so a record written before they existed hashes
 * exactly as it did then and old chains verify unchanged, while a record that has one cannot
 * lose it without its hash changing.
 * @param {import('./types.js').DecisionRecord} record
 * @param {number} seq
 * @param {string} prevHash
 * @returns {string}
 */
export function computeAuditHash(record, seq, prevHash) {
  const { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs } = record;
  const observed = record.observed === true ? true : undefined;
  const { reportedBy, caller, txn, actors, risk } = record;
  return hashCanonical({
    seq,
    prevHash,
    record: { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs, observed, reportedBy, caller, txn, actors, risk },
  });
}
