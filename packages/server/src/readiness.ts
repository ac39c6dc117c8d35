/**
 * Whether this replica can decide right now: the engine decides a trivial request, the store
 * answers and holds the schema this code knows (migrations current), the audit writer
 * keeps its promise (not failing, not lagging past its bound), and this replica's view is within
 * the staleness bound.
 */
import type { Engine } from '@verity/core';
import { SCHEMA_VERSION, type Store } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import type { Freshness, FreshnessReport } from './freshness.js';

/** The answer of `/readyz`: ready only when every check passes. */
export interface Readiness {
  ready: boolean;
  /** `started` is false only while the server starts (the start-up listener answers then). */
  /**
   * `migrations`: the database's schema is exactly the version this code knows
   * (`schema_migrations`). Older: a migration is missing. Newer (a newer replica migrated it
   * during a rolling upgrade): this code may not know what a later migration means (a deleted
   * tenant's tombstone, migration 18, reads as a live tenant to older code), so it stops taking
   * traffic and the newer replicas carry it. False also while the store does not answer.
   */
  checks: { engine: boolean; store: boolean; migrations: boolean; audit: boolean; fresh: boolean; started: boolean };
  /** When every change up to `confirmedAt` is known delivered to this replica, and how long ago. */
  freshness: Pick<FreshnessReport, 'confirmedAt' | 'ageMs'>;
}

export type ReadinessCheck = () => Promise<Readiness>;

/**
 * A store that has not answered `SELECT 1` within this many ms is not ready (a paused link never
 * errors). Half of the usual probe timeout (Kubernetes: 1 s), so a paused link reads as "not
 * ready" rather than as a probe that timed out.
 */
const STORE_CHECK_TIMEOUT_MS = 500;

function withinTimeout<T>(check: Promise<T | false>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([check, timeout]).finally(() => clearTimeout(timer));
}

/** Create the readiness check; it never rejects (a failing check is `false`). */
export function createReadinessCheck(engine: Engine, store: Store, audit: Pick<AuditWriter, 'health'>, freshness: Freshness): ReadinessCheck {
  return async () => {
    // Decisions fail closed with ERR_AUDIT_UNAVAILABLE while the writer is past its bounds.
    const auditOk = audit.health().ok;
    const [engineOk, schemaVersion] = await Promise.all([
      engine.ready(),
      withinTimeout(
        store.db.query<{ version: unknown }>('SELECT max(version) AS version FROM schema_migrations').then(
          ({ rows }) => Number(rows[0]?.version ?? 0),
          () => false as const,
        ),
        STORE_CHECK_TIMEOUT_MS,
      ),
    ]);
    const storeOk = schemaVersion !== false;
    const migrationsOk = storeOk && schemaVersion === SCHEMA_VERSION;
    const { fresh, confirmedAt, ageMs } = freshness.report();
    return {
      ready: engineOk && storeOk && migrationsOk && auditOk && fresh,
      checks: { engine: engineOk, store: storeOk, migrations: migrationsOk, audit: auditOk, fresh, started: true },
      freshness: { confirmedAt, ageMs },
    };
  };
}
