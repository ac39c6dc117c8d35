/**
 * Audit writes off the hot path: decisions are queued and written in batches. Nothing is
 * dropped: when the store is slow or down the queue holds records and retries, and past
 * `maxQueue` decisions wait for room (backpressure) instead of losing evidence.
 */
import type { DecisionRecord } from '@verity/core';
import type { Store } from '@verity/store';

export interface AuditWriterOptions {
  flushMs: number;
  batchSize: number;
  maxQueue: number;
  /** Called on write failures (the batch stays queued and is retried). */
  onError?: (error: unknown, pending: number) => void;
}

export interface AuditWriter {
  /**
   * Queue a record. Returns nothing when there is room, or a promise that resolves when there
   * is (backpressure). Synchronous on purpose: the hot path awaits only when it must wait.
   */
  enqueue(record: DecisionRecord): Promise<void> | undefined;
  /** Write everything queued so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): { written: number; pending: number; failures: number };
}

export function createAuditWriter(store: Store, options: AuditWriterOptions): AuditWriter {
  const queue: DecisionRecord[] = [];
  let written = 0;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let waiters: Array<() => void> = [];
  let closed = false;

  function schedule(delay = options.flushMs): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void drain();
    }, delay);
    timer.unref();
  }

  async function writeAll(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, options.batchSize);
      try {
        await store.audit.append(batch);
      } catch (error) {
        failures++;
        options.onError?.(error, queue.length);
        throw error;
      }
      queue.splice(0, batch.length);
      written += batch.length;
      const ready = waiters;
      waiters = [];
      ready.forEach((wake) => wake());
    }
  }

  /**
   * The one write in progress (a second writer would take the same batch and chain it twice).
   * Rejects when the write failed; the records stay queued and are retried with backoff.
   */
  function drain(): Promise<void> {
    if (!running) {
      const write = writeAll().finally(() => {
        running = null;
      });
      write.catch(() => {
        // Keep the records and try again later; backoff grows with consecutive failures.
        schedule(Math.min(5000, options.flushMs * 2 ** Math.min(failures, 7)));
      });
      running = write;
    }
    return running;
  }

  return {
    enqueue(record) {
      queue.push(record);
      if (queue.length >= options.batchSize) void drain();
      else schedule();
      if (queue.length <= options.maxQueue) return undefined;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },

    async flush() {
      // Wait for a write in progress, then write what is left; surface persistent failure.
      if (running) await running.catch(() => {});
      if (queue.length > 0) await drain();
    },

    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (running) await running.catch(() => {});
      if (queue.length > 0) await drain();
    },

    stats() {
      return { written, pending: queue.length, failures };
    },
  };
}
