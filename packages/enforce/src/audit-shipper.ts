/**
 * Ships decisions made in-process to the PDP's audit (`POST /tenants/{t}/audit/v1/decisions`)
 * in batches, at least once: a record leaves the spool (or the memory queue) only after the PDP
 * answered 2xx, and is retried with backoff while the PDP is down. The PDP skips decision ids
 * it already chained, so redelivery is safe.
 */
import type { DecisionRecord } from '@verity/core';
import { openAuditSpool, type AuditSpool, type RecordQueue } from './audit-spool.js';
import { EnforceError, isEnforceError } from './errors.js';
import { checkCommonOptions, positive, requestPdp, tenantBase } from './pdp-request.js';

export interface AuditShipperOptions {
  /** The PDP's base URL. */
  url: string;
  tenant: string;
  /** The PEP's Verity credential (a `decide` credential), unless decisions are open. */
  credential?: string;
  fetch?: typeof fetch;
  /** Records per request (default 100; the PDP takes at most 1000). */
  batchSize?: number;
  /** How long a record may wait for a batch to fill before it is sent anyway, in ms (default 200). */
  flushMs?: number;
  /**
   * Without a spool (`spoolDir: null`): records held at most while the PDP cannot take them
   * (default 100 000). Past it, the oldest are kept and new ones are dropped: counted in
   * `stats().dropped` and reported to `onError`. The spool drops nothing while the disk has room.
   */
  maxQueue?: number;
  /** Delay before the first retry, doubled per failure up to `maxMs` (defaults 250 and 30 000), with jitter. */
  retryBackoff?: { initialMs?: number; maxMs?: number };
  /** Budget for one delivery request, in ms (default 10 000). */
  timeoutMs?: number;
  /** Told about every failed delivery (the records stay queued), drops, and records left unsent at close. */
  onError?: (event: AuditShipperEvent) => void;
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number;
  /**
   * Required: where records wait, chosen explicitly. A directory (created, mode 0700; locked by
   * one process at a time): each record is appended to a JSON-lines segment and fsync'd before
   * `append` resolves — and the local source answers the decision only then —, concurrent
   * records sharing one fsync; a segment is deleted once the PDP acknowledged all its records,
   * and segments left by a crash are shipped after the restart. Nothing is dropped while the
   * disk has room; a record that cannot be written fails its decision closed
   * (`ERR_ENFORCE_AUDIT_SPOOL`). Production local mode sets it.
   * `null`: memory only (up to `maxQueue`): a crash or `kill -9` loses what was not shipped yet.
   */
  spoolDir: string | null;
}

/** What `onError` hears. Dropped records are reported at once, then at most once a second. */
export type AuditShipperEvent =
  | { kind: 'delivery'; error: EnforceError; pending: number; attempt: number }
  | { kind: 'dropped'; dropped: number; pending: number }
  | { kind: 'undelivered'; pending: number }
  /** The spool could not be opened or read, or a segment held lines that do not parse (skipped). */
  | { kind: 'spool'; error: EnforceError };

export interface AuditShipperStats {
  /** Records queued or spooled and not yet acknowledged, including those of a batch in flight. */
  pending: number;
  /** Records the PDP acknowledged. */
  delivered: number;
  /** Records refused because the queue was full (the only loss while open). */
  dropped: number;
  /** Delivery requests that failed and will be retried. */
  failedAttempts: number;
}

export interface AuditShipper {
  /** The tenant whose audit this shipper feeds. */
  readonly tenant: string;
  /** Settles once the spool is open and what an earlier process left in it is counted (at once without a spool). */
  readonly ready: Promise<void>;
  /**
   * Record one decision before it is answered. With a spool: resolves once the record is
   * fsync'd, rejects with `ERR_ENFORCE_AUDIT_SPOOL` when it cannot be (or the shipper is
   * closed). In memory: resolves once queued (or dropped, as {@link AuditShipper.ship}).
   */
  append(record: DecisionRecord): Promise<void>;
  /** Queue one record without waiting; false when it was dropped (queue full, or the shipper closed). Never throws for a full queue. */
  ship(record: DecisionRecord): boolean;
  /** Send what is queued now; resolves once every record queued before the call was acknowledged. Rejects if the shipper closes first. */
  flush(): Promise<void>;
  /**
   * Stop accepting records, try to deliver what is queued for up to `timeoutMs` (default 5000),
   * then stop retrying; whatever is still queued is reported as `undelivered`.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  stats(): AuditShipperStats;
}

const OPTION_KEYS = new Set(['url', 'tenant', 'credential', 'fetch', 'batchSize', 'flushMs', 'maxQueue', 'retryBackoff', 'timeoutMs', 'onError', 'random', 'spoolDir']);
/** Records per spool segment: one is shipped (in batches) and deleted as a whole. */
const SEGMENT_RECORDS = 1000;
const CALLER = 'createAuditShipper';
const DROP_REPORT_MS = 1000;

/** The memory queue (`spoolDir: null`): queue[head..] is pending, oldest first; a batch in flight stays until acknowledged. */
function createMemoryQueue(): RecordQueue & { push(record: DecisionRecord): void } {
  let queue: DecisionRecord[] = [];
  let head = 0;
  return {
    pending: () => queue.length - head,
    push: (record) => void queue.push(record),
    next: async (max) => queue.slice(head, head + max),
    async acknowledge(count) {
      head += count;
      if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
    },
  };
}

/**
 * Create an audit shipper for one tenant. Give it to `createLocalDecisionSource` and close it on
 * shutdown, after the source.
 *
 * @example
 * ```ts
 * const shipper = createAuditShipper({ url: 'http://verity.internal:8181', tenant: 'acme', credential: process.env.VERITY_PEP_TOKEN,
 *   spoolDir: '/var/lib/orders/verity-audit', onError: (event) => log.warn(event, 'audit shipping') });
 * const source = createLocalDecisionSource({ url: 'http://verity.internal:8181', tenant: 'acme', shipper });
 * // on shutdown:
 * await source.close?.();
 * await shipper.close();
 * ```
 */
export function createAuditShipper(options: AuditShipperOptions): AuditShipper {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`${CALLER}: unknown option "${key}"`);
  checkCommonOptions(options, CALLER);
  if (options.spoolDir !== null && (typeof options.spoolDir !== 'string' || options.spoolDir === '')) {
    throw new TypeError(`${CALLER}: spoolDir is required: a directory for the durable spool, or null to keep records in memory only (lost on a crash)`);
  }
  const endpoint = `${tenantBase(options.url, options.tenant, CALLER)}/audit/v1/decisions`;
  const batchSize = positive(options.batchSize, 100, 'batchSize', CALLER, true);
  if (batchSize > 1000) throw new TypeError(`${CALLER}: batchSize must be at most 1000 (the PDP's limit)`);
  const flushMs = positive(options.flushMs, 200, 'flushMs', CALLER);
  const maxQueue = positive(options.maxQueue, 100_000, 'maxQueue', CALLER, true);
  const initialMs = positive(options.retryBackoff?.initialMs, 250, 'retryBackoff.initialMs', CALLER);
  const maxMs = positive(options.retryBackoff?.maxMs, 30_000, 'retryBackoff.maxMs', CALLER);
  const timeoutMs = positive(options.timeoutMs, 10_000, 'timeoutMs', CALLER);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const random = options.random ?? Math.random;
  const { tenant, credential } = options;

  let accepted = 0;
  let delivered = 0;
  let dropped = 0;
  let failedAttempts = 0;
  let failures = 0;
  let lastDropReport = -Infinity;
  let sending = false;
  let backingOff = false;
  let closed = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const waiters: Array<{ target: number; resolve: () => void; reject: (error: Error) => void }> = [];

  const memory = options.spoolDir === null ? createMemoryQueue() : null;
  let spool: AuditSpool | null = null;
  let spoolError: EnforceError | null = null;
  const ready: Promise<void> =
    options.spoolDir === null
      ? Promise.resolve()
      : openAuditSpool({
          dir: options.spoolDir,
          segmentRecords: SEGMENT_RECORDS,
          onCorrupt: (segment, lines) => report({ kind: 'spool', error: new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', `${lines} unreadable line(s) in ${segment} were skipped`) }),
        }).then(
          (opened) => {
            spool = opened;
            accepted += opened.recovered;
            // What a crashed process left is shipped now.
            if (opened.recovered > 0) schedule(0);
          },
          (error: unknown) => {
            spoolError = new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', 'the audit spool could not be opened', { cause: error });
            report({ kind: 'spool', error: spoolError });
          },
        );
  /** Where records wait: the spool once open, or memory. */
  const waiting = (): RecordQueue | null => memory ?? spool;

  const pending = () => waiting()?.pending() ?? 0;

  function report(event: AuditShipperEvent): void {
    try {
      options.onError?.(event);
    } catch {
      // A failing logger must not stop delivery.
    }
  }

  function schedule(delayMs: number): void {
    if (timer !== undefined || sending || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      backingOff = false;
      void pump();
    }, delayMs);
    timer.unref();
  }

  function settleWaiters(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as (typeof waiters)[number];
      if (delivered >= waiter.target) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  async function pump(): Promise<void> {
    const queue = waiting();
    if (sending || stopped || queue === null) return;
    sending = true;
    try {
      while (queue.pending() > 0 && !stopped) {
        let batch: DecisionRecord[];
        try {
          batch = await queue.next(batchSize);
          if (batch.length === 0) break;
          await requestPdp(endpoint, { fetch: fetchImpl, method: 'POST', credential, timeoutMs, body: { records: batch } });
        } catch (error) {
          failedAttempts += 1;
          failures += 1;
          const failure = isEnforceError(error) ? error : new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', 'the audit spool could not be read', { cause: error });
          report(failure.code === 'ERR_ENFORCE_AUDIT_SPOOL' ? { kind: 'spool', error: failure } : { kind: 'delivery', error: failure, pending: pending(), attempt: failures });
          const ceiling = Math.min(maxMs, initialMs * 2 ** (failures - 1));
          backingOff = true;
          sending = false;
          schedule(ceiling / 2 + (random() * ceiling) / 2);
          return;
        }
        failures = 0;
        await queue.acknowledge(batch.length);
        delivered += batch.length;
        settleWaiters();
      }
    } finally {
      sending = false;
    }
  }

  /** A record was taken: send a full batch now, else within `flushMs`. */
  function taken(): void {
    accepted += 1;
    if (backingOff || sending) return;
    if (pending() >= batchSize) {
      clearTimeout(timer);
      timer = undefined;
      void pump();
    } else schedule(flushMs);
  }

  function checkTenant(record: DecisionRecord): void {
    if (record?.tenant !== tenant) throw new TypeError(`${CALLER}: a record of tenant "${String(record?.tenant)}" shipped to "${tenant}"`);
  }

  function drop(): false {
    dropped += 1;
    const at = Date.now();
    if (dropped === 1 || at - lastDropReport >= DROP_REPORT_MS) {
      lastDropReport = at;
      report({ kind: 'dropped', dropped, pending: pending() });
    }
    return false;
  }

  async function append(record: DecisionRecord): Promise<void> {
    checkTenant(record);
    if (memory) {
      ship(record);
      return;
    }
    await ready;
    if (spool === null) throw spoolError as EnforceError;
    if (closed) throw new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', 'the audit shipper is closed');
    await spool.append(record);
    taken();
  }

  function ship(record: DecisionRecord): boolean {
    checkTenant(record);
    if (!memory) {
      if (closed) return drop();
      append(record).catch((error: unknown) => report({ kind: 'spool', error: error as EnforceError }));
      return true;
    }
    if (closed || memory.pending() >= maxQueue) return drop();
    memory.push(record);
    taken();
    return true;
  }

  /** Records left by an earlier process count too: wait until the spool has counted them. */
  function flush(): Promise<void> {
    return ready.then(flushTaken);
  }

  function flushTaken(): Promise<void> {
    const target = accepted;
    if (delivered >= target) return Promise.resolve();
    if (stopped) return Promise.reject(new Error('the audit shipper is closed'));
    const done = new Promise<void>((resolve, reject) => waiters.push({ target, resolve, reject }));
    if (!backingOff && !sending) {
      clearTimeout(timer);
      timer = undefined;
      void pump();
    }
    return done;
  }

  async function close(closeOptions: { timeoutMs?: number } = {}): Promise<void> {
    const budget = positive(closeOptions.timeoutMs, 5000, 'timeoutMs', 'AuditShipper.close');
    closed = true;
    await ready;
    if (!stopped && pending() > 0) {
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([flush().catch(() => undefined), new Promise<void>((resolve) => (deadline = setTimeout(resolve, budget)))]);
      clearTimeout(deadline);
    }
    stopped = true;
    clearTimeout(timer);
    timer = undefined;
    // What is left stays in the spool, for the next process to ship.
    await (spool as AuditSpool | null)?.close();
    if (pending() > 0) report({ kind: 'undelivered', pending: pending() });
    for (const waiter of waiters.splice(0)) waiter.reject(new Error('the audit shipper closed before the records were delivered'));
  }

  return {
    tenant,
    ready,
    append,
    ship,
    flush,
    close,
    stats: () => ({ pending: pending(), delivered, dropped, failedAttempts }),
  };
}
