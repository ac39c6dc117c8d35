/**
 * A server stop with a deadline: stop accepting, let in-flight requests finish, write the audit,
 * close the store — each step raced against the deadline, so a database that never answers (a
 * black-holed connection) cannot hold the stop. Audit records not written by then are spooled.
 */
import type { DecisionRecord } from '@verity/core';
import { writeAuditSpool } from './audit-spool.js';
import type { AuditWriter } from './audit-writer.js';
import type { Logger } from './logger.js';

/** What a stop left behind: `unwritten` audit records, spooled to the file `spooled` (null: none, or lost). */
export interface StopOutcome {
  unwritten: number;
  spooled: string | null;
}

export interface CloseOptions {
  /** Everything must be done within this many ms (default: the server's `shutdownTimeoutMs`). */
  deadlineMs?: number;
}

/** The parts of a running server a stop closes, in this order. */
export interface StoppableParts {
  /** Stops accepting connections and resolves once in-flight requests are answered. */
  http: { close(): Promise<unknown> };
  background: Array<{ close(): Promise<unknown> }>;
  audit: Pick<AuditWriter, 'stop'>;
  spoolDir: string | null;
  database: { close(): Promise<unknown> };
  /** Released only when the database closed in time (else the exiting process leaves it to be reclaimed). */
  lock: { release(): Promise<unknown> } | null;
  log: Logger;
}

/** Resolves true when `work` settled within `ms`, false when the time ran out first (a rejection is logged). */
async function within(work: Promise<unknown>, ms: number, log: Logger, what: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = work.then(
    () => true,
    (error: unknown) => {
      log.error({ err: error }, `stop: ${what} failed`);
      return true;
    },
  );
  const finished = await Promise.race([done, timeUp]);
  clearTimeout(timer);
  if (!finished) log.warn({ step: what }, 'stop: deadline reached before this step finished; moving on');
  return finished;
}

/** Spool what was not written; never throws (a spool that cannot be written is logged and counted as lost). */
async function spool(parts: StoppableParts, records: DecisionRecord[]): Promise<string | null> {
  if (records.length === 0 || parts.spoolDir === null) return null;
  try {
    return await writeAuditSpool(parts.spoolDir, records);
  } catch (error) {
    parts.log.error({ err: error, dir: parts.spoolDir, records: records.length }, 'stop: the audit spool could not be written; these records are lost');
    return null;
  }
}

/** Stop `parts` within `deadlineMs`; resolves by then (plus the spool's fsync) with what was left unwritten. */
export async function stopWithDeadline(parts: StoppableParts, deadlineMs: number): Promise<StopOutcome> {
  const deadline = Date.now() + deadlineMs;
  // Kept for spooling and closing the store once the audit's share of the time is over.
  const reserve = Math.min(1000, Math.floor(deadlineMs / 5));
  const left = () => Math.max(0, deadline - reserve - Date.now());
  await within(parts.http.close(), left(), parts.log, 'finishing requests');
  for (const part of parts.background) await within(part.close(), left(), parts.log, 'stopping background work');
  const unwritten = await parts.audit.stop(left());
  const spooled = await spool(parts, unwritten);
  if (unwritten.length > 0) parts.log.error({ unwritten: unwritten.length, spooled }, 'stop: audit records not written to the store');
  const closed = await within(parts.database.close(), Math.max(0, deadline - Date.now()), parts.log, 'closing the store');
  if (closed) await parts.lock?.release();
  return { unwritten: unwritten.length, spooled };
}
