/**
 * How fresh this replica's view is, bounded: the change feed's heartbeat confirms that every
 * change committed before a moment has been delivered; a tenant whose view is older than
 * `maxStalenessMs` is not decided on (503 ERR_POLICY_STALE) until it has caught up.
 */
import { VerityError } from '@verity/core';

/** What /readyz reports about this replica's freshness. */
export interface FreshnessReport {
  /** Whether the replica's confirmed time is within the bound. */
  fresh: boolean;
  /** ISO-8601 time up to which every change is known to be delivered. */
  confirmedAt: string;
  /** Milliseconds since `confirmedAt`. */
  ageMs: number;
}

export interface Freshness {
  /** The bound, ms (Infinity when the store needs none: PGlite). */
  readonly maxStalenessMs: number;
  /**
   * Every change committed before `atMs` (epoch ms) has been delivered and applied: from a
   * returned heartbeat (its send time), or a resync that dropped every cache.
   */
  confirm(atMs: number): void;
  /** Epoch ms up to which everything is confirmed. */
  confirmedAt(): number;
  /**
   * Throw 503 ERR_POLICY_STALE unless the tenant's view is fresh: fresh-as-of is the later of
   * the replica's confirmed time and `readAtMs`, when the tenant's view was read from the store.
   */
  assertFresh(tenant: string, readAtMs: number): void;
  report(): FreshnessReport;
}

export interface FreshnessOptions {
  /** The bound, ms; `Infinity` turns the check off (a store that is fresh by construction). */
  maxStalenessMs: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

export function createFreshness(options: FreshnessOptions): Freshness {
  const now = options.now ?? Date.now;
  const { maxStalenessMs } = options;
  if (!(maxStalenessMs > 0)) throw new TypeError('createFreshness: maxStalenessMs must be positive');
  let confirmed = now();
  const bounded = Number.isFinite(maxStalenessMs);
  return {
    maxStalenessMs,
    confirm(atMs) {
      if (atMs > confirmed) confirmed = atMs;
    },
    confirmedAt: () => confirmed,
    assertFresh(tenant, readAtMs) {
      if (!bounded) return;
      const age = now() - Math.max(confirmed, readAtMs);
      if (age > maxStalenessMs) {
        throw new VerityError('ERR_POLICY_STALE', `this replica's view of tenant "${tenant}" is ${Math.round(age)} ms old (bound ${maxStalenessMs} ms): its change feed has not confirmed delivery; try again or another replica`);
      }
    },
    report() {
      // Unbounded (PGlite): one process holds the data folder, every write goes through it.
      const at = bounded ? confirmed : now();
      const ageMs = Math.max(0, now() - at);
      return { fresh: !bounded || ageMs <= maxStalenessMs, confirmedAt: new Date(at).toISOString(), ageMs };
    },
  };
}
