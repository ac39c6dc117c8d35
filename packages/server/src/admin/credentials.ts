/** Admin and PEP credentials: opaque bearer tokens, stored only as SHA-256 hashes. */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { VerityError } from '@verity/core';
import { parseBearerToken } from '@verity/identity';
import type { Credential, Store } from '@verity/store';

export type { Credential } from '@verity/store';
import { Lru } from '../lru.js';
import type { CacheStats } from '../metrics.js';
export { CREDENTIAL_ROLES, CREDENTIAL_ROLE_LIST, isCredentialRole } from './credential-roles.js';

const TOKEN_PREFIX = 'vrt_';
/** Generated credentials are 47 characters; a chosen VERITY_ADMIN_TOKEN may be longer, up to this. */
const MAX_CREDENTIAL_LENGTH = 512;

/**
 * Whether `token` can be presented as a credential: an RFC 6750 b64token of at most 512
 * characters (what `authenticate` accepts). A chosen VERITY_ADMIN_TOKEN is checked with it.
 */
export function isCredentialToken(token: string): boolean {
  return token.length <= MAX_CREDENTIAL_LENGTH && parseBearerToken(`Bearer ${token}`) === token;
}

/** A new token: 256 random bits. High entropy is why a plain SHA-256 is a sound hash at rest. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The fixed id of the bootstrap platform-admin credential (VERITY_ADMIN_TOKEN, or the generated one). */
export const BOOTSTRAP_CREDENTIAL_ID = 'bootstrap-admin';

/** A credential as the admin API shows it: never its token or the token's hash. */
export interface CredentialView {
  id: string;
  role: Credential['role'];
  tenant: string | null;
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Which credentials a call may reach: a tenant's, or (null) any. */
export type CredentialScope = { tenant: string } | null;

/** What `bootstrap` did, for the start-up log and the audit. */
export type BootstrapOutcome = 'generated' | 'created' | 'unchanged' | 'replaced' | 'revoked-kept' | 'existing';

export interface CredentialService {
  /** The credential a bearer token names, or throws ERR_AUTH_MISSING / ERR_AUTH_INVALID. */
  authenticate(authorization: string | undefined): Promise<Credential>;
  /** A new credential; its token is returned once and only its SHA-256 is stored. */
  issue(input: { role: Credential['role']; tenant: string | null; label: string }): Promise<{ credential: Credential; token: string }>;
  /** Credentials in scope, without secrets. */
  list(scope: CredentialScope): Promise<CredentialView[]>;
  /**
   * Revoke at once on every replica (the change feed clears their caches). Throws
   * ERR_CREDENTIAL_NOT_FOUND outside the scope, ERR_CREDENTIAL_LAST_ADMIN for the last active
   * platform admin (revoking it would leave no one able to administer Verity).
   */
  revoke(id: string, scope: CredentialScope): Promise<CredentialView>;
  /** A new token for the same credential (id, role, tenant); the old token stops working at once. */
  rotate(id: string, scope: CredentialScope): Promise<{ credential: CredentialView; token: string }>;
  /**
   * Make sure a platform admin exists. With VERITY_ADMIN_TOKEN, the bootstrap credential (fixed
   * id) holds that token: created, left alone, or — when the token changed — given the new
   * token, so the old one stops working and admins never pile up. Returns the token when one
   * was generated now.
   */
  bootstrap(adminToken: string | null): Promise<{ generatedToken: string | null; outcome: BootstrapOutcome }>;
  /** Credential look-ups answered from the cache (fresh), and read from the store, since start. */
  cacheStats(): CacheStats;
  /** Forget cached lookups (another replica changed a credential). */
  invalidate(): void;
}

export interface CredentialServiceOptions {
  /** How long a looked-up credential is trusted without reading the store again (ms). */
  cacheMs?: number;
  now?: () => number;
  /** Tell every replica a credential changed (change feed); they call `invalidate`. */
  publish?: () => Promise<void>;
}

export function toCredentialView(credential: Credential): CredentialView {
  const { id, role, tenant, label, createdAt, revokedAt } = credential;
  return { id, role, tenant, label, createdAt, revokedAt };
}

export function createCredentialService(store: Store, options: CredentialServiceOptions = {}): CredentialService {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? Date.now;
  const publish = options.publish ?? (async () => {});
  // Short cache so steady-state PEP calls skip the database. Every change clears it on every
  // replica through the change feed, so a revocation takes effect as fast as NOTIFY travels;
  // cacheMs only bounds how long a missed notification could matter.
  const cache = new Lru<string, { credential: Credential | null; at: number }>(10_000);

  async function inScope(id: string, scope: CredentialScope): Promise<Credential> {
    const credential = await store.credentials.get(id);
    if (!credential || (scope !== null && credential.tenant !== scope.tenant)) throw new VerityError('ERR_CREDENTIAL_NOT_FOUND', 'no such credential');
    return credential;
  }

  async function changed(): Promise<void> {
    cache.clear();
    await publish();
  }

  const counts: CacheStats = { hits: 0, misses: 0 };

  async function lookup(hash: string): Promise<Credential | null> {
    const hit = cache.get(hash);
    if (hit && now() - hit.at < cacheMs) {
      counts.hits += 1;
      return hit.credential;
    }
    counts.misses += 1;
    const credential = await store.credentials.findByTokenHash(hash);
    cache.set(hash, { credential, at: now() });
    return credential;
  }

  return {
    cacheStats: () => ({ ...counts }),
    async authenticate(authorization) {
      if (!authorization) throw new VerityError('ERR_AUTH_MISSING', 'an Authorization: Bearer credential is required');
      // Stricter than RFC 6750 alone: a credential is never longer than this.
      const token = parseBearerToken(authorization);
      if (token === undefined || !isCredentialToken(token)) throw new VerityError('ERR_AUTH_INVALID', 'the Authorization header is not a bearer credential');
      const hash = hashToken(token);
      const credential = await lookup(hash);
      // The lookup is by hash; the constant-time compare keeps the final check timing-flat.
      if (!credential || !timingSafeEqual(Buffer.from(credential.tokenHash, 'hex'), Buffer.from(hash, 'hex')) || credential.revokedAt !== null) {
        throw new VerityError('ERR_AUTH_INVALID', 'the credential is not valid');
      }
      return credential;
    },

    async issue({ role, tenant, label }) {
      const token = generateToken();
      const credential = await store.credentials.create({ id: randomUUID(), tokenHash: hashToken(token), role, tenant, label });
      return { credential, token };
    },

    async list(scope) {
      return (await store.credentials.list(scope === null ? {} : { tenant: scope.tenant })).map(toCredentialView);
    },

    async revoke(id, scope) {
      const credential = await inScope(id, scope);
      if (credential.role === 'platform-admin' && credential.revokedAt === null && (await store.credentials.countActiveAdmins()) <= 1) {
        throw new VerityError('ERR_CREDENTIAL_LAST_ADMIN', 'this is the last active platform-admin credential; create another before revoking it');
      }
      await store.credentials.revoke(id);
      await changed();
      return toCredentialView((await store.credentials.get(id)) ?? credential);
    },

    async rotate(id, scope) {
      await inScope(id, scope);
      const token = generateToken();
      const rotated = await store.credentials.rotate(id, hashToken(token));
      if (!rotated) throw new VerityError('ERR_CREDENTIAL_NOT_FOUND', 'no such credential, or it is revoked');
      await changed();
      return { credential: toCredentialView(rotated), token };
    },

    invalidate() {
      cache.clear();
    },

    async bootstrap(adminToken) {
      if (adminToken !== null) {
        const tokenHash = hashToken(adminToken);
        const current = await store.credentials.get(BOOTSTRAP_CREDENTIAL_ID);
        if (current?.tokenHash === tokenHash) return { generatedToken: null, outcome: current.revokedAt === null ? 'unchanged' : 'revoked-kept' };
        // Before 0.1.x the token's credential had a random id and label VERITY_ADMIN_TOKEN:
        // retire those, so only the current token is an admin.
        for (const legacy of await store.credentials.list({ tenant: null })) {
          if (legacy.label !== 'VERITY_ADMIN_TOKEN' || legacy.id === BOOTSTRAP_CREDENTIAL_ID) continue;
          // A dead hash frees the token's hash for the bootstrap credential (the column is unique).
          await store.credentials.rotate(legacy.id, hashToken(generateToken()), { revive: legacy.revokedAt !== null });
          await store.credentials.revoke(legacy.id);
        }
        if (current) {
          // A changed token replaces the old one (revoked or not: whoever sets the env owns the server).
          await store.credentials.rotate(BOOTSTRAP_CREDENTIAL_ID, tokenHash, { revive: true });
          await changed();
          return { generatedToken: null, outcome: 'replaced' };
        }
        try {
          await store.credentials.create({ id: BOOTSTRAP_CREDENTIAL_ID, tokenHash, role: 'platform-admin', tenant: null, label: 'VERITY_ADMIN_TOKEN' });
        } catch (error) {
          // Replicas starting together race to create it: the loser finds the winner's.
          if ((await store.credentials.get(BOOTSTRAP_CREDENTIAL_ID))?.tokenHash === tokenHash) return { generatedToken: null, outcome: 'unchanged' };
          throw error;
        }
        await changed();
        return { generatedToken: null, outcome: 'created' };
      }
      if ((await store.credentials.count()) > 0) return { generatedToken: null, outcome: 'existing' };
      const token = generateToken();
      await store.credentials.create({ id: BOOTSTRAP_CREDENTIAL_ID, tokenHash: hashToken(token), role: 'platform-admin', tenant: null, label: 'bootstrap' });
      return { generatedToken: token, outcome: 'generated' };
    },
  };
}
