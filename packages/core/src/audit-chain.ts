/** The per-tenant audit hash chain: how an event's hash is computed and how a chain is checked. */
import { hashCanonical } from './canonical-json.js';
import type { AuditEvent, DecisionRecord } from './types.js';

/** The hash the first event of every tenant's chain links to. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * hash = sha256(canonical JSON of {seq, prevHash, record}). Every field of the record is
 * covered, so editing any of them, removing an event (seq gap, prevHash mismatch) or
 * reordering events (prevHash mismatch) is detected by {@link verifyAuditChain}.
 */
export function computeAuditHash(record: DecisionRecord, seq: number, prevHash: string): string {
  const { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs } = record;
  // `observed` joins the hashed fields only when set, so records without it hash as they always did.
  const observed = record.observed === true ? true : undefined;
  return hashCanonical({
    seq,
    prevHash,
    record: { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs, observed },
  });
}

export type AuditProblemKind = 'edited' | 'gap' | 'reordered' | 'broken-link';

export interface AuditProblem {
  seq: number;
  kind: AuditProblemKind;
}

/** Incremental verifier: feed events in seq order (pages of any size), then read `problems`. */
export interface AuditChainVerifier {
  push(events: readonly AuditEvent[]): void;
  readonly checked: number;
  readonly problems: readonly AuditProblem[];
}

export function createAuditChainVerifier(start?: { seq: number; hash: string }): AuditChainVerifier {
  let expectedSeq = (start?.seq ?? 0) + 1;
  let prevHash = start?.hash ?? GENESIS_HASH;
  let checked = 0;
  const problems: AuditProblem[] = [];
  return {
    push(events) {
      for (const event of events) {
        checked++;
        if (event.seq < expectedSeq) problems.push({ seq: event.seq, kind: 'reordered' });
        else if (event.seq > expectedSeq) problems.push({ seq: expectedSeq, kind: 'gap' });
        if (computeAuditHash(event, event.seq, event.prevHash) !== event.hash) {
          problems.push({ seq: event.seq, kind: 'edited' });
        } else if (event.prevHash !== prevHash) {
          problems.push({ seq: event.seq, kind: 'broken-link' });
        }
        expectedSeq = event.seq + 1;
        prevHash = event.hash;
      }
    },
    get checked() {
      return checked;
    },
    get problems() {
      return problems;
    },
  };
}

/** Verify a whole chain held in memory. */
export function verifyAuditChain(events: readonly AuditEvent[]): { ok: boolean; checked: number; problems: AuditProblem[] } {
  const verifier = createAuditChainVerifier();
  verifier.push(events);
  return { ok: verifier.problems.length === 0, checked: verifier.checked, problems: [...verifier.problems] };
}
