/** Shared checks that a write targets an existing tenant. */
import { VerityError } from '@verity/core';
import type { SqlClient } from './types.js';

/** How a guarded transaction locks the tenant row. */
export type TenantLock = 'none' | 'no-key-update';

/**
 * Throw ERR_TENANT_NOT_FOUND unless the tenant exists. With `no-key-update` the row stays
 * locked until the transaction ends, which serializes per-tenant writers (version numbering,
 * activation, replaceAll) without blocking inserts whose foreign keys only take KEY SHARE.
 */
export async function requireTenant(tx: SqlClient, tenant: string, lock: TenantLock = 'none'): Promise<void> {
  const suffix = lock === 'no-key-update' ? ' FOR NO KEY UPDATE' : '';
  const { rows } = await tx.query('SELECT 1 FROM tenants WHERE id = $1 AND deleted_at IS NULL' + suffix, [tenant]);
  if (rows.length === 0) throw tenantNotFound(tenant);
}

/** The error for a write to an unknown tenant. */
export function tenantNotFound(tenant: string): VerityError {
  return new VerityError('ERR_TENANT_NOT_FOUND', `tenant "${tenant}" does not exist`);
}
