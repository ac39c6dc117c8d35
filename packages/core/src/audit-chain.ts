/** The per-tenant audit hash chain: how an event's hash is computed and how a chain is checked. */
import { GENESIS_HASH, computeAuditHash } from './audit-hash.mjs';
import type { AuditEvent } from './types.js';

/**
 * The hash of an event (`computeAuditHash`: sha256 of the canonical JSON of {seq, prevHash,
 * record}) and {@link GENESIS_HASH} live in audit-hash.mjs, plain JavaScript, so the threads
 * that chain and write audit records (the store drivers' workers) run the very code that
 * verification runs here.
 */
export { GENESIS_HASH, computeAuditHash } from './audit-hash.mjs';

/**
 * - `edited`: the event's hash is not the hash of its content.
 * - `gap` / `reordered`: seq numbers skip or go back.
 * - `broken-link`: the event hashes right but does not link to the event before it.
 * - `truncated`: the chain head (stored apart from the events) is further on than the last event: the newest events were deleted.
 * - `head-mismatch`: the last event is not the one the head names (rewritten, or events beyond the head).
 * - `checkpoint-mismatch`: the chain no longer holds the event a signed checkpoint names.
 */
export type AuditProblemKind = 'edited' | 'gap' | 'reordered' | 'broken-link' | 'truncated' | 'head-mismatch' | 'checkpoint-mismatch';

export interface AuditProblem {
  seq: number;
  kind: AuditProblemKind;
}

/** Where a chain ends: the seq and hash of its newest event (seq 0 and {@link GENESIS_HASH} when empty). */
export interface AuditChainHead {
  seq: number;
  hash: string;
}

/** Incremental verifier: feed events in seq order (pages of any size), then `end` with the stored head, then read `problems`. */
export interface AuditChainVerifier {
  push(events: readonly AuditEvent[]): void;
  /** Compare where the events ended with the chain head recorded apart from them. */
  end(head: AuditChainHead): void;
  readonly checked: number;
  readonly problems: readonly AuditProblem[];
}

export function createAuditChainVerifier(start?: AuditChainHead): AuditChainVerifier {
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
    end(head) {
      const lastSeq = expectedSeq - 1;
      if (lastSeq < head.seq) problems.push({ seq: lastSeq + 1, kind: 'truncated' });
      else if (lastSeq > head.seq || prevHash !== head.hash) problems.push({ seq: head.seq, kind: 'head-mismatch' });
    },
    get checked() {
      return checked;
    },
    get problems() {
      return problems;
    },
  };
}

/** Verify a whole chain held in memory; with `head`, also that it ends where the head says. */
export function verifyAuditChain(events: readonly AuditEvent[], head?: AuditChainHead): { ok: boolean; checked: number; problems: AuditProblem[] } {
  const verifier = createAuditChainVerifier();
  verifier.push(events);
  if (head !== undefined) verifier.end(head);
  return { ok: verifier.problems.length === 0, checked: verifier.checked, problems: [...verifier.problems] };
}

/**
 * Whether a chain still holds the head a signed checkpoint names: `event` is the chain's event
 * at `checkpoint.seq` (undefined when it has none). A checkpoint of the empty chain (seq 0)
 * holds for any chain. Returns the problem, or null.
 */
export function checkAuditCheckpoint(event: AuditChainHead | undefined, checkpoint: AuditChainHead): AuditProblem | null {
  if (checkpoint.seq === 0 && checkpoint.hash === GENESIS_HASH) return null;
  return event?.seq === checkpoint.seq && event.hash === checkpoint.hash ? null : { seq: checkpoint.seq, kind: 'checkpoint-mismatch' };
}
