/** Whether this replica can decide right now: the engine decides a trivial request and the store answers. */
import type { Engine } from '@verity/core';
import type { Store } from '@verity/store';

/** The answer of `/readyz`: ready only when every check passes. */
export interface Readiness {
  ready: boolean;
  /** `started` is false only while the server starts (the start-up listener answers then). */
  checks: { engine: boolean; store: boolean; started: boolean };
}

export type ReadinessCheck = () => Promise<Readiness>;

/** Create the readiness check; it never rejects (a failing check is `false`). */
export function createReadinessCheck(engine: Engine, store: Store): ReadinessCheck {
  return async () => {
    const [engineOk, storeOk] = await Promise.all([
      engine.ready(),
      store.db.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    ]);
    return { ready: engineOk && storeOk, checks: { engine: engineOk, store: storeOk, started: true } };
  };
}
