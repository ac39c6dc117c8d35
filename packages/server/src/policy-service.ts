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
  type PolicySetEvaluator,
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
  /** Epoch ms just before the store was asked: the view holds everything committed before it. */
  readAt: number;
}

export interface PushInput extends PolicyFilesInput {
  message?: string;
  activate?: boolean;
  createdBy: string;
}

export interface PolicyService {
  /** The tenant's active policy, parsed once per (tenant, version). */
  active(tenantId: string): Promise<ActivePolicy>;
  /**
   * A view at least as new as the state in which version `minVersion` was active (the
   * consistency token `options.verity_min_version`): the cached view when it is that version;
   * otherwise the active version read from the store now, which also replaces the cached view.
   * ERR_POLICY_VERSION_NOT_FOUND when the tenant never had that version; ERR_STORE_UNAVAILABLE
   * when the store cannot be read.
   */
  activeAtLeast(tenantId: string, minVersion: number): Promise<ActivePolicy>;
  /** Check without storing: the same checks a push runs. */
  validate(input: PolicyFilesInput): Promise<PolicyStoreContent>;
  push(tenantId: string, input: PushInput): Promise<PolicyVersionInfo>;
  activate(tenantId: string, version: number): Promise<PolicyVersionInfo>;
  diff(tenantId: string, from: number, to: number): Promise<PolicyContentDiff & { from: number; to: number }>;
  /** The tenant's versions, oldest first (ERR_TENANT_NOT_FOUND for no tenant). */
  versions(tenantId: string): Promise<PolicyVersionInfo[]>;
  /** One stored version with its content, or the active one; ERR_POLICY_VERSION_NOT_FOUND when there is none. */
  version(tenantId: string, version: number | 'active'): Promise<PolicyVersion>;
  /**
   * A stored version, active or not, prepared under the engine key its decisions use (one
   * prepared set for every version with the same content), or with `lane` under a key of its
   * own (`<tenant>~<lane>@<hash>`): what replay decides on, in its lane, so that a failure
   * there never strikes the lane the tenant's live decisions run in.
   * ERR_POLICY_VERSION_NOT_FOUND when the tenant has no such version.
   */
  prepared(tenantId: string, version: number, lane?: string): Promise<{ version: number; hash: string; content: PolicyStoreContent; prepared: PreparedPolicySet }>;
  /** Forget cached state of a tenant (after a change made elsewhere). */
  invalidate(tenantId: string): void;
  invalidateAll(): void;
}

export interface PolicyServiceOptions {
  publish?: PublishChange;
  /**
   * Called as a tenant's view is about to be read from the store; the entity cache forgets the
   * tenant then, so no entity older than the view is decided on with it.
   */
  onLoad?: (tenantId: string) => void;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
  /** Called when a tenant's version is prepared, with the evaluator that will decide it (for the log). */
  onPrepared?: (tenantId: string, version: number, evaluator: PolicySetEvaluator) => void;
}

/**
 * The engine key of a tenant's policy content: the tenant and the content's hash. Versions with
 * the same content share one prepared set; a re-created tenant with other content never
 * reuses a stale one.
 */
function preparedKeyOf(tenantId: string, hash: string): string {
  return `${tenantId}@${hash.slice(0, 16)}`;
}

export function createPolicyService(store: Store, engine: Engine, options: PolicyServiceOptions = {}): PolicyService {
  const cache = new Map<string, Promise<ActivePolicy>>();
  const publish = options.publish ?? (async ({ tenant }) => void cache.delete(tenant));
  const now = options.now ?? Date.now;

  async function load(tenantId: string): Promise<ActivePolicy> {
    const readAt = now();
    options.onLoad?.(tenantId);
    const tenant = await requireTenant(store, tenantId);
    const version = await store.policies.getActive(tenantId);
    if (!version) throw new VerityError('ERR_POLICY_NO_ACTIVE_VERSION', `tenant "${tenantId}" has no active policy version`);
    const prepared = await engine.prepare(preparedKeyOf(tenantId, version.hash), version.content);
    options.onPrepared?.(tenantId, version.version, prepared.evaluator);
    return { tenant, version: version.version, hash: version.hash, content: version.content, prepared, readAt };
  }

  /** Start a load and make it the tenant's cached view; a failed load is not cached. */
  function cacheLoad(tenantId: string): Promise<ActivePolicy> {
    const entry = load(tenantId);
    cache.set(tenantId, entry);
    entry.catch(() => {
      if (cache.get(tenantId) === entry) cache.delete(tenantId);
    });
    return entry;
  }

  async function getVersion(tenantId: string, version: number) {
    const found = await store.policies.getVersion(tenantId, version);
    if (!found) throw new VerityError('ERR_POLICY_VERSION_NOT_FOUND', `tenant "${tenantId}" has no policy version ${version}`);
    return found;
  }

  const service: PolicyService = {
    active(tenantId) {
      return cache.get(tenantId) ?? cacheLoad(tenantId);
    },

    async activeAtLeast(tenantId, minVersion) {
      const cached = await service.active(tenantId);
      // Versions are immutable: a cached view of N decides as N does now, even if N was
      // replaced and activated again meanwhile. Any other version says nothing about order (N
      // may have been activated again after it), so only the store can answer.
      if (cached.version === minVersion) return cached;
      // The store is the record: its active version now is at least as new as any state in
      // which `minVersion` was active (read-your-writes for a client holding the token).
      let fresh: ActivePolicy;
      try {
        fresh = await cacheLoad(tenantId);
      } catch (error) {
        if (error instanceof VerityError) throw error;
        throw new VerityError('ERR_STORE_UNAVAILABLE', 'the policy store could not be read', { cause: error });
      }
      if (fresh.version !== minVersion && !(await store.policies.getVersion(tenantId, minVersion))) {
        throw new VerityError('ERR_POLICY_VERSION_NOT_FOUND', `tenant "${tenantId}" has no policy version ${minVersion}`);
      }
      return fresh;
    },

    validate(input) {
      return buildPolicyStoreContent(engine, input);
    },

    async push(tenantId, input) {
      await requireTenant(store, tenantId);
      const content = await buildPolicyStoreContent(engine, input);
      const hash = hashPolicyContent(content);
      // Prepared now, under the key its first decision will use. A set the compiled evaluator does
      // not take runs on cedar-wasm, which never frees it: past MAX_FALLBACK_TENANTS other tenants
      // doing so, the push is refused before anything is stored.
      await engine.admit(preparedKeyOf(tenantId, hash), content);
      const info = await store.policies.createVersion(tenantId, {
        content,
        hash,
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

    async prepared(tenantId, version, lane) {
      const found = await getVersion(tenantId, version);
      const key = lane === undefined ? preparedKeyOf(tenantId, found.hash) : `${tenantId}~${lane}@${found.hash.slice(0, 16)}`;
      return { version, hash: found.hash, content: found.content, prepared: await engine.prepare(key, found.content) };
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
