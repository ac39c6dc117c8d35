/** The composition of the storage port: migrate, then hand out the repositories over one database. */
import { createActivityRepository } from './activity-repository.js';
import { createAuditRepository } from './audit-repository.js';
import { createCredentialsRepository } from './credentials-repository.js';
import { createDevicesRepository } from './devices-repository.js';
import { createEntitiesRepository } from './entities-repository.js';
import { createIdentityRepository } from './identity-repository.js';
import { runMigrations } from './migrations.js';
import { createPoliciesRepository } from './policies-repository.js';
import { createReceiptKeysRepository } from './receipt-keys-repository.js';
import { createSsfRepository } from './ssf-repository.js';
import { createTenantsRepository } from './tenants-repository.js';
import { createThreatListsRepository } from './threat-lists-repository.js';
import { createWorkloadsRepository } from './workloads-repository.js';
import type { Database, Store } from './types.js';

/**
 * Bring the schema up to date (safe to call from several processes at once) and return the
 * {@link Store} over `db`. Closing the store closes `db`.
 *
 * @example
 * const store = await createStore(await createPgliteDatabase());
 * await store.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
 */
export async function createStore(db: Database): Promise<Store> {
  await runMigrations(db);
  return {
    db,
    tenants: createTenantsRepository(db),
    policies: createPoliciesRepository(db),
    entities: createEntitiesRepository(db),
    audit: createAuditRepository(db),
    identity: createIdentityRepository(db),
    credentials: createCredentialsRepository(db),
    receiptKeys: createReceiptKeysRepository(db),
    workloads: createWorkloadsRepository(db),
    devices: createDevicesRepository(db),
    ssf: createSsfRepository(db),
    threatLists: createThreatListsRepository(db),
    activity: createActivityRepository(db),
    close: () => db.close(),
  };
}
