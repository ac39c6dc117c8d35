/** Test helper: two replicas of one per-tenant service over one store, with the change feed played by hand. */
import type { Change, PublishChange } from './change-feed.js';

/** Two replicas of a service: `changes` every change published; `deliver` hands the pending ones to both. */
export interface TwoReplicas<S> {
  a: S;
  b: S;
  changes: Change[];
  deliver: () => void;
}

/**
 * Two replicas made by `create` (given the `publish` each must use), heard as the feed would: the
 * writer hears its own change at once, the other replica when the test calls `deliver`.
 */
export function twoReplicas<S extends { onChange(tenant: string): void }>(create: (publish: PublishChange) => S): TwoReplicas<S> {
  const changes: Change[] = [];
  let pending: Change[] = [];
  const services: S[] = [];
  const make = () => {
    const service: S = create(async (change) => {
      changes.push(change);
      service.onChange(change.tenant);
      pending.push(change);
    });
    services.push(service);
    return service;
  };
  const a = make();
  const b = make();
  return {
    a,
    b,
    changes,
    deliver: () => {
      for (const change of pending) for (const service of services) service.onChange(change.tenant);
      pending = [];
    },
  };
}
