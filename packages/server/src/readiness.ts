/**
 * Whether this replica can decide right now: the engine decides a trivial request, the store
 * answers, the audit writer keeps its promise (not failing, not lagging past its bound), and
 * this replica's view is within the staleness bound.
 */
import type { Engine } from '@verity/core';
import type { Store } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import type { Freshness, FreshnessReport } from './freshness.js';

/** The answer of `/readyz`: ready only when every check passes. */
export interface Readiness {
  ready: boolean;
  /** `started` is false only while the server starts (the start-up listener answers then). */
  checks: { engine: boolean; store: boolean; audit: boolean; fresh: boolean; started: boolean };
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

function withinTimeout(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([check, timeout]).finally(() => clearTimeout(timer));
}

/** Create the readiness check; it never rejects (a failing check is `false`). */
export function createReadinessCheck(engine: Engine, store: Store, audit: Pick<AuditWriter, 'health'>, freshness: Freshness): ReadinessCheck {
  return async () => {
    // Decisions fail closed with ERR_AUDIT_UNAVAILABLE while the writer is past its bounds.
    const auditOk = audit.health().ok;
    const [engineOk, storeOk] = await Promise.all([
      engine.ready(),
      withinTimeout(
        store.db.query('SELECT 1').then(
          () => true,
          () => false,
        ),
        STORE_CHECK_TIMEOUT_MS,
      ),
    ]);
    const { fresh, confirmedAt, ageMs } = freshness.report();
    return { ready: engineOk && storeOk && auditOk && fresh, checks: { engine: engineOk, store: storeOk, audit: auditOk, fresh, started: true }, freshness: { confirmedAt, ageMs } };
  };
}
