/**
 * Whether this replica can decide right now: the engine decides a trivial request, the store
 * answers, and the audit writer keeps its promise (not failing, not lagging past its bound).
 */
import type { Engine } from '@verity/core';
import type { Store } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';

/** The answer of `/readyz`: ready only when every check passes. */
export interface Readiness {
  ready: boolean;
  checks: { engine: boolean; store: boolean; audit: boolean };
}

export type ReadinessCheck = () => Promise<Readiness>;

/** Create the readiness check; it never rejects (a failing check is `false`). */
export function createReadinessCheck(engine: Engine, store: Store, audit: Pick<AuditWriter, 'health'>): ReadinessCheck {
  return async () => {
    // Decisions fail closed with ERR_AUDIT_UNAVAILABLE while the writer is past its bounds.
    const auditOk = audit.health().ok;
    const [engineOk, storeOk] = await Promise.all([
      engine.ready(),
      store.db.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    ]);
    return { ready: engineOk && storeOk && auditOk, checks: { engine: engineOk, store: storeOk, audit: auditOk } };
  };
}
