/**
 * Tenants: creation, listing, lookup, versioned settings changes (history, diff, rollback),
 * deletion and the removal of a deleted tenant's exported audit. A settings change is published
 * on the change feed, so every replica drops the tenant's cached state and every PEP its
 * decisions (and, in local mode, reloads its bundle, which carries the settings).
 */
import { isTenantId, VerityError, type AuditChainHead, type Tenant, type TenantSettingsVersion, type TenantSettingsVersionInfo } from '@verity/core';
import type { SettingsWriteOptions, Store } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import type { PublishChange } from './change-feed.js';
import { requireTenant } from './require-tenant.js';
import { diffSettings, parseSettingsChange, parseTenantSettings, type SettingsChangeEntry } from './tenant-settings.js';
import { assertOwnTrustDomain } from './workload/trust-domains.js';

/** A tenant to create, as a client sent it (checked here). */
export interface CreateTenantInput {
  id: unknown;
  name?: unknown;
  settings?: unknown;
}

/** Who changes settings and why (kept with the version made), and the version the change was made from. */
export interface SettingsChangeContext {
  /** The credential's label, else its id. */
  createdBy: string;
  message?: string;
  /** Change only while the settings are at this version (`If-Match`), else ERR_TENANT_SETTINGS_CONFLICT. */
  ifVersion?: number;
}

/** What changed between two settings versions. */
export interface SettingsDiff {
  from: number;
  to: number;
  changes: SettingsChangeEntry[];
}

/** The answer to a removal of a deleted tenant's audit. */
export interface AuditRemoval {
  id: string;
  auditRemoved: true;
  /** The head the export reached, which was the chain's head when it was removed. */
  exportedThrough: AuditChainHead;
  /** Events removed. */
  removed: number;
}

/**
 * What becomes of a deleted tenant's audit: `keep` (default) keeps it for good; `export` lets a
 * platform admin remove it once exported ({@link TenantService.removeAudit}).
 */
export type TenantDeletionAudit = 'keep' | 'export';

export interface TenantService {
  /** The tenant, or ERR_TENANT_NOT_FOUND. */
  get(id: string): Promise<Tenant>;
  /** Whether the tenant exists. */
  exists(id: string): Promise<boolean>;
  /**
   * Create a tenant, its settings as version 1 made by `createdBy` (default `verity`);
   * ERR_TENANT_INVALID for a bad id, name or settings, ERR_TENANT_EXISTS when taken.
   */
  create(input: CreateTenantInput, createdBy?: string): Promise<Tenant>;
  /** Every tenant but the reserved system tenant. */
  list(): Promise<Tenant[]>;
  /**
   * Change settings as {@link parseSettingsChange} reads `change`, stored as the next settings
   * version, then publish a `settings` change. An invalid change alters nothing.
   */
  updateSettings(id: string, change: unknown, context: SettingsChangeContext): Promise<Tenant>;
  /** The tenant's settings versions, oldest first; ERR_TENANT_NOT_FOUND. */
  settingsVersions(id: string): Promise<TenantSettingsVersionInfo[]>;
  /** One settings version with its settings; ERR_TENANT_NOT_FOUND, ERR_TENANT_SETTINGS_VERSION_NOT_FOUND. */
  settingsVersion(id: string, version: number): Promise<TenantSettingsVersion>;
  /** The settings that differ from version `from` to version `to`. */
  diffSettings(id: string, from: number, to: number): Promise<SettingsDiff>;
  /**
   * Make version `version`'s settings the tenant's settings again, as a NEW version (naming the
   * one it restored): the history stays a line, each version what the settings were from then
   * on. The old settings are checked as a change is (a rule or a trust domain that no longer
   * allows them is ERR_TENANT_INVALID). Published like any change.
   */
  rollbackSettings(id: string, version: number, context: SettingsChangeContext): Promise<Tenant>;
  /**
   * Delete a tenant: its policy store, entities, settings and their versions, identity sources,
   * clients, keys, credentials, workloads, devices and every other row, in one transaction; its
   * audit is kept (readable by platform admins) and its id is never used again. Then a `tenant`
   * change drops what every replica, worker and PEP holds of it. ERR_TENANT_NOT_FOUND when
   * there is no such tenant.
   */
  delete(id: string): Promise<{ id: string; deleted: true; auditKept: true }>;
  /**
   * Remove a deleted tenant's kept audit once exported: refused with ERR_AUDIT_REMOVAL_DISABLED
   * unless the server's `tenantDeletionAudit` is `export`; this replica's queued records are
   * written first, then the store removes the audit only if its head is still `exportedThrough`
   * (ERR_AUDIT_NOT_EXPORTED otherwise, ERR_AUDIT_TENANT_LIVE for a live tenant).
   */
  removeAudit(id: string, exportedThrough: AuditChainHead): Promise<AuditRemoval>;
}

export interface TenantServiceOptions {
  publish: PublishChange;
  /** Flushed before a removal compares the audit's head, so no queued record is left out. */
  audit: Pick<AuditWriter, 'flush'>;
  /** The reserved tenant `list` leaves out. */
  systemTenant: string;
  /** The deployment's SPIFFE trust domain: tenants' default trust domains are named under it. */
  deploymentTrustDomain: string;
  /** Default `keep`. */
  deletionAudit?: TenantDeletionAudit;
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

function writeOptions(context: SettingsChangeContext): SettingsWriteOptions {
  return { createdBy: context.createdBy, ...(context.message === undefined ? {} : { message: context.message }), ...(context.ifVersion === undefined ? {} : { ifVersion: context.ifVersion }) };
}

export function createTenantService(store: Store, options: TenantServiceOptions): TenantService {
  async function settingsVersion(id: string, version: number): Promise<TenantSettingsVersion> {
    await requireTenant(store, id);
    const found = await store.tenants.getSettingsVersion(id, version);
    if (!found) throw new VerityError('ERR_TENANT_SETTINGS_VERSION_NOT_FOUND', `tenant "${id}" has no settings version ${version}`);
    return found;
  }

  /** Store a checked change, then tell every replica and PEP. */
  async function writeSettings(id: string, change: Parameters<Store['tenants']['updateSettings']>[1], context: SettingsChangeContext): Promise<Tenant> {
    const tenant = await store.tenants.updateSettings(id, change, writeOptions(context));
    if (!tenant) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${id}"`);
    await options.publish({ tenant: id, kind: 'settings' });
    return tenant;
  }

  return {
    get: (id) => requireTenant(store, id),

    async exists(id) {
      return (await store.tenants.get(id)) !== null;
    },

    async create(input, createdBy) {
      const id = assertTenantId(input.id);
      const settings = parseTenantSettings(input.settings);
      assertOwnTrustDomain(id, settings.trust_domain, options.deploymentTrustDomain);
      return store.tenants.create({ id, name: nameOf(input.name, id), settings, ...(createdBy === undefined ? {} : { createdBy }) });
    },

    async list() {
      return (await store.tenants.list()).filter((tenant) => tenant.id !== options.systemTenant);
    },

    async updateSettings(id, change, context) {
      const { set, remove } = parseSettingsChange(change);
      assertOwnTrustDomain(id, set.trust_domain, options.deploymentTrustDomain);
      return writeSettings(id, { set, remove }, context);
    },

    async settingsVersions(id) {
      await requireTenant(store, id);
      return store.tenants.listSettingsVersions(id);
    },

    settingsVersion,

    async diffSettings(id, from, to) {
      const [a, b] = await Promise.all([settingsVersion(id, from), settingsVersion(id, to)]);
      return { from, to, changes: diffSettings(a.settings, b.settings) };
    },

    async rollbackSettings(id, version, context) {
      const old = await settingsVersion(id, version);
      let settings;
      try {
        settings = parseTenantSettings(old.settings);
        assertOwnTrustDomain(id, settings.trust_domain, options.deploymentTrustDomain);
      } catch (error) {
        if (error instanceof VerityError && error.code === 'ERR_TENANT_INVALID') throw new VerityError('ERR_TENANT_INVALID', `the settings of version ${version} are not valid now: ${error.message}`, { cause: error });
        throw error;
      }
      return writeSettings(id, { replace: settings, restoredFrom: version }, context);
    },

    async delete(id) {
      if (!(await store.tenants.delete(id))) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${id}"`);
      await options.publish({ tenant: id, kind: 'tenant' });
      return { id, deleted: true, auditKept: true };
    },

    async removeAudit(id, exportedThrough) {
      if (options.deletionAudit !== 'export') {
        throw new VerityError('ERR_AUDIT_REMOVAL_DISABLED', "this server keeps deleted tenants' audits (tenantDeletionAudit: keep); it removes one only when configured with tenantDeletionAudit: export");
      }
      // Records this replica has queued (decisions answered just before the deletion) are
      // written first, so the head compared below counts them.
      await options.audit.flush();
      const { removed } = await store.tenants.removeAudit(id, exportedThrough);
      return { id, auditRemoved: true, exportedThrough, removed };
    },
  };
}
