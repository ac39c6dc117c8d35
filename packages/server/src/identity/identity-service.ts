/**
 * The server's view of user identity: each tenant's identity sources (cached, invalidated
 * through the change feed), token verification for token-in decisions, and revocations that
 * are persisted, shared between replicas, and checked on every use of a token.
 */
import { isPlainObject, VerityError } from '@verity/core';
import type { CacheStats } from '../metrics.js';
import { isIP } from 'node:net';
import { createRevocationList, createTokenAuthenticator, createTokenVerifier, isPublicAddress, parseIdentitySource, type FetchFunction, type IdentitySource, type Revocation, type VerifiedToken, type VerifiedTxnToken, type VerifyTxnTokenOptions } from '@verity/identity';
import type { StoredRevocation, Store } from '@verity/store';
import type { AuditWriter } from '../audit-writer.js';
import type { PublishChange } from '../change-feed.js';
import type { DecisionMeta } from '@verity/core';
import { requireTenant } from '../require-tenant.js';
import type { TokenServices } from './token-services.js';
import { recordSecurityEvent } from '../security-event.js';

export interface IdentityServiceOptions {
  store: Store;
  /** The tenants' own token services: their tokens verify through the same path. */
  tokens: TokenServices;
  audit: AuditWriter;
  publish: PublishChange;
  /** Injected for tests and to freeze time; it replaces the guarded fetch of `tokens`. */
  fetch?: FetchFunction;
  now?: () => number;
  /**
   * Accept identity sources on plain http or on loopback/private addresses (the server's
   * `allowInsecureIdentitySources`, development only). Off: such a source is refused when it is
   * put, not only when the guarded fetch refuses to reach it.
   */
  allowInsecureSources?: boolean;
  /** Told of every subject-token verification: its duration (seconds) and outcome (metrics). */
  onTokenVerified?: (seconds: number, outcome: 'valid' | 'rejected') => void;
}

/**
 * Refuse a source whose discovery or JWKS URL the guarded fetch would never reach: plain http,
 * or a host that is a loopback, private or link-local address literal or `localhost`. (A name
 * that resolves to such an address is refused at fetch time, on the connection itself.)
 */
function assertReachableSource(source: IdentitySource): void {
  // Inline keys: nothing is fetched, and the issuer is only a name a token's `iss` must match.
  if (source.keys.kind === 'inline') return;
  const url = new URL(source.keys.kind === 'jwks' ? source.keys.jwksUri : source.issuer);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const local = host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && !isPublicAddress(host));
  if (url.protocol !== 'https:' || local) {
    throw new VerityError(
      'ERR_IDENTITY_SOURCE_INVALID',
      `${source.keys.kind === 'jwks' ? 'keys.jwksUri' : 'issuer'} must be an https URL of a public host (loopback and private addresses need the server's --allow-insecure-identity-sources)`,
    );
  }
}

/** What a revocation names: a subject, a client, a job (each: every token issued until now), or one token. */
export type RevokeInput = { subject: string } | { client: string } | { job: string } | { jti: string; exp: number };

export interface IdentityService {
  listSources(tenant: string): Promise<IdentitySource[]>;
  putSource(tenant: string, id: string, config: unknown): Promise<IdentitySource>;
  removeSource(tenant: string, id: string): Promise<void>;
  /**
   * Verify a subject token against the tenant's sources and its revocations. A failure is
   * recorded in the tenant's audit (a security event) and rethrown as a 401 domain error.
   */
  verifySubjectToken(tenant: string, token: unknown, meta: DecisionMeta, audience?: string): Promise<VerifiedToken>;
  /** A token this tenant's own token service issued, verified (signature, expiry), or null. */
  verifyOwnToken(tenant: string, token: string): Promise<VerifiedToken | null>;
  /**
   * Persist a revocation and tell every replica (change kind `revocation`); subject, client and
   * job revocations cut off every token issued up to now (seconds). The store refuses an unknown tenant.
   */
  revoke(tenant: string, input: RevokeInput): Promise<void>;
  /** The tenant's live revocations (for policy bundles). */
  revocationsOf(tenant: string): Revocation[];
  /**
   * A Txn-Token of this tenant, verified and its subject checked against the tenant's
   * revocations; rejects with `ERR_TXN_TOKEN_INVALID` (the caller audits the refusal).
   */
  verifyTxnToken(tenant: string, token: unknown, options: Omit<VerifyTxnTokenOptions, 'now'>): Promise<VerifiedTxnToken>;
  /** A change notification: reload what changed. */
  onChange(tenant: string, kind: 'identity' | 'revocation'): Promise<void>;
  /** The verified-token cache's hits and misses since start. */
  tokenCacheStats(): CacheStats;
  reloadAll(): Promise<void>;
}

function fromStored(row: StoredRevocation): Revocation {
  if (row.kind === 'token') return { kind: 'token', tenant: row.tenant, tokenId: row.value, expiresAt: row.atSec };
  if (row.kind === 'subject') return { kind: 'subject', tenant: row.tenant, subject: row.value, issuedBefore: row.atSec };
  if (row.kind === 'job') return { kind: 'job', tenant: row.tenant, job: row.value, issuedBefore: row.atSec };
  return { kind: 'client', tenant: row.tenant, clientId: row.value, issuedBefore: row.atSec };
}

export async function createIdentityService(options: IdentityServiceOptions): Promise<IdentityService> {
  const { store, audit, publish } = options;
  const now = options.now ?? Date.now;
  const verifier = createTokenVerifier({ now, fetch: options.fetch ?? options.tokens.fetch });
  const revocations = createRevocationList({ now });
  const tokens = createTokenAuthenticator({ verifier, revocations });
  const sourcesByTenant = new Map<string, Promise<IdentitySource[]>>();

  const loadRevocations = async () => revocations.load((await store.identity.listRevocations()).map(fromStored));
  await loadRevocations();
  /**
   * The revocation list as of the last change heard: a token is checked only once it is read
   * (a decision during the read waits for it; one after a failed read reads again, and fails
   * closed while the store does). Reads run one after another, so the last begins after the
   * last change.
   */
  let current: Promise<void> = Promise.resolve();
  const reloadRevocations = (): Promise<void> => {
    current = current.catch(() => undefined).then(loadRevocations);
    return current;
  };
  const revocationsRead = (): Promise<void> => current.catch(() => reloadRevocations());

  function sources(tenant: string): Promise<IdentitySource[]> {
    let entry = sourcesByTenant.get(tenant);
    if (!entry) {
      entry = Promise.all([store.identity.listSources(tenant), options.tokens.ownSource(tenant)]).then(([rows, own]) => [
        ...rows.map((row) => parseIdentitySource({ ...row.config, id: row.id, tenant })),
        ...(own ? [own] : []),
      ]);
      sourcesByTenant.set(tenant, entry);
      entry.catch(() => sourcesByTenant.delete(tenant));
    }
    return entry;
  }

  const recordRejection = (tenant: string, code: string, meta: DecisionMeta) =>
    recordSecurityEvent(audit, {
      tenant,
      principal: { type: 'Verity::Token', id: 'rejected' },
      action: { type: 'Verity::Action', id: 'authenticate' },
      resource: { type: 'Verity::Tenant', id: tenant },
      code,
      check: 'token',
      meta,
      now: now(),
    });

  return {
    listSources: async (tenant) => {
      await requireTenant(store, tenant);
      return (await sources(tenant)).filter((source) => source.id !== 'verity-sts');
    },

    async putSource(tenant, id, config) {
      await requireTenant(store, tenant);
      if (!isPlainObject(config)) throw new VerityError('ERR_IDENTITY_SOURCE_INVALID', 'the identity source must be an object');
      if (id === 'verity-sts') throw new VerityError('ERR_IDENTITY_SOURCE_INVALID', 'the id "verity-sts" is the tenant\'s own token service');
      const source = parseIdentitySource({ ...config, id, tenant });
      if (options.allowInsecureSources !== true) assertReachableSource(source);
      const { id: _id, tenant: _tenant, ...stored } = source;
      await store.identity.putSource({ tenant, id, config: stored as unknown as Record<string, unknown> });
      await publish({ tenant, kind: 'identity' });
      return source;
    },

    async removeSource(tenant, id) {
      await requireTenant(store, tenant);
      if (!(await store.identity.deleteSource(tenant, id))) throw new VerityError('ERR_IDENTITY_SOURCE_NOT_FOUND', `no identity source "${id.slice(0, 128)}"`);
      await publish({ tenant, kind: 'identity' });
    },

    async verifySubjectToken(tenant, token, meta, audience) {
      const start = performance.now();
      try {
        await revocationsRead();
        const verified = await tokens.authenticate(token, { tenant, sources: await sources(tenant), ...(audience === undefined ? {} : { audience }) });
        options.onTokenVerified?.((performance.now() - start) / 1000, 'valid');
        return verified;
      } catch (error) {
        options.onTokenVerified?.((performance.now() - start) / 1000, 'rejected');
        if (error instanceof VerityError && error.code.startsWith('ERR_TOKEN_')) await recordRejection(tenant, error.code, meta);
        throw error;
      }
    },

    tokenCacheStats() {
      const { hits, misses } = verifier.stats().cache;
      return { hits, misses };
    },

    async verifyOwnToken(tenant, token) {
      const own = await options.tokens.ownSource(tenant);
      if (!own) return null;
      try {
        return await verifier.verify(token, [own]);
      } catch {
        return null;
      }
    },

    async revoke(tenant, input) {
      await requireTenant(store, tenant);
      const nowSec = Math.floor(now() / 1000);
      const stored: StoredRevocation =
        'subject' in input
          ? { tenant, kind: 'subject', value: input.subject, atSec: nowSec }
          : 'client' in input
            ? { tenant, kind: 'client', value: input.client, atSec: nowSec }
            : 'job' in input
              ? { tenant, kind: 'job', value: input.job, atSec: nowSec }
              : { tenant, kind: 'token', value: input.jti, atSec: input.exp };
      await store.identity.addRevocation(stored);
      await publish({ tenant, kind: 'revocation' });
    },

    revocationsOf(tenant) {
      return revocations.snapshot().filter((revocation) => revocation.tenant === tenant);
    },

    verifyTxnToken: async (tenant, token, verifyOptions) => {
      await revocationsRead();
      return tokens.authenticateTxnToken(token, { ...verifyOptions, tenant, now });
    },

    async onChange(tenant, kind) {
      // Verified tokens stay cached only as long as nothing about their tenant changed.
      verifier.purge(() => true);
      if (kind === 'identity') sourcesByTenant.delete(tenant);
      else await reloadRevocations().catch(() => undefined);
    },

    async reloadAll() {
      sourcesByTenant.clear();
      verifier.purge(() => true);
      await reloadRevocations();
    },
  };
}
