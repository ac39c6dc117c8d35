/** Each tenant's SPIFFE trust domain name: its `trust_domain` setting, else the server's `trustDomain`. */
import type { Store } from '@verity/store';
import { requireTenant } from '../require-tenant.js';

export interface TrustDomains {
  /** The tenant's trust domain; ERR_TENANT_NOT_FOUND for an unknown tenant. */
  of(tenant: string): Promise<string>;
  /** Forget a tenant's (its settings changed). */
  invalidate(tenant: string): void;
  invalidateAll(): void;
}

/** Tenants whose trust domain is remembered at once; the oldest is forgotten beyond this. */
const MAX_CACHED = 10_000;

export function createTrustDomains(store: Store, defaultTrustDomain: string): TrustDomains {
  const cache = new Map<string, string>();
  // Raised by every invalidation: a read that began before one is not cached (it may be older).
  let generation = 0;
  return {
    async of(tenant) {
      const cached = cache.get(tenant);
      if (cached !== undefined) return cached;
      const started = generation;
      const name = (await requireTenant(store, tenant)).settings.trust_domain ?? defaultTrustDomain;
      if (started === generation) {
        cache.set(tenant, name);
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
      }
      return name;
    },
    invalidate(tenant) {
      generation += 1;
      cache.delete(tenant);
    },
    invalidateAll() {
      generation += 1;
      cache.clear();
    },
  };
}
