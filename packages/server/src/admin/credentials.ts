/** Admin and PEP credentials: opaque bearer tokens, stored only as SHA-256 hashes. */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { VerityError } from '@verity/core';
import { parseBearerToken } from '@verity/identity';
import type { Credential, Store } from '@verity/store';

export type { Credential } from '@verity/store';
import { Lru } from '../lru.js';

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

export interface CredentialService {
  /** The credential a bearer token names, or throws ERR_AUTH_MISSING / ERR_AUTH_INVALID. */
  authenticate(authorization: string | undefined): Promise<Credential>;
  issue(input: { role: Credential['role']; tenant: string | null; label: string }): Promise<{ credential: Credential; token: string }>;
  /** Make sure a platform admin exists; returns the token when one was generated now. */
  bootstrap(adminToken: string | null): Promise<{ generatedToken: string | null; created: boolean }>;
}

export function createCredentialService(store: Store, options: { cacheMs?: number; now?: () => number } = {}): CredentialService {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? Date.now;
  // Short cache so steady-state PEP calls skip the database; revocation takes effect within cacheMs.
  const cache = new Lru<string, { credential: Credential | null; at: number }>(10_000);

  async function lookup(hash: string): Promise<Credential | null> {
    const hit = cache.get(hash);
    if (hit && now() - hit.at < cacheMs) return hit.credential;
    const credential = await store.credentials.findByTokenHash(hash);
    cache.set(hash, { credential, at: now() });
    return credential;
  }

  return {
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

    async bootstrap(adminToken) {
      if (adminToken !== null) {
        const tokenHash = hashToken(adminToken);
        if (await store.credentials.findByTokenHash(tokenHash)) return { generatedToken: null, created: false };
        try {
          await store.credentials.create({ id: randomUUID(), tokenHash, role: 'platform-admin', tenant: null, label: 'VERITY_ADMIN_TOKEN' });
        } catch (error) {
          // Replicas starting together race to create it: the loser finds the winner's.
          if (await store.credentials.findByTokenHash(tokenHash)) return { generatedToken: null, created: false };
          throw error;
        }
        return { generatedToken: null, created: true };
      }
      if ((await store.credentials.count()) > 0) return { generatedToken: null, created: false };
      const token = generateToken();
      await store.credentials.create({ id: randomUUID(), tokenHash: hashToken(token), role: 'platform-admin', tenant: null, label: 'bootstrap' });
      return { generatedToken: token, created: true };
    },
  };
}
