/**
 * Each tenant's SPIFFE trust domain name: its `trust_domain` setting, else `<tenant>.<trustDomain>`
 * under the deployment's trust domain. Every name has one owner (tenant ids are unique, a set
 * name is unique by index and may not sit under the deployment's), so a SPIFFE id names one
 * workload of one tenant.
 */
import { VerityError } from '@verity/core';
import type { Store } from '@verity/store';
import { requireTenant } from '../require-tenant.js';

export interface TrustDomains {
  /**
   * The tenant's trust domain; ERR_TENANT_NOT_FOUND for an unknown tenant, ERR_TENANT_INVALID when
   * its `trust_domain` setting is (now) the deployment's name or under it.
   */
  of(tenant: string): Promise<string>;
  /** Forget a tenant's (its settings changed). */
  invalidate(tenant: string): void;
  invalidateAll(): void;
}

/** The trust domain of a tenant that sets none: `<tenant>.<deployment trust domain>`. */
export function defaultTrustDomainOf(tenant: string, deploymentTrustDomain: string): string {
  return `${tenant}.${deploymentTrustDomain}`;
}

/**
 * Refuse a `trust_domain` setting another tenant could own: the deployment's own name, or one
 * under it other than the tenant's default (ERR_TENANT_INVALID). Uniqueness among set names is
 * the store's unique index.
 */
export function assertOwnTrustDomain(tenant: string, trustDomain: string | undefined, deploymentTrustDomain: string): void {
  if (trustDomain === undefined || trustDomain === defaultTrustDomainOf(tenant, deploymentTrustDomain)) return;
  // A host name's shape: no empty label, no leading or trailing dot or dash (`acme.example.` would
  // be another spelling of `acme.example`, `..` or `-` no name at all).
  if (!/^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*$/.test(trustDomain)) {
    throw new VerityError('ERR_TENANT_INVALID', 'settings.trust_domain must be a host name: dot-separated labels of lower-case letters, digits, "-" and "_", each starting and ending with a letter or digit');
  }
  if (trustDomain === deploymentTrustDomain || trustDomain.endsWith(`.${deploymentTrustDomain}`)) {
    throw new VerityError('ERR_TENANT_INVALID', `settings.trust_domain may not be ${deploymentTrustDomain} or a name under it (those are the tenants' default trust domains)`);
  }
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
      const set = (await requireTenant(store, tenant)).settings.trust_domain;
      // A name set while the deployment had another trust domain may now be under this one, where
      // it could be another tenant's default name: refused (fail closed) until the tenant sets another.
      if (set !== undefined) assertOwnTrustDomain(tenant, set, defaultTrustDomain);
      const name = set ?? defaultTrustDomainOf(tenant, defaultTrustDomain);
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
