/**
 * Registering a tenant's token-service clients: the services that ask the token service for
 * their own tokens or exchange their callers' (their principal, audiences, scopes, keys).
 */
import { randomBytes } from 'node:crypto';
import { isPlainObject, VerityError, type EntityUid } from '@verity/core';
import { PRIVATE_JWK_MEMBERS, publicJwkProblem } from '@verity/identity';
import type { Store } from '@verity/store';
import { hashToken } from '../admin/credentials.js';
import type { PublishChange } from '../change-feed.js';
import { requireTenant } from '../require-tenant.js';

/** A registered client as the admin API shows it (never a secret, except the one just made). */
export interface ClientView {
  id: string;
  tenant: string;
  principal: EntityUid;
  audiences: string[];
  /** Audiences of the subject tokens it may exchange (besides its own id and the token service). */
  subjectAudiences?: string[];
  scopes: string[];
  jwks?: Array<Record<string, unknown>>;
  /** A generated secret, shown once (only its hash is kept). */
  clientSecret?: string;
  /** In listings: whether the client has a secret. */
  hasSecret?: boolean;
}

export interface ClientService {
  /** Create or replace a client from untrusted JSON (`{principal, audiences, subjectAudiences?, scopes?, jwks?, secret?}`). */
  put(tenant: string, id: string, body: unknown): Promise<ClientView>;
  list(tenant: string): Promise<ClientView[]>;
  /** ERR_REQUEST_NOT_FOUND when there is no such client. */
  remove(tenant: string, id: string): Promise<void>;
}

// RFC 6749 §3.3 scope-token characters.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

function invalidClient(message: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', `client: ${message}`);
}

function stringList(value: unknown, name: string, pattern?: RegExp): string[] {
  if (!Array.isArray(value) || value.length > 64 || value.some((v) => typeof v !== 'string' || v === '' || v.length > 512 || (pattern && !pattern.test(v)))) {
    throw invalidClient(`${name} must be an array of at most 64 non-empty strings`);
  }
  return [...new Set(value as string[])];
}

/** A client registration from untrusted JSON. */
function parseClientBody(body: unknown) {
  if (!isPlainObject(body)) throw invalidClient('the body must be an object');
  const { principal, audiences, subjectAudiences, scopes, jwks, secret, ...rest } = body;
  if (Object.keys(rest).length > 0) throw invalidClient(`unknown keys: ${Object.keys(rest).slice(0, 5).join(', ')}`);
  const p = principal as { type?: unknown; id?: unknown } | undefined;
  if (typeof p?.type !== 'string' || typeof p.id !== 'string' || p.type === '' || p.id === '') throw invalidClient('principal must be {type, id}');
  let keys: Array<Record<string, unknown>> | null = null;
  if (jwks !== undefined) {
    if (!Array.isArray(jwks) || jwks.length === 0 || jwks.length > 8 || jwks.some((k) => !isPlainObject(k) || PRIVATE_JWK_MEMBERS.some((m) => m in k) || publicJwkProblem(k) !== null)) {
      throw invalidClient('jwks must be 1 to 8 public JWKs');
    }
    keys = jwks as Array<Record<string, unknown>>;
  }
  if (secret !== undefined && typeof secret !== 'boolean') throw invalidClient('secret must be true or false');
  return {
    config: {
      principal: { type: p.type, id: p.id },
      audiences: stringList(audiences, 'audiences'),
      ...(subjectAudiences === undefined ? {} : { subjectAudiences: stringList(subjectAudiences, 'subjectAudiences') }),
      scopes: stringList(scopes ?? [], 'scopes', SCOPE_TOKEN), ...(keys ? { jwks: keys } : {}),
    },
    newSecret: secret === true,
  };
}

export function createClientService(store: Store, options: { publish: PublishChange }): ClientService {
  return {
    async put(tenant, id, body) {
      const { config, newSecret } = parseClientBody(body);
      await requireTenant(store, tenant);
      const existing = await store.identity.getClient(tenant, id);
      const secret = newSecret ? `vcs_${randomBytes(32).toString('base64url')}` : null;
      // Without a new secret, a replaced client keeps the one it had.
      await store.identity.putClient({ tenant, id, config, secretHash: secret ? hashToken(secret) : (existing?.secretHash ?? null) });
      await options.publish({ tenant, kind: 'identity' });
      return { id, tenant, ...config, ...(secret ? { clientSecret: secret } : {}) };
    },

    async list(tenant) {
      await requireTenant(store, tenant);
      return (await store.identity.listClients(tenant)).map((row) => ({ id: row.id, tenant, ...(row.config as Omit<ClientView, 'id' | 'tenant'>), hasSecret: row.secretHash !== null }));
    },

    async remove(tenant, id) {
      await requireTenant(store, tenant);
      if (!(await store.identity.deleteClient(tenant, id))) throw new VerityError('ERR_REQUEST_NOT_FOUND', `no client "${id}"`);
      await options.publish({ tenant, kind: 'identity' });
    },
  };
}
