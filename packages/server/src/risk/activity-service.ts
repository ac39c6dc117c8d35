/**
 * Per-subject signals of the risk engine (impossible travel, rate and behaviour): what each
 * subject did lately, held in memory per replica so a decision never waits on the store (a
 * subject this replica does not hold yet is read once). Each decision is added to memory at once
 * and queued; a flush merges the queue into the store and publishes an `activity` change, on
 * which every replica re-reads the subjects it holds that were written since. A sweep deletes
 * what is past the tenant's retention window (docs/continuous-verification.md).
 */
import {
  activityBounds,
  activitySignal,
  mergeActivity,
  requestActivity,
  type ActivityBounds,
  type ActivityRequest,
  type ActivitySettings,
  type ActivitySignal,
  type SubjectActivity,
  VerityError,
} from '@verity/core';
import type { Store } from '@verity/store';
import type { PublishChange } from '../change-feed.js';

/** One request of one subject (the decision's principal as Cedar uid text). */
export interface SubjectRequest extends ActivityRequest {
  subject: string;
}

export interface ActivityService {
  /**
   * The request's per-subject signals against what the subject did before it (from memory; the
   * subject's row is read once when this replica does not hold it). Rejects only when that read
   * fails (the store is down: the decision fails, closed).
   */
  signal(tenant: string, request: SubjectRequest, settings: ActivitySettings): Promise<ActivitySignal>;
  /** Add a decided request to the subject's activity: in memory at once, to the store at the next flush. */
  observe(tenant: string, request: SubjectRequest, settings: ActivitySettings): void;
  /** Write what is queued now (also run every `flushMs` while anything is queued, and on stop). */
  flush(): Promise<void>;
  /** Delete, in the store and memory, every subject past its tenant's retention (every `sweepMs`). */
  sweep(): Promise<void>;
  /**
   * Erase what is kept of a subject (its row emptied at once, deleted by the next sweep; every
   * replica drops what it holds at the `activity` change). This replica's queue is written first,
   * so nothing decided before the call here survives it. False when nothing was kept.
   * ERR_ACTIVITY_INVALID for a subject that is not 1–2048 characters.
   */
  erase(tenant: string, subject: string): Promise<boolean>;
  /** The tenant's `activity` change arrived: re-read the subjects held that were written since. */
  onChange(tenant: string): void;
  /** Notifications may have been missed: re-read every subject held. */
  onResync(): void;
  /** Stop the timers and flush. */
  stop(): Promise<void>;
}

export interface ActivityServiceOptions {
  store: Store;
  publish: PublishChange;
  /** Clock in epoch ms (default `Date.now`): the sweep's. Requests carry their own time. */
  now?: () => number;
  /** How long an observed request may wait in memory before it is written (default 250 ms). */
  flushMs?: number;
  /** How often expired activity is deleted (default one hour; 0: never by timer). */
  sweepMs?: number;
  /** The most subjects held per tenant (default 10,000; the least recently asked about go first). */
  maxSubjectsPerTenant?: number;
  /** A flush, re-read or sweep failed (its requests are not written: the signals are best effort). */
  onError?: (error: unknown) => void;
}

/** What a replica holds of one tenant: subjects (null: none stored) in least-recently-used order, and how far it read. */
interface HeldTenant {
  subjects: Map<string, SubjectActivity | null>;
  /** The highest `seq` read, and the one the read before started from (re-reads overlap by one round). */
  seq: number;
  previousSeq: number;
}

/** Requests not written yet, merged per subject, with the bounds of the latest. */
interface Queued {
  deltas: Map<string, SubjectActivity>;
  bounds: ActivityBounds;
}

/** The data-bearing part of a stored row. */
const activityOf = (row: SubjectActivity): SubjectActivity => ({
  subject: row.subject,
  lastSeenMs: row.lastSeenMs,
  location: row.location,
  windowSec: row.windowSec,
  windows: row.windows,
  actions: row.actions,
  resourceTypes: row.resourceTypes,
});

export function createActivityService(options: ActivityServiceOptions): ActivityService {
  const { store, publish } = options;
  const now = options.now ?? Date.now;
  const flushMs = options.flushMs ?? 250;
  const maxSubjects = options.maxSubjectsPerTenant ?? 10_000;
  const report = options.onError ?? (() => {});
  const held = new Map<string, HeldTenant>();
  const loading = new Map<string, Promise<SubjectActivity | null>>();
  let queue = new Map<string, Queued>();
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;

  const tenantOf = (tenant: string): HeldTenant => {
    let found = held.get(tenant);
    if (found === undefined) held.set(tenant, (found = { subjects: new Map(), seq: 0, previousSeq: 0 }));
    return found;
  };

  /** Hold `view` as the subject's latest (most recently used), evicting the least recently used past the cap. */
  function hold(tenant: string, subject: string, view: SubjectActivity | null): void {
    const { subjects } = tenantOf(tenant);
    subjects.delete(subject);
    subjects.set(subject, view);
    while (subjects.size > maxSubjects) subjects.delete(subjects.keys().next().value as string);
  }

  /** A stored row with this replica's requests not written yet on top. */
  function withQueued(tenant: string, row: SubjectActivity): SubjectActivity {
    const queued = queue.get(tenant);
    const delta = queued?.deltas.get(row.subject);
    return queued === undefined || delta === undefined ? activityOf(row) : mergeActivity(activityOf(row), delta, queued.bounds);
  }

  async function load(tenant: string, subject: string): Promise<SubjectActivity | null> {
    const key = JSON.stringify([tenant, subject]);
    let running = loading.get(key);
    if (running === undefined) {
      running = (async () => {
        try {
          const row = await store.activity.get(tenant, subject);
          const queued = queue.get(tenant)?.deltas.get(subject);
          const view = row === null ? (queued ?? null) : withQueued(tenant, row);
          hold(tenant, subject, view);
          return view;
        } finally {
          loading.delete(key);
        }
      })();
      loading.set(key, running);
    }
    return running;
  }

  /** Re-read the tenant's held subjects written after `since` (default: from the round before the last). */
  async function reread(tenant: string, fromStart: boolean): Promise<void> {
    const state = held.get(tenant);
    if (state === undefined || state.subjects.size === 0) return;
    const since = fromStart ? 0 : state.previousSeq;
    const startedAt = state.seq;
    const rows = await store.activity.listSince(tenant, since, [...state.subjects.keys()]);
    for (const row of rows) {
      if (state.subjects.has(row.subject)) state.subjects.set(row.subject, withQueued(tenant, row));
      state.seq = Math.max(state.seq, row.seq);
    }
    // A write that committed after a later seq was read is still caught by the next round.
    state.previousSeq = startedAt;
  }

  /** Re-reads under way per tenant; a change arriving meanwhile makes it read once more (never two at once). */
  const rereading = new Map<string, { again: boolean; fromStart: boolean }>();

  function scheduleReread(tenant: string, fromStart: boolean): void {
    const running = rereading.get(tenant);
    if (running !== undefined) {
      running.again = true;
      running.fromStart ||= fromStart;
      return;
    }
    const state = { again: false, fromStart };
    rereading.set(tenant, state);
    void (async () => {
      try {
        do {
          const all = state.fromStart;
          state.again = false;
          state.fromStart = false;
          await reread(tenant, all);
        } while (state.again);
      } catch (error) {
        report(error);
      } finally {
        rereading.delete(tenant);
      }
    })();
  }

  async function flushNow(): Promise<void> {
    const taken = queue;
    queue = new Map();
    for (const [tenant, { deltas, bounds }] of taken) {
      try {
        const rows = await store.activity.record(tenant, [...deltas.values()], bounds);
        const state = held.get(tenant);
        for (const row of rows) if (state?.subjects.has(row.subject)) state.subjects.set(row.subject, withQueued(tenant, row));
        await publish({ tenant, kind: 'activity' });
      } catch (error) {
        report(error);
      }
    }
  }

  function scheduleFlush(): void {
    if (flushTimer !== undefined || stopped) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void service.flush();
    }, flushMs);
    flushTimer.unref();
  }

  const sweepTimer = (options.sweepMs ?? 3_600_000) > 0 ? setInterval(() => void service.sweep().catch(report), options.sweepMs ?? 3_600_000) : undefined;
  sweepTimer?.unref();

  const service: ActivityService = {
    async signal(tenant, request, settings) {
      const state = held.get(tenant);
      let view: SubjectActivity | null;
      if (state?.subjects.has(request.subject) === true) {
        view = state.subjects.get(request.subject) ?? null;
        hold(tenant, request.subject, view);
      } else {
        view = await load(tenant, request.subject);
      }
      return activitySignal(view, request, settings);
    },

    observe(tenant, request, settings) {
      if (stopped) return;
      const delta = requestActivity(request, settings.rate_window_sec);
      const bounds = activityBounds(settings, request.nowMs);
      let queued = queue.get(tenant);
      if (queued === undefined) queue.set(tenant, (queued = { deltas: new Map(), bounds }));
      queued.bounds = bounds;
      queued.deltas.set(request.subject, mergeActivity(queued.deltas.get(request.subject) ?? null, delta, bounds));
      const subjects = held.get(tenant)?.subjects;
      if (subjects?.has(request.subject) === true) subjects.set(request.subject, mergeActivity(subjects.get(request.subject) ?? null, delta, bounds));
      scheduleFlush();
    },

    flush() {
      flushing = flushing.then(flushNow);
      return flushing;
    },

    async sweep() {
      const nowMs = now();
      for (const tenant of new Set([...(await store.activity.tenants()), ...held.keys()])) {
        const settings = (await store.tenants.get(tenant))?.settings.risk?.activity;
        // Not measured (any more): nothing is kept.
        const cutoff = settings === undefined ? Number.MAX_SAFE_INTEGER : nowMs - settings.retention_days * 86_400_000;
        await store.activity.prune(tenant, cutoff);
        const subjects = held.get(tenant)?.subjects;
        for (const [subject, view] of subjects ?? []) if (view === null || view.lastSeenMs < cutoff) subjects?.delete(subject);
        if (settings === undefined) queue.delete(tenant);
      }
    },

    async erase(tenant, subject) {
      if (typeof subject !== 'string' || subject === '' || subject.length > 2048) throw new VerityError('ERR_ACTIVITY_INVALID', 'a subject is the Cedar uid text of a principal (User::"alice"), 1–2048 characters');
      await service.flush();
      const erased = await store.activity.erase(tenant, subject);
      const subjects = held.get(tenant)?.subjects;
      if (subjects?.has(subject) === true) subjects.set(subject, null);
      if (erased) await publish({ tenant, kind: 'activity' });
      return erased;
    },

    onChange(tenant) {
      scheduleReread(tenant, false);
    },

    onResync() {
      for (const tenant of held.keys()) scheduleReread(tenant, true);
    },

    async stop() {
      stopped = true;
      clearTimeout(flushTimer);
      flushTimer = undefined;
      if (sweepTimer !== undefined) clearInterval(sweepTimer);
      await service.flush();
    },
  };
  return service;
}
