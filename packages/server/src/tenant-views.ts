/**
 * Per-tenant views a replica holds in memory and reads again on the tenant's change (device
 * trust's devices, IP reputation's threat lists): a decision reads memory once the tenant is
 * loaded, never the store. One piece for every such signal, so they all refresh alike.
 */

/** The views of every tenant this replica holds. */
export interface TenantViews<T> {
  /** The tenant's view: from memory, else read now (and held). Rejects when the read fails. */
  get(tenant: string): Promise<T>;
  /** Change the held view in place (this replica's own write), when the tenant is held. */
  update(tenant: string, change: (view: T) => T): void;
  /**
   * The tenant changed: read it again, if this replica holds it. The held view is dropped at
   * once, so a use meanwhile waits for the new read instead of deciding on the old view (a
   * failed read leaves it dropped: the next use reads again, and fails while the store does).
   * Resolves once the new view is held (or the read failed).
   */
  reload(tenant: string): Promise<void>;
  /** Notifications may have been missed: read every tenant held again. */
  reloadAll(): void;
}

export interface TenantViewsOptions<T> {
  /** Read a tenant's view from the store. */
  read: (tenant: string) => Promise<T>;
  /** A reload after a change failed (the tenant's view is dropped and read at its next use). */
  onReloadError?: (error: unknown) => void;
}

export function createTenantViews<T>(options: TenantViewsOptions<T>): TenantViews<T> {
  const held = new Map<string, T>();
  /** Reads in flight (a first read or a reload); `again`: a change came meanwhile, read once more. */
  const reading = new Map<string, { again: boolean; done: Promise<T> }>();

  /**
   * Read the tenant and hold it. A read under way may have begun before the latest change
   * committed: it reads once more, and only a read begun after the last change is held (never
   * an older view over a newer).
   */
  function refresh(tenant: string, changed: boolean): Promise<T> {
    const running = reading.get(tenant);
    if (running !== undefined) {
      // A use joins the read under way; only a change makes it read again. (Were every use to
      // ask for another read, a cold tenant under steady load would be read again and again.)
      if (changed) running.again = true;
      return running.done;
    }
    const state: { again: boolean; done: Promise<T> } = { again: false, done: Promise.resolve(undefined as T) };
    state.done = (async () => {
      try {
        let fresh: T;
        do {
          state.again = false;
          fresh = await options.read(tenant);
        } while (state.again);
        held.set(tenant, fresh);
        return fresh;
      } finally {
        reading.delete(tenant);
      }
    })();
    reading.set(tenant, state);
    return state.done;
  }

  function reload(tenant: string): Promise<void> {
    if (!held.has(tenant) && !reading.has(tenant)) return Promise.resolve();
    // Not held stale: a use from now on joins the read.
    held.delete(tenant);
    return refresh(tenant, true).then(
      () => undefined,
      (error: unknown) => {
        held.delete(tenant);
        options.onReloadError?.(error);
      },
    );
  }

  return {
    get: async (tenant) => (held.has(tenant) ? (held.get(tenant) as T) : refresh(tenant, false)),
    update(tenant, change) {
      const view = held.get(tenant);
      if (view !== undefined) held.set(tenant, change(view));
    },
    reload,
    reloadAll() {
      for (const tenant of new Set([...held.keys(), ...reading.keys()])) void reload(tenant);
    },
  };
}
