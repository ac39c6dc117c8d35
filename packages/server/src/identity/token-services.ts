/**
 * Each tenant's token service (STS): a signing-key ring sealed at rest in the store, an issuer
 * at `{base}/tenants/{tenant}`, its clients, and the identity source through which Verity
 * verifies the tokens it issued itself.
 */
import { tenantBaseUrl } from '../public-url.js';
import { isTenantId, VerityError } from '@verity/core';
import {
  createSigningKeyRing,
  createSourceFetch,
  createTokenIssuer,
  stsIdentitySource,
  type FetchFunction,
  type IdentitySource,
  type SecretBox,
  type SigningKeyRing,
  type SigningKeyStore,
  type StoredSigningKey,
  type StsClient,
  type TokenIssuer,
} from '@verity/identity';
import type { SealedSigningKey, Store } from '@verity/store';

export interface TokenServicesOptions {
  store: Store;
  box: SecretBox;
  now?: () => number;
  /** Every other identity-source request (default: the guarded source fetch, see createSourceFetch). */
  sourceFetch?: FetchFunction;
}

export interface TokenServices {
  /** Set once the server knows where it is reachable (its public URL, or the address it bound). */
  setBaseUrl(url: string): void;
  /** The public base URL (see public-url.ts); throws ERR_INTERNAL before the server listens. */
  baseUrl(): string;
  issuerUrl(tenant: string): string;
  issuer(tenant: string): Promise<TokenIssuer>;
  /** The tenant's signing-key ring (access tokens; bundles have a ring of their own). */
  ring(tenant: string): SigningKeyRing;
  /** The published keys, read from the store (so every replica serves the same JWKS). */
  jwks(tenant: string): Promise<{ keys: unknown[] }>;
  /** The identity source for tokens this tenant's STS issued (null until the base URL is known). */
  ownSource(tenant: string): Promise<IdentitySource | null>;
  client(tenant: string, id: string): Promise<StsClient | null>;
  /** Serve our own JWKS without a network round trip (the verifier's injected fetch); anything else goes to `sourceFetch`. */
  fetch: FetchFunction;
}

/** Where a sealed key ring lives: the token keys or the bundle keys of one tenant. */
export interface SealedKeyTable {
  load(tenant: string): Promise<SealedSigningKey[]>;
  /** False (nothing written) when the stored ring no longer holds exactly `expectedKids`. */
  save(tenant: string, keys: readonly SealedSigningKey[], expectedKids: readonly string[]): Promise<boolean>;
}

/**
 * A ring's keys in their stored form: the whole StoredSigningKey, sealed, bound to its tenant and
 * to `purpose` (a sealed token key cannot be opened as a bundle key, nor the other way round).
 */
export function sealedKeyStore(table: SealedKeyTable, box: SecretBox, tenant: string, purpose: string, maxAgeMs: number): SigningKeyStore {
  const boundTo = `${purpose}:${tenant}`;
  return {
    async load() {
      return (await table.load(tenant)).map((row) => JSON.parse(box.open(row.sealedKey, boundTo)) as StoredSigningKey);
    },
    save(keys, replacing) {
      return table.save(
        tenant,
        keys.map((key) => ({ kid: key.kid, sealedKey: box.seal(JSON.stringify(key), boundTo), createdAtMs: key.createdAt, retireAfterMs: key.createdAt + maxAgeMs })),
        replacing.map((key) => key.kid),
      );
    },
  };
}

const ROTATE_EVERY_MS = 24 * 60 * 60 * 1000;

export function createTokenServices(options: TokenServicesOptions): TokenServices {
  const { store, box } = options;
  const now = options.now ?? Date.now;
  const sourceFetch = options.sourceFetch ?? createSourceFetch();
  let baseUrl: string | null = null;
  const rings = new Map<string, { ring: SigningKeyRing; issuer: TokenIssuer }>();

  const base = () => {
    if (baseUrl === null) throw new VerityError('ERR_INTERNAL', 'the token service has no base URL yet');
    return baseUrl;
  };
  const issuerUrl = (tenant: string) => tenantBaseUrl(base(), tenant);
  const table: SealedKeyTable = { load: (tenant) => store.identity.loadSigningKeys(tenant), save: (tenant, keys, expectedKids) => store.identity.saveSigningKeys(tenant, keys, expectedKids) };
  const ringFor = (tenant: string) => createSigningKeyRing({ store: sealedKeyStore(table, box, tenant, 'signing-key', 2 * ROTATE_EVERY_MS), now, rotateEveryMs: ROTATE_EVERY_MS });

  function entry(tenant: string) {
    let found = rings.get(tenant);
    if (!found) {
      const ring = ringFor(tenant);
      found = { ring, issuer: createTokenIssuer({ issuer: issuerUrl(tenant), keyRing: ring, now }) };
      rings.set(tenant, found);
    }
    return found;
  }

  async function jwks(tenant: string) {
    // A fresh ring reads the store: keys another replica rotated in are published here too.
    return ringFor(tenant).jwks();
  }

  return {
    setBaseUrl(url) {
      baseUrl = url.replace(/\/$/, '');
      rings.clear();
    },
    baseUrl: base,
    issuerUrl,
    issuer: async (tenant) => entry(tenant).issuer,
    ring: (tenant) => entry(tenant).ring,
    jwks,

    async ownSource(tenant) {
      if (baseUrl === null) return null;
      const [clients, tenantRow] = await Promise.all([store.identity.listClients(tenant), store.tenants.get(tenant)]);
      const audiences = [...new Set(clients.flatMap((c) => (c.config.audiences as string[] | undefined) ?? []))];
      const principalType = tenantRow?.settings.stsPrincipalType;
      return stsIdentitySource({ tenant, issuer: issuerUrl(tenant), audiences, ...(principalType === undefined ? {} : { principalType }) });
    },

    async client(tenant, id) {
      const row = await store.identity.getClient(tenant, id);
      if (!row) return null;
      const config = row.config as { principal: StsClient['principal']; audiences: string[]; subjectAudiences?: string[]; scopes: string[]; jwks?: StsClient['jwks'] };
      return { id, tenant, principal: config.principal, secretHash: row.secretHash, jwks: config.jwks ?? null, audiences: config.audiences, subjectAudiences: config.subjectAudiences ?? [], scopes: config.scopes };
    },

    async fetch(url, init) {
      const tenant = baseUrl !== null && url.startsWith(`${baseUrl}/tenants/`) ? /\/tenants\/([^/]+)\/\.well-known\/jwks\.json$/.exec(url)?.[1] : undefined;
      if (isTenantId(tenant)) return new Response(JSON.stringify(await jwks(tenant)), { headers: { 'content-type': 'application/json' } });
      return sourceFetch(url, init);
    },
  };
}
