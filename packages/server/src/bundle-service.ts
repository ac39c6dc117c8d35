/**
 * Signed policy bundles for PEPs that decide in-process: the tenant's active version, settings,
 * entities, identity sources, revocations and (when its risk engine is on) threat lists and devices, signed with the tenant's bundle key. That key is a
 * ring of its own (not the token service's, which rotates daily): PEPs pin its RFC 7638
 * thumbprint, given to them out of band (`verity tenant bundle-key`), and refresh the bundle
 * before it expires (`bundleTtlSec`, default 10 minutes).
 */
import { riskEnabled, VerityError, type DevicePosture, type Entity, type TenantSettings } from '@verity/core';
import { bundleKeyThumbprints, createSigningKeyRing, signBundle, type PolicyBundle, type PublishedJwk, type SecretBox, type SigningKeyRing } from '@verity/identity';
import type { Store } from '@verity/store';
import type { IdentityService } from './identity/identity-service.js';
import { sealedKeyStore, type SealedKeyTable, type TokenServices } from './identity/token-services.js';
import type { Freshness } from './freshness.js';
import type { PolicyService } from './policy-service.js';

/** A bundle carries every entity of the tenant; past this, PEPs must use the remote source. */
export const MAX_BUNDLE_ENTITIES = 100_000;

/** A signed bundle and what it holds, for the PEP to check before it verifies. */
export interface SignedBundle {
  tenant: string;
  version: number;
  hash: string;
  /** The bundle as a JWT (`typ: verity-bundle+jwt`). */
  bundle: string;
}

/** The tenant's bundle keys: a JWKS, and the RFC 7638 SHA-256 thumbprint of each key to pin. */
export interface BundleKeys {
  keys: PublishedJwk[];
  thumbprints: string[];
}

export interface BundleService {
  /** Assemble and sign the tenant's bundle now; ERR_REQUEST_TOO_LARGE past {@link MAX_BUNDLE_ENTITIES}. */
  build(tenant: string): Promise<SignedBundle>;
  /** The keys bundles are signed with (created on first use). */
  keys(tenant: string): Promise<BundleKeys>;
}

export interface BundleServiceOptions {
  store: Store;
  policies: PolicyService;
  /** The staleness bound: a bundle is not signed from a view past it (ERR_POLICY_STALE). */
  freshness?: Freshness;
  identity: IdentityService;
  tokens: TokenServices;
  /** Seals the bundle keys at rest (the same master key as the token keys). */
  box: SecretBox;
  /** Lifetime of a bundle, seconds. */
  ttlSec: number;
  /** The PDP locates client IPs with its own database (`--geoip-db`), which PEPs do not have. */
  pdpLocatesIps?: boolean;
  now?: () => number;
}

/**
 * Bundle keys never rotate by schedule: PEPs pin them, so a new key is an operator's decision.
 * The ring wants a finite period; this one is longer than any deployment.
 */
const NEVER_MS = 100 * 365 * 24 * 60 * 60 * 1000;

export function createBundleService(options: BundleServiceOptions): BundleService {
  const { store, policies, identity, tokens, box, ttlSec } = options;
  const table: SealedKeyTable = { load: (tenant) => store.identity.loadBundleKeys(tenant), save: (tenant, keys, expectedKids) => store.identity.saveBundleKeys(tenant, keys, expectedKids) };
  // A fresh ring per use reads the store: every replica signs with, and publishes, the stored key
  // (if two replicas created one at once, the one saved last wins everywhere from then on).
  const ringFor = (tenant: string): SigningKeyRing =>
    createSigningKeyRing({ store: sealedKeyStore(table, box, tenant, 'bundle-key', NEVER_MS), rotateEveryMs: NEVER_MS, maxTokenTtlSec: ttlSec, ...(options.now ? { now: options.now } : {}) });

  async function allEntities(tenant: string): Promise<Entity[]> {
    const entities: Entity[] = [];
    for (let after: string | undefined; ; ) {
      const page = await store.entities.list(tenant, { limit: 1000, ...(after ? { after } : {}) });
      entities.push(...page.entities);
      if (entities.length > MAX_BUNDLE_ENTITIES) throw new VerityError('ERR_REQUEST_TOO_LARGE', `the tenant has more than ${MAX_BUNDLE_ENTITIES} entities: decide remotely`);
      if (!page.next) return entities;
      after = page.next;
    }
  }

  /**
   * The signals a PEP needs to weigh a request as the PDP does, only when the tenant's risk engine
   * is on: its threat lists, its subjects' reported assurance levels, whether the PDP locates IPs
   * with a database of its own, and its devices when it measures them.
   */
  async function riskSignalsOf(tenant: string, settings: TenantSettings): Promise<Pick<PolicyBundle, 'devices' | 'threatLists' | 'assurance' | 'pdpLocatesIps'>> {
    if (!riskEnabled(settings)) return {};
    const threatLists = (await store.threatLists.load(tenant)).map((list) => ({ source: list.source, entries: list.entries, expiresAtMs: list.expiresAtMs }));
    const assurance = (await store.ssf.listAssurance(tenant)).map((level) => ({ subject: level.subject, acr: level.acr, atMs: level.atMs }));
    const signals = { threatLists, assurance, ...(options.pdpLocatesIps === true ? { pdpLocatesIps: true as const } : {}) };
    if (settings.risk?.devices === undefined) return signals;
    return { ...signals, devices: (await store.devices.list(tenant)).map((device) => ({ id: device.id, posture: device.posture as DevicePosture })) };
  }

  return {
    async build(tenant) {
      const active = await policies.active(tenant);
      // A local PEP decides on a bundle until it expires: never sign one from a stale view.
      options.freshness?.assertFresh(tenant, active.readAt);
      const entities = await allEntities(tenant);
      const identitySources = (await store.identity.listSources(tenant)).map((row) => ({ id: row.id, ...row.config }));
      const bundle = {
        tenant,
        version: active.version,
        hash: active.hash,
        content: active.content,
        settings: active.tenant.settings,
        entities,
        identitySources,
        revocations: identity.revocationsOf(tenant),
        ...(await riskSignalsOf(tenant, active.tenant.settings)),
      };
      const token = await signBundle(ringFor(tenant), { issuer: tokens.issuerUrl(tenant), bundle, ttlSec, ...(options.now ? { now: options.now } : {}) });
      return { tenant, version: active.version, hash: active.hash, bundle: token };
    },

    async keys(tenant) {
      const jwks = await ringFor(tenant).jwks();
      return { keys: jwks.keys, thumbprints: await bundleKeyThumbprints(jwks) };
    },
  };
}
