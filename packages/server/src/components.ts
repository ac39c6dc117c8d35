/** The composition root: one place that builds every service from the config and a store. */
import { createCedarEngine, type Engine } from '@verity/core';
import { createStore, type Database } from '@verity/store';
import type { ServerConfig } from './config.js';
import { createAuditWriter } from './audit-writer.js';
import { createPolicyService } from './policy-service.js';
import { createEntityService } from './entity-service.js';
import { createDecisionService } from './decision-service.js';
import { createSearchService } from './search-service.js';
import { createCredentialService } from './admin/credentials.js';
import { createAdminAuthorizer, ensureSystemTenant } from './admin/system-tenant.js';
import type { Components } from './http/context.js';
import { startChangeFeed, type ChangeFeed, type PublishChange } from './change-feed.js';

let sharedEngine: Engine | undefined;

export async function createComponents(config: Readonly<ServerConfig>, db: Database, options: { onAuditError?: (error: unknown, pending: number) => void } = {}): Promise<Components> {
  const store = await createStore(db);
  // One engine per process: cedar-wasm's preparsed sets live in the module's memory anyway.
  const engine = (sharedEngine ??= createCedarEngine());
  const audit = createAuditWriter(store, {
    flushMs: config.auditFlushMs,
    batchSize: config.auditBatchSize,
    maxQueue: config.auditMaxQueue,
    ...(options.onAuditError ? { onError: options.onAuditError } : {}),
  });
  // Late-bound so the services can publish through the feed that calls back into them.
  let feed: ChangeFeed | undefined;
  const publish: PublishChange = (change) => (feed as ChangeFeed).publish(change);
  const policies = createPolicyService(store, engine, { publish });
  const entities = createEntityService(store, engine, policies, { publish });
  feed = await startChangeFeed(db, {
    onChange: ({ tenant, kind }) => (kind === 'policy' ? policies.invalidate(tenant) : entities.invalidate(tenant)),
    onResync: () => {
      policies.invalidateAll();
      entities.invalidateAll();
    },
  });
  const decisions = createDecisionService({ engine, policies, entities, audit });
  const search = createSearchService(store, policies, decisions);
  const credentials = createCredentialService(store);
  const admin = createAdminAuthorizer(decisions, audit);
  await ensureSystemTenant(store, policies);
  return { config, store, engine, policies, entities, decisions, search, credentials, admin, audit, changes: feed };
}
