/**
 * Signed policy bundles for PEPs that decide in-process: the tenant's active version, settings,
 * entities, identity sources and revocations, signed with the tenant's token-service key. A PEP
 * verifies it against `/tenants/{t}/.well-known/jwks.json` and refreshes it when the change
 * stream says something changed.
 */
import { VerityError, type Entity } from '@verity/core';
import { signBundle } from '@verity/identity';
import type { Store } from '@verity/store';
import type { IdentityService } from './identity/identity-service.js';
import type { TokenServices } from './identity/token-services.js';
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

export interface BundleService {
  /** Assemble and sign the tenant's bundle now; ERR_REQUEST_TOO_LARGE past {@link MAX_BUNDLE_ENTITIES}. */
  build(tenant: string): Promise<SignedBundle>;
}

export interface BundleServiceOptions {
  store: Store;
  policies: PolicyService;
  identity: IdentityService;
  tokens: TokenServices;
}

export function createBundleService(options: BundleServiceOptions): BundleService {
  const { store, policies, identity, tokens } = options;

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

  return {
    async build(tenant) {
      const active = await policies.active(tenant);
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
      };
      const token = await signBundle(tokens.ring(tenant), { issuer: tokens.issuerUrl(tenant), bundle });
      return { tenant, version: active.version, hash: active.hash, bundle: token };
    },
  };
}
