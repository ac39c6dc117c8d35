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
  /** The tenant's trust domain; ERR_TENANT_NOT_FOUND for an unknown tenant. */
  of(tenant: string): Promise<string>;
  /**
   * The tenant of this deployment whose trust domain is `name` (its `trust_domain` setting, or
   * the default name of a tenant that sets none), or undefined when none is.
   */
  ownerOf(name: string): Promise<string | undefined>;
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
  const owners = new Map<string, string | undefined>();
  // Raised by every invalidation: a read that began before one is not cached (it may be older).
  let generation = 0;
  return {
    async of(tenant) {
      const cached = cache.get(tenant);
      if (cached !== undefined) return cached;
      const started = generation;
      const name = (await requireTenant(store, tenant)).settings.trust_domain ?? defaultTrustDomainOf(tenant, defaultTrustDomain);
      if (started === generation) {
        cache.set(tenant, name);
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
      }
      return name;
    },
    async ownerOf(name) {
      if (owners.has(name)) return owners.get(name);
      const started = generation;
      let owner = (await store.tenants.byTrustDomain(name))?.id;
      const suffix = `.${defaultTrustDomain}`;
      if (owner === undefined && name.endsWith(suffix)) {
        // A default name is its tenant's only while that tenant sets no name of its own.
        const candidate = await store.tenants.get(name.slice(0, -suffix.length));
        if (candidate !== null && candidate.settings.trust_domain === undefined) owner = candidate.id;
      }
      if (started === generation) {
        owners.set(name, owner);
        if (owners.size > MAX_CACHED) owners.delete(owners.keys().next().value as string);
      }
      return owner;
    },
    invalidate(tenant) {
      generation += 1;
      cache.delete(tenant);
      // Any tenant's settings can give a name to it or take one from it.
      owners.clear();
    },
    invalidateAll() {
      generation += 1;
      cache.clear();
      owners.clear();
    },
  };
}
