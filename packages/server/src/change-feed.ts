/**
 * The change feed between replicas: after a write, a replica publishes `{tenant, kind}` with
 * NOTIFY; every replica (itself included) drops what it cached for that tenant. PostgreSQL is
 * the store of record, so a dropped cache entry is simply read again.
 */
import type { Database } from '@verity/store';

export const CHANGES_CHANNEL = 'verity_changes';

/**
 * What changed: `settings` is the tenant's settings (they travel with its active policy and
 * bundle); `credentials` is an admin/PEP credential (published on the `_system` tenant).
 */
export type ChangeKind = 'policy' | 'entities' | 'identity' | 'revocation' | 'settings' | 'credentials';

const KINDS = new Set<string>(['policy', 'entities', 'identity', 'revocation', 'settings', 'credentials']);

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
  onChange(change: Change): void;
  /** Notifications may have been missed (the listener reconnected): forget everything. */
  onResync(): void;
}

function parseChange(payload: string): Change | null {
  try {
    const value = JSON.parse(payload) as { tenant?: unknown; kind?: ChangeKind };
    if (typeof value.tenant === 'string' && typeof value.kind === 'string' && KINDS.has(value.kind)) return { tenant: value.tenant, kind: value.kind };
  } catch {
    // Not ours, or damaged: treat as a resync below.
  }
  return null;
}

export async function startChangeFeed(db: Database, handlers: ChangeHandlers): Promise<ChangeFeed> {
  const listeners = new Set<(change: Change) => void>();
  const listener = await db.listen(CHANGES_CHANNEL, (payload) => {
    const change = parseChange(payload);
    if (change) handlers.onChange(change);
    else handlers.onResync();
    if (change) for (const listener of listeners) listener(change);
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async publish(change) {
      // Apply locally at once (NOTIFY comes back asynchronously), then tell the others.
      handlers.onChange(change);
      await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify(change)]);
    },
    close: () => listener.close(),
  };
}
