/**
 * Tenants: creation, listing, lookup, settings updates and deletion. A settings change is published on
 * the change feed, so every replica drops the tenant's cached state and every PEP its
 * decisions (and, in local mode, reloads its bundle, which carries the settings).
 */
import { isTenantId, VerityError, type Tenant } from '@verity/core';
import type { Store } from '@verity/store';
import type { PublishChange } from './change-feed.js';
import { requireTenant } from './require-tenant.js';
import { parseSettingsChange, parseTenantSettings } from './tenant-settings.js';
import { assertOwnTrustDomain } from './workload/trust-domains.js';

/** A tenant to create, as a client sent it (checked here). */
export interface CreateTenantInput {
  id: unknown;
  name?: unknown;
  settings?: unknown;
}

export interface TenantService {
  /** The tenant, or ERR_TENANT_NOT_FOUND. */
  get(id: string): Promise<Tenant>;
  /** Whether the tenant exists. */
  exists(id: string): Promise<boolean>;
  /** Create a tenant; ERR_TENANT_INVALID for a bad id, name or settings, ERR_TENANT_EXISTS when taken. */
  create(input: CreateTenantInput): Promise<Tenant>;
  /** Every tenant but the reserved system tenant. */
  list(): Promise<Tenant[]>;
  /**
   * Change settings as {@link parseSettingsChange} reads `change`, in one statement, then
   * publish a `settings` change. An invalid change alters nothing.
   */
  updateSettings(id: string, change: unknown): Promise<Tenant>;
  /**
   * Delete a tenant: its policy store, entities, identity sources, clients, keys, credentials,
   * workloads, devices and every other row, in one transaction; its audit is kept (readable by
   * platform admins) and its id is never used again. Then a `tenant` change drops what every
   * replica, worker and PEP holds of it. ERR_TENANT_NOT_FOUND when there is no such tenant.
   */
  delete(id: string): Promise<{ id: string; deleted: true; auditKept: true }>;
}

export interface TenantServiceOptions {
  publish: PublishChange;
  /** The reserved tenant `list` leaves out. */
  systemTenant: string;
  /** The deployment's SPIFFE trust domain: tenants' default trust domains are named under it. */
  deploymentTrustDomain: string;
}

/** A tenant id from a request, or ERR_TENANT_INVALID. `_system` is reserved and never one. */
export function assertTenantId(id: unknown): string {
  if (!isTenantId(id)) throw new VerityError('ERR_TENANT_INVALID', 'tenant id must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit');
  return id;
}

function nameOf(name: unknown, id: string): string {
  if (name === undefined) return id;
  if (typeof name !== 'string' || name.length > 256) throw new VerityError('ERR_TENANT_INVALID', 'name must be a string of at most 256 characters');
  return name;
}

export function createTenantService(store: Store, options: TenantServiceOptions): TenantService {
  return {
    get: (id) => requireTenant(store, id),

    async exists(id) {
      return (await store.tenants.get(id)) !== null;
    },

    async create(input) {
      const id = assertTenantId(input.id);
      const settings = parseTenantSettings(input.settings);
      assertOwnTrustDomain(id, settings.trust_domain, options.deploymentTrustDomain);
      return store.tenants.create({ id, name: nameOf(input.name, id), settings });
    },

    async list() {
      return (await store.tenants.list()).filter((tenant) => tenant.id !== options.systemTenant);
    },

    async updateSettings(id, change) {
      const { set, remove } = parseSettingsChange(change);
      assertOwnTrustDomain(id, set.trust_domain, options.deploymentTrustDomain);
      const tenant = await store.tenants.updateSettings(id, { set, remove });
      if (!tenant) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${id}"`);
      await options.publish({ tenant: id, kind: 'settings' });
      return tenant;
    },

    async delete(id) {
      if (!(await store.tenants.delete(id))) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${id}"`);
      await options.publish({ tenant: id, kind: 'tenant' });
      return { id, deleted: true, auditKept: true };
    },
  };
}
