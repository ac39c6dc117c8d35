/**
 * The change feed between replicas: after a write, a replica publishes `{tenant, kind}` with
 * NOTIFY; every replica (itself included) drops what it cached for that tenant. PostgreSQL is
 * the store of record, so a dropped cache entry is simply read again. On PostgreSQL the feed
 * also carries each replica's heartbeat, which bounds how stale the replica may be (freshness.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '@verity/store';
import type { Freshness } from './freshness.js';

export const CHANGES_CHANNEL = 'verity_changes';

/**
 * What changed: `settings` is the tenant's settings (they travel with its active policy and
 * bundle); `credentials` is an admin/PEP credential (published on the `_system` tenant);
 * `workload` is the tenant's workload identity: registrations, the deny list or the CA (PEPs
 * fetch `/denied` and `/bundle` again); `device` is a registered device or its posture (device
 * trust: every replica reads the tenant's devices again); `assurance` is a subject's assurance
 * level from a CAEP assurance-level-change (every replica reads the tenant's levels again);
 * `threat` is an imported threat list (IP reputation: every replica reads the tenant's lists
 * again); `activity` is per-subject activity a replica wrote (every replica re-reads the subjects
 * it holds that were written since).
 */
/** `tenant`: the tenant was deleted; every view of it goes. */
export type ChangeKind = 'policy' | 'entities' | 'identity' | 'revocation' | 'settings' | 'credentials' | 'workload' | 'device' | 'assurance' | 'threat' | 'activity' | 'tenant';

const KINDS = new Set<string>(['policy', 'entities', 'identity', 'revocation', 'settings', 'credentials', 'workload', 'device', 'assurance', 'threat', 'activity', 'tenant']);

export interface Change {
  tenant: string;
  kind: ChangeKind;
}

export type PublishChange = (change: Change) => Promise<void>;

export interface ChangeFeed {
  publish: PublishChange;
  /**
   * Hear every change as it arrives through the database's NOTIFY (from this replica or any
   * other), once each: what the server-sent change stream forwards to PEPs.
   */
  subscribe(listener: (change: Change) => void): () => void;
  close(): Promise<void>;
}

export interface ChangeHandlers {
  /**
   * Apply a change: drop or read again what it makes stale. Returns once it is applied (views
   * read again): a publish, and a barrier on a shared database, wait for that.
   */
  onChange(change: Change): void | Promise<unknown>;
  /** Notifications may have been missed (the listener reconnected): forget everything. */
  onResync(): void;
}

/** A replica's heartbeat on the feed: `nonce` counts up per replica. */
interface Heartbeat {
  heartbeat: number;
  replica: string;
}

function parsePayload(payload: string): Change | Heartbeat | null {
  try {
    const value = JSON.parse(payload) as { tenant?: unknown; kind?: ChangeKind; heartbeat?: unknown; replica?: unknown };
    if (typeof value.tenant === 'string' && typeof value.kind === 'string' && KINDS.has(value.kind)) return { tenant: value.tenant, kind: value.kind };
    if (typeof value.heartbeat === 'number' && typeof value.replica === 'string') return { heartbeat: value.heartbeat, replica: value.replica };
  } catch {
    // Not ours, or damaged: treat as a resync below.
  }
  return null;
}

export interface ChangeFeedOptions {
  /**
   * Bounded staleness (PostgreSQL): every `maxStalenessMs / 4` the feed sends a heartbeat over
   * the listening connection; one coming back confirms (at its send time) that everything
   * committed before it was delivered, since NOTIFY is delivered in commit order. When none
   * returns within `2 × maxStalenessMs` the listener is reset (reconnect, then a resync drops
   * every cache). Absent: no heartbeat (PGlite, one process, is fresh by construction).
   */
  freshness?: Freshness;
  /** Called when liveness failed and the listener was reset (to log it). */
  onListenerReset?: (silentMs: number) => void;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

export async function startChangeFeed(db: Database, handlers: ChangeHandlers, options: ChangeFeedOptions = {}): Promise<ChangeFeed> {
  const now = options.now ?? Date.now;
  const listeners = new Set<(change: Change) => void>();
  const replica = randomUUID();
  /** Heartbeats sent and not yet back: nonce → send time. */
  const pending = new Map<number, number>();
  let lastBack = now();
  /** Changes heard and not yet applied (their views still being read again). */
  const applying = new Set<Promise<unknown>>();
  const apply = (change: Change): Promise<unknown> => {
    // At once (what a handler drops, it drops before anything else runs); its reads settle later.
    let result: unknown;
    try {
      result = handlers.onChange(change);
    } catch {
      result = undefined;
    }
    const applied = Promise.resolve(result).catch(() => undefined);
    applying.add(applied);
    void applied.then(() => applying.delete(applied));
    return applied;
  };
  // Workers sharing one database: a barrier returns once this worker has applied every change it heard.
  db.holdBarrier?.(() => Promise.all(applying).then(() => undefined));
  const listener = await db.listen(CHANGES_CHANNEL, (payload) => {
    const parsed = parsePayload(payload);
    if (parsed !== null && 'heartbeat' in parsed) {
      // Another replica's heartbeat says nothing about this one's listener.
      if (parsed.replica === replica) heartbeatBack(parsed.heartbeat);
      return;
    }
    if (parsed) void apply(parsed);
    else handlers.onResync();
    if (parsed) for (const subscriber of listeners) subscriber(parsed);
  });

  function heartbeatBack(nonce: number): void {
    const sentAt = pending.get(nonce);
    if (sentAt === undefined) return;
    for (const earlier of pending.keys()) if (earlier <= nonce) pending.delete(earlier);
    lastBack = now();
    options.freshness?.confirm(sentAt);
  }

  let nonce = 0;
  let timer: NodeJS.Timeout | undefined;
  const bound = options.freshness?.maxStalenessMs ?? Infinity;
  if (Number.isFinite(bound)) {
    timer = setInterval(() => {
      const at = now();
      if (at - lastBack > 2 * bound) {
        // Liveness failed: the connection may be half-open (a paused network never errors).
        options.onListenerReset?.(at - lastBack);
        pending.clear();
        lastBack = at;
        listener.reset();
      }
      nonce += 1;
      pending.set(nonce, at);
      listener.notify(JSON.stringify({ heartbeat: nonce, replica })).catch(() => {
        // A heartbeat that cannot be sent is one that does not come back: liveness decides.
      });
    }, Math.max(1, Math.floor(bound / 4)));
    timer.unref();
  }

  return {
    subscribe(subscriber) {
      listeners.add(subscriber);
      return () => void listeners.delete(subscriber);
    },
    async publish(change) {
      // Apply locally (NOTIFY comes back asynchronously), then tell the others.
      await apply(change);
      await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify(change)]);
      // Workers of one server sharing the database: the write returns once all of them dropped the old copy.
      await db.barrier?.();
    },
    async close() {
      clearInterval(timer);
      await listener.close();
    },
  };
}
