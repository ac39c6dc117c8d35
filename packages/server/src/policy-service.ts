/**
 * Tenants' policy stores: pushing versions, activating (rollback), diffing, and the
 * in-memory view of each tenant's active, preparsed version that decisions run on.
 */
import { requireTenant } from './require-tenant.js';
import {
  buildPolicyStoreContent,
  diffPolicyContents,
  hashPolicyContent,
  VerityError,
  type Engine,
  type PolicyContentDiff,
  type PolicyFilesInput,
  type PolicyStoreContent,
  type PolicyVersion,
  type PolicyVersionInfo,
  type PreparedPolicySet,
  type Tenant,
} from '@verity/core';
import type { Store } from '@verity/store';
import type { PublishChange } from './change-feed.js';

/** A tenant with its active version parsed and ready. */
export interface ActivePolicy {
  tenant: Tenant;
  version: number;
  hash: string;
  content: PolicyStoreContent;
  prepared: PreparedPolicySet;
}

export interface PushInput extends PolicyFilesInput {
  message?: string;
  activate?: boolean;
  createdBy: string;
}

export interface PolicyService {
  /** The tenant's active policy, parsed once per (tenant, version). */
  active(tenantId: string): Promise<ActivePolicy>;
  /** Check without storing: the same checks a push runs. */
  validate(input: PolicyFilesInput): Promise<PolicyStoreContent>;
  push(tenantId: string, input: PushInput): Promise<PolicyVersionInfo>;
  activate(tenantId: string, version: number): Promise<PolicyVersionInfo>;
  diff(tenantId: string, from: number, to: number): Promise<PolicyContentDiff & { from: number; to: number }>;
  /** The tenant's versions, oldest first (ERR_TENANT_NOT_FOUND for no tenant). */
  versions(tenantId: string): Promise<PolicyVersionInfo[]>;
  /** One stored version with its content, or the active one; ERR_POLICY_VERSION_NOT_FOUND when there is none. */
  version(tenantId: string, version: number | 'active'): Promise<PolicyVersion>;
  /** Forget cached state of a tenant (after a change made elsewhere). */
  invalidate(tenantId: string): void;
  invalidateAll(): void;
}

export function createPolicyService(store: Store, engine: Engine, options: { publish?: PublishChange } = {}): PolicyService {
  const cache = new Map<string, Promise<ActivePolicy>>();
  const publish = options.publish ?? (async ({ tenant }) => void cache.delete(tenant));

  async function load(tenantId: string): Promise<ActivePolicy> {
    const tenant = await requireTenant(store, tenantId);
    const version = await store.policies.getActive(tenantId);
    if (!version) throw new VerityError('ERR_POLICY_NO_ACTIVE_VERSION', `tenant "${tenantId}" has no active policy version`);
    // The key names tenant, version and content hash: a re-created tenant never reuses a stale set.
    const prepared = await engine.prepare(`${tenantId}@${version.version}#${version.hash.slice(0, 16)}`, version.content);
    return { tenant, version: version.version, hash: version.hash, content: version.content, prepared };
  }

  async function getVersion(tenantId: string, version: number) {
    const found = await store.policies.getVersion(tenantId, version);
    if (!found) throw new VerityError('ERR_POLICY_VERSION_NOT_FOUND', `tenant "${tenantId}" has no policy version ${version}`);
    return found;
  }

  const service: PolicyService = {
    active(tenantId) {
      let entry = cache.get(tenantId);
      if (!entry) {
        entry = load(tenantId);
        cache.set(tenantId, entry);
        // A failed load is not cached: the next request tries again.
        entry.catch(() => cache.delete(tenantId));
      }
      return entry;
    },

    validate(input) {
      return buildPolicyStoreContent(engine, input);
    },

    async push(tenantId, input) {
      await requireTenant(store, tenantId);
      const content = await buildPolicyStoreContent(engine, input);
      const info = await store.policies.createVersion(tenantId, {
        content,
        hash: hashPolicyContent(content),
        createdBy: input.createdBy,
        message: input.message ?? '',
        activate: input.activate ?? true,
      });
      await publish({ tenant: tenantId, kind: 'policy' });
      return info;
    },

    async activate(tenantId, version) {
      await requireTenant(store, tenantId);
      const info = await store.policies.activate(tenantId, version);
      await publish({ tenant: tenantId, kind: 'policy' });
      return info;
    },

    async diff(tenantId, from, to) {
      await requireTenant(store, tenantId);
      const [a, b] = await Promise.all([getVersion(tenantId, from), getVersion(tenantId, to)]);
      return { from, to, ...diffPolicyContents(a.content, b.content) };
    },

    async versions(tenantId) {
      await requireTenant(store, tenantId);
      return store.policies.listVersions(tenantId);
    },

    async version(tenantId, version) {
      if (version !== 'active') return getVersion(tenantId, version);
      const active = await store.policies.getActive(tenantId);
      if (!active) throw new VerityError('ERR_POLICY_VERSION_NOT_FOUND', `tenant "${tenantId}" has no active policy version`);
      return active;
    },

    invalidate(tenantId) {
      cache.delete(tenantId);
    },

    invalidateAll() {
      cache.clear();
    },
  };
  return service;
}
