/** The one place that turns "no such tenant" into ERR_TENANT_NOT_FOUND. */
import { VerityError, type Tenant } from '@verity/core';
import type { Store } from '@verity/store';

export async function requireTenant(store: Store, tenantId: string): Promise<Tenant> {
  const tenant = await store.tenants.get(tenantId);
  if (!tenant) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${tenantId}"`);
  return tenant;
}

/** A tenant whose audit may be read: a live one, or a deleted one (its audit is kept). */
export async function requireAuditedTenant(store: Store, tenantId: string): Promise<Tenant> {
  const tenant = await store.tenants.get(tenantId, { includeDeleted: true });
  if (!tenant) throw new VerityError('ERR_TENANT_NOT_FOUND', `no tenant "${tenantId}"`);
  return tenant;
}
