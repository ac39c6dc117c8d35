/**
 * Workload identity at the PDP, composed: each tenant's CA and trust bundle, registrations and
 * the deny list, attestation and SVID issuance, and what the decision path asks of them.
 */
import { VerityError } from '@verity/core';
import type { FetchFunction, SecretBox } from '@verity/identity';
import type { Store } from '@verity/store';
import { claimedTrustDomainOf, verifyJwtSvid, type TrustBundle } from '@verity/workload/core';
import { requireTenant } from '../require-tenant.js';
import type { AuditWriter } from '../audit-writer.js';
import type { ChangeKind, PublishChange } from '../change-feed.js';
import { createJoinTokenAttestor } from './attestor.js';
import { createCaService, type CaService } from './ca-service.js';
import { createK8sPsatAttestor } from './k8s-psat-attestor.js';
import { createRegistryService, type DeniedEntry, type RegistryService } from './registry-service.js';
import { createSvidService, type SvidService } from './svid-service.js';
import { createTrustDomains } from './trust-domains.js';

export interface WorkloadService {
  /** The tenant's trust bundle (its CA is created on first use). */
  bundle(tenant: string): Promise<TrustBundle>;
  /** Whether a SPIFFE id is denied in the tenant (a removed workload): synchronous, from memory. */
  isDenied(tenant: string, spiffeId: string): boolean;
  /** The tenant's denied SPIFFE ids now, from memory. */
  denied(tenant: string): DeniedEntry[];
  /** The deny list as the store has it now, with the tenant's workload sequence (the `/denied` endpoint). */
  deniedList(tenant: string): Promise<{ denied: DeniedEntry[]; sequence: number }>;
  /**
   * Verify a JWT-SVID for `audience` that the tenant trusts: one of its own trust domain, against
   * its bundle, or one of the trust domain of a tenant it federates with (setting
   * `federated_tenants`), against that tenant's bundle. A SPIFFE id on its tenant's deny list is
   * refused. Returns the SPIFFE id and its trust domain. Throws ERR_SVID_INVALID,
   * ERR_SVID_EXPIRED, ERR_SVID_UNTRUSTED (any other trust domain) or ERR_SVID_REVOKED.
   */
  verifyJwtSvid(tenant: string, token: unknown, audience: string): Promise<{ spiffeId: string; trustDomain: string }>;
  /** The tenant's trust domain name (setting `trust_domain`, else the server's `trustDomain`). */
  trustDomainOf(tenant: string): Promise<string>;
  ca: CaService;
  registry: RegistryService;
  svids: SvidService;
  /** A change arrived on the feed (any replica): drop what it makes stale. */
  /** Resolves once the change is applied (the tenant's deny list read again). */
  onChange(tenant: string, kind: ChangeKind): Promise<void>;
  /** Notifications may have been missed: drop everything, read the deny lists again. */
  onResync(): void;
}

export interface WorkloadServiceOptions {
  store: Store;
  box: SecretBox;
  audit: AuditWriter;
  publish: PublishChange;
  /** The guarded fetch of identity sources (the Kubernetes issuers' discovery and keys). */
  sourceFetch: FetchFunction;
  /** The server's public base URL (known once it listens). */
  baseUrl: () => string;
  /** The server's `trustDomain`. */
  defaultTrustDomain: string;
  /** Where a deny list that could not be read again is reported (it is retried at the next change). */
  onReloadError?: (error: unknown) => void;
  now?: () => number;
}

/** Compose the workload services and read every tenant's deny list. */
export async function createWorkloadService(options: WorkloadServiceOptions): Promise<WorkloadService> {
  const { store, publish } = options;
  const now = options.now ?? Date.now;
  const trustDomains = createTrustDomains(store, options.defaultTrustDomain);
  const ca = createCaService({ store, box: options.box, trustDomains, publish, now });
  const registry = createRegistryService({ store, trustDomains, publish, now });
  const attestors = [createJoinTokenAttestor({ store, now }), createK8sPsatAttestor({ store, fetch: options.sourceFetch, now })];
  const svids = createSvidService({ store, ca, registry, attestors, audit: options.audit, baseUrl: options.baseUrl, now });
  const reported = (promise: Promise<void>): Promise<void> => promise.catch((error: unknown) => options.onReloadError?.(error));
  await registry.reloadAll();

  return {
    bundle: (tenant) => ca.bundle(tenant),
    isDenied: (tenant, spiffeId) => registry.isDenied(tenant, spiffeId),
    denied: (tenant) => registry.denied(tenant),
    async deniedList(tenant) {
      // The sequence first: the list read after it is at least as new as the number says.
      const sequence = await store.workloads.sequence(tenant);
      const denied = await store.workloads.listDenied(tenant, now());
      return { denied: denied.map(({ spiffeId, untilMs }) => ({ spiffeId, untilMs })), sequence };
    },
    async verifyJwtSvid(tenant, token, audience) {
      const own = await trustDomains.of(tenant);
      const claimed = claimedTrustDomainOf(token);
      let owner = tenant;
      if (claimed !== undefined && claimed !== own) {
        // Federation, one way: this tenant names the tenants it trusts (never a name another
        // tenant could claim); the SVID must be of one's trust domain as it is now.
        let found: string | undefined;
        for (const other of (await requireTenant(store, tenant)).settings.federated_tenants ?? []) {
          if ((await trustDomains.of(other).catch(() => undefined)) === claimed) found = other;
        }
        if (found === undefined) throw new VerityError('ERR_SVID_UNTRUSTED', 'JWT-SVID refused: its trust domain is neither this tenant\'s nor that of a tenant it federates with');
        owner = found;
      }
      const bundle = await ca.bundle(owner);
      const { spiffeId } = await verifyJwtSvid(token, { bundle, audience, now });
      if (registry.isDenied(owner, spiffeId)) throw new VerityError('ERR_SVID_REVOKED', 'this workload is no longer registered');
      return { spiffeId, trustDomain: bundle.trustDomain };
    },
    trustDomainOf: (tenant) => trustDomains.of(tenant),
    ca,
    registry,
    svids,
    async onChange(tenant, kind) {
      // A deleted tenant: its trust domain and CA go; its deny list is kept and read again.
      if (kind === 'settings' || kind === 'tenant') {
        trustDomains.invalidate(tenant);
        ca.invalidate(tenant);
      }
      if (kind === 'workload' || kind === 'tenant') {
        ca.invalidate(tenant);
        await reported(registry.reload(tenant));
      }
    },
    onResync() {
      trustDomains.invalidateAll();
      ca.invalidateAll();
      void reported(registry.reloadAll());
    },
  };
}
