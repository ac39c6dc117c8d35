/** The composition root: one place that builds every service from the config and a store. */
import { sharedCedarEngine } from '@verity/core/cedar';
import { createStore, type Database } from '@verity/store';
import type { ServerConfig } from './config.js';
import { createAuditWriter } from './audit-writer.js';
import { createPolicyService, type PolicyService } from './policy-service.js';
import { createEntityService, type EntityService } from './entity-service.js';
import { createDecisionService } from './decision-service.js';
import { createSearchService } from './search-service.js';
import { createCredentialService } from './admin/credentials.js';
import { createAdminAuthorizer, ensureSystemTenant } from './admin/system-tenant.js';
import type { Components } from './http/context.js';
import { startChangeFeed } from './change-feed.js';
import { createIdentityService, type IdentityService } from './identity/identity-service.js';
import { createTokenServices } from './identity/token-services.js';
import { readFile, writeFile } from 'node:fs/promises';
import { createSecretBox, generateMasterKey, parseMasterKey } from '@verity/identity';

/** The master key that seals signing keys: configured, else a key file beside the data folder. */
async function resolveMasterKey(config: Readonly<ServerConfig>, print: (line: string) => void): Promise<Buffer> {
  if (config.masterKey) return parseMasterKey(config.masterKey);
  if (config.databaseUrl === null && config.dataDir !== null) {
    const file = `${config.dataDir.replace(/\/$/, '')}.master-key`;
    try {
      return parseMasterKey(await readFile(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const key = generateMasterKey();
      await writeFile(file, key, { mode: 0o600, flag: 'wx' });
      return parseMasterKey(key);
    }
  }
  if (config.databaseUrl !== null) print('verity: no VERITY_MASTER_KEY: token-signing keys are sealed with a per-process key and replaced at every restart');
  return parseMasterKey(generateMasterKey());
}

export async function createComponents(
  config: Readonly<ServerConfig>,
  db: Database,
  options: { onAuditError?: (error: unknown, pending: number) => void; print?: (line: string) => void } = {},
): Promise<Components> {
  const print = options.print ?? (() => {});
  const store = await createStore(db);
  // One engine per process (its threads are shared by every server in it, as in tests).
  const engine = sharedCedarEngine();
  const audit = createAuditWriter(store, {
    flushMs: config.auditFlushMs,
    batchSize: config.auditBatchSize,
    maxQueue: config.auditMaxQueue,
    ...(options.onAuditError ? { onError: options.onAuditError } : {}),
  });
  // The feed is started first so the services can publish through it; what it invalidates is
  // looked up when a change arrives (a notification may come before both services exist).
  const caches: { policies?: PolicyService; entities?: EntityService; identity?: IdentityService } = {};
  const feed = await startChangeFeed(db, {
    onChange: ({ tenant, kind }) => {
      if (kind === 'policy') caches.policies?.invalidate(tenant);
      else if (kind === 'entities') caches.entities?.invalidate(tenant);
      else void caches.identity?.onChange(tenant, kind);
    },
    onResync: () => {
      caches.policies?.invalidateAll();
      caches.entities?.invalidateAll();
      void caches.identity?.reloadAll();
    },
  });
  const policies = (caches.policies = createPolicyService(store, engine, { publish: feed.publish }));
  const entities = (caches.entities = createEntityService(store, engine, policies, { publish: feed.publish }));
  const decisions = createDecisionService({ engine, policies, entities, audit });
  const search = createSearchService(store, policies, decisions);
  const credentials = createCredentialService(store);
  const tokens = createTokenServices({ store, box: createSecretBox(await resolveMasterKey(config, print)) });
  const identity = (caches.identity = await createIdentityService({ store, audit, publish: feed.publish, tokens }));
  const admin = createAdminAuthorizer(decisions, audit);
  await ensureSystemTenant(store, policies);
  return { config, store, engine, policies, entities, decisions, search, credentials, admin, audit, identity, tokens, changes: feed };
}
