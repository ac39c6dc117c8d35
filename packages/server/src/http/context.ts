/** What every route handler needs: the composed services, and per-request helpers. */
import type { FastifyRequest } from 'fastify';
import { VerityError, isTenantId, isTierLabel, isVerityError, type CedarValue, type DecisionMeta } from '@verity/core';
import { SYSTEM_TENANT, type AdminAction } from '../admin/system-tenant.js';
import type { Credential } from '../admin/credentials.js';
import type { Components } from '../components.js';

export type { Components } from '../components.js';

/** Request id and the caller's tier label (`X-Verity-Tier`), as recorded in the audit. */
export function metaOf(request: FastifyRequest): DecisionMeta {
  const tier = request.headers['x-verity-tier'];
  const observed = request.headers['x-verity-observe'] === 'true';
  return { requestId: request.id, tier: isTierLabel(tier) ? tier : null, ...(observed ? { observed } : {}) };
}

/** Options of {@link requireAdmin}. */
export interface RequireAdminOptions {
  /** Where the credential is (default `authorization`). */
  header?: string;
  /** The Cedar context of the check, recorded with it in `_system`'s audit (default empty). */
  context?: Record<string, CedarValue>;
}

/**
 * Authenticate the caller and check `action` with the system policies. Failures are audited.
 * The credential is read from `Authorization`, or from another header where `Authorization`
 * carries the user's token (gateways send theirs in `X-Verity-Credential`).
 */
export async function requireAdmin(c: Components, request: FastifyRequest, action: AdminAction, tenant: string | null, { header = 'authorization', context }: RequireAdminOptions = {}): Promise<Credential> {
  const meta = metaOf(request);
  let credential: Credential;
  try {
    const value = request.headers[header];
    credential = await c.credentials.authenticate(typeof value === 'string' ? value : undefined);
  } catch (error) {
    if (isVerityError(error)) await c.admin.recordAuthFailure(error.code, meta);
    throw error;
  }
  await c.admin.require(credential, action, tenant, meta, context);
  return credential;
}

/** Decision endpoints: a credential allowed to `decide` for the tenant, unless decisions are open. */
export async function requireDecide(c: Components, request: FastifyRequest, tenant: string): Promise<void> {
  if (c.config.decisionAuth === 'open') return;
  await requireAdmin(c, request, 'decide', tenant);
}

/** A tenant path parameter; `_system` is readable (its audit) but never writable through the API. */
export function tenantParam(request: FastifyRequest, options: { write: boolean }): string {
  const tenant = (request.params as { tenant?: unknown }).tenant;
  if (tenant !== SYSTEM_TENANT && !isTenantId(tenant)) {
    throw new VerityError('ERR_TENANT_NOT_FOUND', 'no such tenant');
  }
  if (options.write && tenant === SYSTEM_TENANT) throw new VerityError('ERR_AUTH_FORBIDDEN', 'the system tenant is managed by Verity itself');
  return tenant;
}
