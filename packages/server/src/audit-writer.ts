/**
 * Audit writes for every decision the PDP answers, in one of two promises (`durability`):
 *
 * - `durable` (default, group commit): `enqueue` resolves only once the batch holding the record
 *   is committed. Decisions that arrive while a write is in flight gather and go in the next
 *   write as soon as it completes, so concurrent decisions share one write. A record not
 *   committed within `maxWaitMs` makes its decision fail with ERR_AUDIT_UNAVAILABLE (503); the
 *   record stays queued and is written when the store is back. The audit therefore over-reports
 *   (it may hold a decision whose client saw a 503), never under-reports.
 * - `batched`: records are written every `flushMs` or `batchSize` records; a decision is answered
 *   before its record is durable, but only while the oldest unwritten record is younger than
 *   `maxLagMs`: past that, new decisions fail with ERR_AUDIT_UNAVAILABLE until the writer catches
 *   up. A crash (kill -9) can lose at most the answered decisions of the last `maxLagMs` or so.
 *
 * Nothing queued is dropped: a failed write keeps its records and is retried with backoff, and
 * `stop` hands back whatever it could not write by its deadline (the caller spools it).
 *
 * This thread (the one that decides) only queues records and settles the waiting decisions. A
 * write is `store.audit.append` of one batch, which the driver hands to its own thread in one
 * message (PGlite's worker; PostgreSQL's audit thread): canonical JSON, the SHA-256 chain and
 * the inserts run there (`@verity/store` audit-append.mjs). One write is in flight at a time, so
 * each record is chained once and in queue order.
 */
import { VerityError, type DecisionRecord } from '@verity/core';
import type { Store } from '@verity/store';

/** `durable`: answered only once committed (group commit). `batched`: answered first, lag-bounded. */
export type AuditDurability = 'durable' | 'batched';

export interface AuditWriterOptions {
  /** Default `durable`. */
  durability?: AuditDurability;
  /** `batched`: write at least this often (ms). `durable` writes at once and ignores it. */
  flushMs: number;
  /** Most records in one write. */
  batchSize: number;
  /**
   * Most records held unwritten. `durable`: past it a decision is refused at once
   * (ERR_AUDIT_UNAVAILABLE). `batched`: past it decisions wait for room (backpressure).
   */
  maxQueue: number;
  /**
   * `durable`: the longest (ms) a decision waits for its record to commit before it fails with
   * ERR_AUDIT_UNAVAILABLE. Default 2000: shorter than the request deadline, so a client learns
   * that the audit (not something else) is the trouble. Also the `durable` readiness bound.
   */
  maxWaitMs?: number;
  /**
   * `batched`: the oldest unwritten record may be at most this old (ms) for new decisions to be
   * answered; default 100. `Infinity` removes the bound (the behaviour before issue 9).
   */
  maxLagMs?: number;
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number;
  /** Called on write failures (the batch stays queued and is retried). */
  onError?: (error: unknown, pending: number) => void;
}

/** Whether the writer keeps its promise right now (`/readyz`'s `audit` check). */
export interface AuditWriterHealth {
  ok: boolean;
  /** Age (ms) of the oldest record not yet written; 0 when none. */
  lagMs: number;
  pending: number;
  /** Writes failed in a row since the last success. */
  consecutiveFailures: number;
}

export interface AuditWriter {
  /**
   * Queue a record. `durable`: a promise that resolves once the record is committed, or rejects
   * with ERR_AUDIT_UNAVAILABLE (503) after `maxWaitMs` or at once when the writer is past its
   * bounds (the decision must then not be answered). `batched`: nothing when there is room, a
   * promise when the queue is full (backpressure), or a rejected promise (ERR_AUDIT_UNAVAILABLE)
   * past `maxLagMs`. A refused record is not kept; one that timed out waiting is.
   */
  enqueue(record: DecisionRecord): Promise<void> | undefined;
  /** Write everything queued so far; rejects with ERR_AUDIT_UNAVAILABLE (the store's error as `cause`) when a write fails. */
  flush(): Promise<void>;
  /**
   * Refuse new records and write what is queued until `deadlineMs` (ms from now) has passed;
   * resolves, by the deadline, with the records not written (oldest first; a write still in
   * flight counts as not written — re-appending it is safe, see `skipExisting`). Waiting
   * decisions of those records fail with ERR_AUDIT_UNAVAILABLE.
   */
  stop(deadlineMs: number): Promise<DecisionRecord[]>;
  /** Refuse new records and write everything queued, however long it takes. */
  close(): Promise<void>;
  health(): AuditWriterHealth;
  stats(): { written: number; pending: number; failures: number };
}

interface Entry {
  record: DecisionRecord;
  at: number;
  /** `durable`: the waiting decision, until it is settled. */
  waiter?: { resolve: () => void; reject: (error: VerityError) => void; timer: NodeJS.Timeout } | undefined;
}

const DEFAULT_MAX_WAIT_MS = 2000;
const DEFAULT_MAX_LAG_MS = 100;
const MAX_BACKOFF_MS = 5000;

function unavailable(message: string): VerityError {
  return new VerityError('ERR_AUDIT_UNAVAILABLE', message);
}

export function createAuditWriter(store: Store, options: AuditWriterOptions): AuditWriter {
  const durable = (options.durability ?? 'durable') === 'durable';
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const maxLagMs = options.maxLagMs ?? DEFAULT_MAX_LAG_MS;
  const bound = durable ? maxWaitMs : maxLagMs;
  const now = options.now ?? Date.now;
  // Oldest first; a record leaves only once committed (so queue[0] is the oldest unwritten).
  const queue: Entry[] = [];
  let written = 0;
  let failures = 0;
  let consecutiveFailures = 0;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let roomWaiters: Array<() => void> = [];
  let closed = false;
  let gathering: NodeJS.Immediate | null = null;
  let lastError: unknown = null;

  function lagMs(): number {
    const oldest = queue[0];
    return oldest === undefined ? 0 : Math.max(0, now() - oldest.at);
  }

  function schedule(delay: number): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void drain();
    }, delay);
    timer.unref();
  }

  function settle(entry: Entry, error?: VerityError): void {
    const waiter = entry.waiter;
    if (!waiter) return;
    entry.waiter = undefined;
    clearTimeout(waiter.timer);
    if (error) waiter.reject(error);
    else waiter.resolve();
  }

  /** Write queued batches until the queue is empty (or, `once`, one batch). */
  async function writeAll(once = false): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, options.batchSize);
      try {
        // After a failure the store may have committed part of what it reported failed (one
        // transaction per tenant, or a commit whose answer was lost): skip what it already has.
        await store.audit.append(
          batch.map((entry) => entry.record),
          consecutiveFailures > 0 ? { skipExisting: true } : undefined,
        );
      } catch (error) {
        failures++;
        consecutiveFailures++;
        options.onError?.(error, queue.length);
        throw error;
      }
      consecutiveFailures = 0;
      queue.splice(0, batch.length);
      written += batch.length;
      for (const entry of batch) settle(entry);
      const ready = roomWaiters;
      roomWaiters = [];
      ready.forEach((wake) => wake());
      if (once) return;
    }
  }

  /** Start a write unless one runs (only one ever does: two would chain the same records twice). */
  function drain(): Promise<void> {
    if (!running) {
      running = writeAll(durable)
        .catch((error: unknown) => {
          lastError = error;
          // Keep the records and try again later; backoff grows with consecutive failures.
          schedule(Math.min(MAX_BACKOFF_MS, Math.max(options.flushMs, 10) * 2 ** Math.min(consecutiveFailures, 9)));
        })
        .finally(() => {
          running = null;
          if (durable && queue.length > 0) gather();
        });
    }
    return running;
  }

  /**
   * Durable: start the next write once the event loop has taken in what is pending. Requests
   * that arrived during a write are parsed only when this thread gets to them; writing again at
   * once (in a microtask) would commit one record at a time. One turn of the loop lets the
   * concurrent decisions join the group (no timer wait).
   */
  function gather(): void {
    if (running || gathering || consecutiveFailures > 0 || closed) return;
    gathering = setImmediate(() => {
      gathering = null;
      void drain();
    });
  }

  function enqueueDurable(record: DecisionRecord): Promise<void> {
    if (closed) return Promise.reject(unavailable('the server is stopping: the decision was not recorded'));
    if (queue.length >= options.maxQueue || lagMs() >= maxWaitMs) {
      return Promise.reject(unavailable('the audit store is not accepting records in time: the decision was not answered'));
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { record, at: now() };
      const timeout = setTimeout(() => settle(entry, unavailable(`the decision's audit record was not committed within ${maxWaitMs} ms: the decision was not answered (the record is kept and written later)`)), maxWaitMs);
      timeout.unref();
      entry.waiter = { resolve, reject, timer: timeout };
      queue.push(entry);
      gather();
    });
  }

  function enqueueBatched(record: DecisionRecord): Promise<void> | undefined {
    if (closed) return Promise.reject(unavailable('the server is stopping: the decision was not recorded'));
    if (lagMs() > maxLagMs) return Promise.reject(unavailable(`the audit is more than ${maxLagMs} ms behind: the decision was not answered`));
    queue.push({ record, at: now() });
    if (queue.length >= options.batchSize) void drain();
    else schedule(options.flushMs);
    if (queue.length <= options.maxQueue) return undefined;
    return new Promise<void>((resolve) => roomWaiters.push(resolve));
  }

  /** Write everything queued so far, through the one writer (see {@link AuditWriter.flush}). */
  async function flush(): Promise<void> {
    if (running) await running;
    while (queue.length > 0) {
      const failed = failures;
      await drain();
      if (failures > failed) throw new VerityError('ERR_AUDIT_UNAVAILABLE', 'the audit store is not accepting records', { cause: lastError });
    }
  }

  /** No more records, and no more timed or gathered writes (the caller writes what is left). */
  function refuseNew(): void {
    closed = true;
    if (timer) clearTimeout(timer);
    timer = null;
    if (gathering) clearImmediate(gathering);
    gathering = null;
  }

  function refuseAll(entries: readonly Entry[]): void {
    for (const entry of entries) settle(entry, unavailable('the server stopped before the decision\'s audit record was committed'));
  }

  return {
    enqueue: durable ? enqueueDurable : enqueueBatched,

    flush,

    async stop(deadlineMs) {
      refuseNew();
      let expired = false;
      let deadline: NodeJS.Timeout | undefined;
      const timeUp = new Promise<void>((resolve) => {
        deadline = setTimeout(() => {
          expired = true;
          resolve();
        }, deadlineMs);
      });
      try {
        while (queue.length > 0 && !expired) {
          // A write that never returns (a black-holed database) must not hold the stop.
          await Promise.race([drain(), timeUp]);
          if (!expired && consecutiveFailures > 0) {
            const pause = Math.min(250, Math.max(options.flushMs, 10) * 2 ** Math.min(consecutiveFailures, 5));
            await Promise.race([new Promise((resolve) => setTimeout(resolve, pause)), timeUp]);
          }
        }
      } finally {
        clearTimeout(deadline);
      }
      const left = queue.splice(0, queue.length);
      refuseAll(left);
      return left.map((entry) => entry.record);
    },

    async close() {
      refuseNew();
      await flush();
    },

    health() {
      const lag = lagMs();
      return { ok: consecutiveFailures === 0 && lag <= bound && queue.length < options.maxQueue, lagMs: lag, pending: queue.length, consecutiveFailures };
    },

    stats() {
      return { written, pending: queue.length, failures };
    },
  };
}
