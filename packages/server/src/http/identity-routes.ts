/** Admin API for a tenant's identity sources and revocations. */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, VerityError } from '@verity/core';
import { requireAdmin, tenantParam, type Components } from './context.js';
import type { RevokeInput } from '../identity/identity-service.js';
import { randomBytes } from 'node:crypto';
import { hashToken } from '../admin/credentials.js';
import { requireTenant } from '../require-tenant.js';

function idParam(params: unknown): string {
  const id = (params as { id?: unknown }).id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new VerityError('ERR_IDENTITY_SOURCE_INVALID', 'identity source ids are 1-128 letters, digits, ".", "_" or "-"');
  return id;
}

function revokeInput(body: unknown): RevokeInput {
  const b = isPlainObject(body) ? body : {};
  const text = (value: unknown) => typeof value === 'string' && value.length > 0 && value.length <= 1024;
  if (text(b.subject) && b.client === undefined && b.jti === undefined) return { subject: b.subject as string };
  if (text(b.client) && b.subject === undefined && b.jti === undefined) return { client: b.client as string };
  if (text(b.jti) && typeof b.exp === 'number' && Number.isSafeInteger(b.exp) && b.subject === undefined && b.client === undefined) return { jti: b.jti as string, exp: b.exp };
  throw new VerityError('ERR_REQUEST_INVALID', 'send exactly one of {subject}, {client} or {jti, exp}');
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function invalidClient(message: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', `client: ${message}`);
}

function stringList(value: unknown, name: string, pattern?: RegExp): string[] {
  if (!Array.isArray(value) || value.length > 64 || value.some((v) => typeof v !== 'string' || v === '' || v.length > 512 || (pattern && !pattern.test(v)))) {
    throw invalidClient(`${name} must be an array of at most 64 non-empty strings`);
  }
  return [...new Set(value as string[])];
}

/** A token-service client registration from untrusted JSON. */
function parseClientBody(body: unknown) {
  if (!isPlainObject(body)) throw invalidClient('the body must be an object');
  const { principal, audiences, scopes, jwks, secret, ...rest } = body;
  if (Object.keys(rest).length > 0) throw invalidClient(`unknown keys: ${Object.keys(rest).slice(0, 5).join(', ')}`);
  const p = principal as { type?: unknown; id?: unknown } | undefined;
  if (typeof p?.type !== 'string' || typeof p.id !== 'string' || p.type === '' || p.id === '') throw invalidClient('principal must be {type, id}');
  let keys: Array<Record<string, unknown>> | null = null;
  if (jwks !== undefined) {
    if (!Array.isArray(jwks) || jwks.length === 0 || jwks.length > 8 || jwks.some((k) => typeof k !== 'object' || k === null || PRIVATE_JWK_MEMBERS.some((m) => m in k))) {
      throw invalidClient('jwks must be 1 to 8 public JWKs');
    }
    keys = jwks as Array<Record<string, unknown>>;
  }
  if (secret !== undefined && typeof secret !== 'boolean') throw invalidClient('secret must be true or false');
  return {
    config: { principal: { type: p.type, id: p.id }, audiences: stringList(audiences, 'audiences'), scopes: stringList(scopes ?? [], 'scopes', SCOPE_TOKEN), ...(keys ? { jwks: keys } : {}) },
    newSecret: secret === true,
  };
}

export function registerIdentityRoutes(app: FastifyInstance, c: Components): void {
  app.put('/admin/v1/tenants/:tenant/clients/:id', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    const { config, newSecret } = parseClientBody(request.body);
    await requireAdmin(c, request, 'policy.write', tenant);
    await requireTenant(c.store, tenant);
    const existing = await c.store.identity.getClient(tenant, id);
    const secret = newSecret ? `vcs_${randomBytes(32).toString('base64url')}` : null;
    await c.store.identity.putClient({ tenant, id, config, secretHash: secret ? hashToken(secret) : (existing?.secretHash ?? null) });
    await c.changes.publish({ tenant, kind: 'identity' });
    // The secret is shown once; only its hash is kept.
    return { id, tenant, ...config, ...(secret ? { clientSecret: secret } : {}) };
  });

  app.get('/admin/v1/tenants/:tenant/clients', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    await requireTenant(c.store, tenant);
    return { clients: (await c.store.identity.listClients(tenant)).map((row) => ({ id: row.id, tenant, ...row.config, hasSecret: row.secretHash !== null })) };
  });

  app.delete('/admin/v1/tenants/:tenant/clients/:id', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    await requireTenant(c.store, tenant);
    if (!(await c.store.identity.deleteClient(tenant, id))) throw new VerityError('ERR_REQUEST_NOT_FOUND', `no client "${id}"`);
    await c.changes.publish({ tenant, kind: 'identity' });
    reply.code(204);
  });

  app.get('/admin/v1/tenants/:tenant/identity-sources', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    return { sources: await c.identity.listSources(tenant) };
  });

  app.put('/admin/v1/tenants/:tenant/identity-sources/:id', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    return c.identity.putSource(tenant, id, request.body);
  });

  app.delete('/admin/v1/tenants/:tenant/identity-sources/:id', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const id = idParam(request.params);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.identity.removeSource(tenant, id);
    reply.code(204);
  });

  app.post('/admin/v1/tenants/:tenant/revocations', async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const input = revokeInput(request.body);
    await requireAdmin(c, request, 'policy.write', tenant);
    await c.identity.revoke(tenant, input);
    reply.code(201);
    return { revoked: input };
  });
}
