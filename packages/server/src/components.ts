/** The composition root: one place that builds every service from the config and a store. */
import type { Engine } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { createStore, type Database, type Store } from '@verity/store';
import type { ServerConfig } from './config.js';
import { createAuditWriter, type AuditWriter } from './audit-writer.js';
import { createAuditService, type AuditService } from './audit-service.js';
import { createAuditCheckpoints, type AuditCheckpoints } from './audit-checkpoints.js';
import { createBundleService, type BundleService } from './bundle-service.js';
import { createPolicyService, type PolicyService } from './policy-service.js';
import { createReplayService, type ReplayService } from './replay-service.js';
import { createEntityService, type EntityService } from './entity-service.js';
import { createDecisionService, type DecisionService } from './decision-service.js';
import { createReadinessCheck, type ReadinessCheck } from './readiness.js';
import { createReceiptService, type ReceiptService } from './receipt-service.js';
import { createSearchService, type SearchService } from './search-service.js';
import { createTenantService, type TenantService } from './tenant-service.js';
import { createCredentialService, type CredentialService } from './admin/credentials.js';
import { createAdminAuthorizer, ensureSystemTenant, SYSTEM_TENANT, type AdminAuthorizer } from './admin/system-tenant.js';
import { startChangeFeed, type ChangeFeed } from './change-feed.js';
import { createFreshness, type Freshness } from './freshness.js';
import { createGatewayDecider, type GatewayDecider } from './gateway/gateway-decider.js';
import { createClientService, type ClientService } from './identity/client-service.js';
import { createIdentityService, type IdentityService } from './identity/identity-service.js';
import { createTokenEndpoint, type TokenEndpoint } from './identity/token-endpoint.js';
import { createTokenServices, type TokenServices } from './identity/token-services.js';
import { readFile, writeFile } from 'node:fs/promises';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, timedDatabase, type Metrics } from './metrics.js';
import { traceDecision } from './tracing.js';
import { createWorkloadService, type WorkloadService } from './workload/workload-service.js';
import { createDeviceService, type DeviceService } from './device/device-service.js';
import { createAssuranceService, type AssuranceService } from './ssf/assurance-service.js';
import { createSsfReceiver, type SsfReceiver } from './ssf/ssf-receiver.js';
import { createSsfTransmitter, type SsfTransmitter } from './ssf/ssf-transmitter.js';
import { openMaxmindResolver } from './network/maxmind-resolver.js';
import { createThreatListService, type ThreatListService } from './network/threat-list-service.js';
import { createActivityService, type ActivityService } from './risk/activity-service.js';
import { createKeyResolver, createSecretBox, createSourceFetch, generateMasterKey, parseMasterKey } from '@verity/identity';

/**
 * Every service, composed once (createComponents). Routes call services only: `store` is here for
 * the composition root, the demo loader and tests, never for `http/` (e2e/layering.test.ts).
 */
export interface Components {
  config: Readonly<ServerConfig>;
  /** The structured log (pino); silent unless the caller passes one. */
  log: Logger;
  store: Store;
  tenants: TenantService;
  /** Reading and checking the audit (the writer is `audit`). */
  auditLog: AuditService;
  /** A candidate policy version decided again on the recorded decisions (nothing audited). */
  replay: ReplayService;
  /** Signed checkpoints of the audit chains (made on request and every `auditCheckpointIntervalMs`). */
  auditCheckpoints: AuditCheckpoints;
  bundles: BundleService;
  clients: ClientService;
  tokenEndpoint: TokenEndpoint;
  gateway: GatewayDecider;
  readiness: ReadinessCheck;
  engine: Engine;
  policies: PolicyService;
  entities: EntityService;
  decisions: DecisionService;
  search: SearchService;
  credentials: CredentialService;
  admin: AdminAuthorizer;
  audit: AuditWriter;
  changes: ChangeFeed;
  /** How fresh this replica's view is (the staleness bound decisions and /readyz are held to). */
  freshness: Freshness;
  identity: IdentityService;
  tokens: TokenServices;
  /** Data-tier receipt keys and the minting of receipts on allow. */
  receipts: ReceiptService;
  /** Workload identity: each tenant's CA and trust bundle, registrations, the deny list, SVIDs. */
  workloads: WorkloadService;
  /** Device trust: registered devices, their posture, and the risk engine's device signal. */
  devices: DeviceService;
  /** Shared Signals receiver (SSF/CAEP): the tenant's transmitters and their pushed SETs. */
  ssf: SsfReceiver;
  /** Shared Signals transmitter: the tenant's receivers, sent its revocations as SETs. */
  ssfTransmitter: SsfTransmitter;
  /** Assurance levels from CAEP assurance-level-change events, per (tenant, subject), in memory. */
  assurance: AssuranceService;
  /** IP reputation: the tenants' imported threat lists, and the risk engine's `maliciousIp` signal. */
  threatLists: ThreatListService;
  /** Per-subject signals (impossible travel, rate and behaviour): memory per replica, flushed to the store. */
  activity: ActivityService;
  /** Prometheus metrics of this server (`GET /metrics`). */
  metrics: Metrics;
}

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

/** Build every service from the config and an open database (its migrations run here). */
export async function createComponents(
  config: Readonly<ServerConfig>,
  db: Database,
  options: { onAuditError?: (error: unknown, pending: number) => void; print?: (line: string) => void; log?: Logger } = {},
): Promise<Components> {
  const print = options.print ?? (() => {});
  const log = options.log ?? createLogger({ level: 'silent' });
  const metrics = createMetrics();
  // The change feed below keeps `db` itself: its listener is not an operation to time.
  const store = await createStore(timedDatabase(db, metrics.storeOperation));
  // One engine per process (its threads are shared by every server in it, as in tests).
  const engine = sharedCedarEngine();
  const writer = createAuditWriter(store, {
    durability: config.auditDurability,
    maxLagMs: config.maxAuditLagMs,
    flushMs: config.auditFlushMs,
    batchSize: config.auditBatchSize,
    maxQueue: config.auditMaxQueue,
    ...(options.onAuditError ? { onError: options.onAuditError } : {}),
  });
  // Every decision this server makes (PDP, gateway, admin, refused credentials) is enqueued here:
  // the one place to count them.
  const audit: AuditWriter = {
    ...writer,
    enqueue(record) {
      metrics.decision(record, 'pdp');
      traceDecision(record);
      return writer.enqueue(record);
    },
  };
  // The feed is started first so the services can publish through it; what it invalidates is
  // looked up when a change arrives (a notification may come before both services exist).
  // PGlite is one process holding the data folder (a lock file): every write goes through this
  // process and invalidates its caches synchronously, so its view is fresh by construction and
  // needs no heartbeat. PostgreSQL replicas, and the worker processes of one server sharing its
  // PGlite through the primary (`db.shared`), bound their staleness with the feed's heartbeat.
  const freshness = createFreshness({ maxStalenessMs: db.kind === 'postgres' || db.shared === true ? config.maxStalenessMs : Infinity });
  const caches: { policies?: PolicyService; entities?: EntityService; identity?: IdentityService; credentials?: CredentialService; workloads?: WorkloadService; devices?: DeviceService; assurance?: AssuranceService; threatLists?: ThreatListService; activity?: ActivityService } = {};
  const feed = await startChangeFeed(db, {
    // Returns once the change is applied: what it makes stale is dropped at once, and the
    // views read again are held (a publish, and a barrier between workers, wait for that).
    onChange: ({ tenant, kind }) => {
      // A deleted tenant: every view of it goes (the kinds below, all at once).
      const deleted = kind === 'tenant';
      // Settings travel with the active policy (type mapping, routes, request validation) and
      // feed the tenant's own token-service source (its principal type).
      if (kind === 'policy' || kind === 'settings' || deleted) caches.policies?.invalidate(tenant);
      if (kind === 'entities' || deleted) caches.entities?.invalidate(tenant);
      if (kind === 'credentials' || deleted) caches.credentials?.invalidate();
      if (kind === 'activity' || deleted) caches.activity?.onChange(tenant);
      return Promise.all([
        kind === 'identity' || kind === 'settings' || deleted ? caches.identity?.onChange(tenant, 'identity') : undefined,
        kind === 'revocation' || deleted ? caches.identity?.onChange(tenant, 'revocation') : undefined,
        kind === 'workload' || kind === 'settings' || deleted ? caches.workloads?.onChange(tenant, kind) : undefined,
        kind === 'device' || deleted ? caches.devices?.onChange(tenant) : undefined,
        kind === 'assurance' || deleted ? caches.assurance?.onChange(tenant) : undefined,
        kind === 'threat' || deleted ? caches.threatLists?.onChange(tenant) : undefined,
      ]);
    },
    onResync: () => {
      caches.policies?.invalidateAll();
      caches.entities?.invalidateAll();
      caches.credentials?.invalidate();
      void caches.identity?.reloadAll();
      caches.workloads?.onResync();
      caches.devices?.onResync();
      caches.assurance?.onResync();
      caches.threatLists?.onResync();
      caches.activity?.onResync();
    },
  }, {
    freshness,
    onListenerReset: (silentMs) => log.warn({ silentMs }, 'change feed heartbeat did not come back: reconnecting the listener (caches are dropped on reconnect)'),
  });
  const policies = (caches.policies = createPolicyService(store, engine, {
    publish: feed.publish,
    onLoad: (tenant) => caches.entities?.invalidate(tenant),
    onPrepared: (tenant, version, evaluator) => {
      if (evaluator.kind === 'cedar-wasm') log.info({ tenant, version, reason: evaluator.reason }, 'this policy version is decided by cedar-wasm: the compiled evaluator does not take it');
    },
  }));
  const entities = (caches.entities = createEntityService(store, engine, policies, { publish: feed.publish }));
  // A SPIFFE id is registered (and so denied) only by the tenant that owns its trust domain, so a
  // decision of any tenant refuses a caller its owner deregistered (a platform workload calling
  // into tenants' services included). Until the workload service exists nothing is denied yet.
  const denyList = { isDenied: (_tenant: string, spiffeId: string) => caches.workloads?.registry.isDeniedAnywhere(spiffeId) ?? false };
  const devices = (caches.devices = createDeviceService({
    store,
    publish: feed.publish,
    onReloadError: (error) => log.error({ err: error }, "a tenant's devices could not be read again (read at its next decision)"),
  }));
  const assurance = (caches.assurance = await createAssuranceService({
    store,
    publish: feed.publish,
    onReloadError: (error) => log.error({ err: error }, "a tenant's assurance levels could not be read again (read at the next change)"),
  }));
  const threatLists = (caches.threatLists = createThreatListService({
    store,
    publish: feed.publish,
    onReloadError: (error) => log.error({ err: error }, "a tenant's threat lists could not be read again (read at its next decision)"),
  }));
  // The operator's MaxMind database, read once now (a start-up error when it is not one).
  const geoip = config.geoipDb === null ? undefined : openMaxmindResolver(config.geoipDb);
  if (geoip !== undefined) log.info({ databaseType: geoip.databaseType }, 'locating client IPs with the MaxMind database');
  const activity = (caches.activity = createActivityService({
    store,
    publish: feed.publish,
    onError: (error) => log.error({ err: error }, 'per-subject activity could not be written, read again or swept (the signals are best effort)'),
  }));
  const decisions = createDecisionService({ engine, policies, entities, audit, freshness, workloads: denyList, devices, assurance, threats: threatLists, activity, ...(geoip === undefined ? {} : { locate: (address) => geoip.locate(address) }) });
  const search = createSearchService(store, policies, decisions);
  const credentials = (caches.credentials = createCredentialService(store, { publish: () => feed.publish({ tenant: SYSTEM_TENANT, kind: 'credentials' }) }));
  if (config.allowInsecureIdentitySources) {
    print('verity: WARNING --allow-insecure-identity-sources: identity sources may be fetched over http and from loopback or private addresses (development only)');
  }
  const box = createSecretBox(await resolveMasterKey(config, print));
  const sourceFetch = createSourceFetch({ allowInsecure: config.allowInsecureIdentitySources });
  const tokens = createTokenServices({ store, box, sourceFetch });
  const ownIdentity = (caches.identity = await createIdentityService({ store, audit, publish: feed.publish, tokens, allowInsecureSources: config.allowInsecureIdentitySources, onTokenVerified: metrics.tokenVerification }));
  const ssfTransmitter = createSsfTransmitter({
    store,
    ring: (tenant) => tokens.ring(tenant),
    issuerUrl: (tenant) => tokens.issuerUrl(tenant),
    fetch: sourceFetch,
    allowInsecure: config.allowInsecureIdentitySources,
    onDelivery: (report) => {
      if (report.outcome === 'delivered') log.debug(report, 'SSF event delivered');
      else log.warn(report, 'SSF event not delivered');
    },
  });
  // A revocation made through this replica (admin API, OAuth revocation) is sent to the tenant's
  // SSF receivers by this replica alone; one received as a SET is not echoed (the SSF receiver
  // revokes through ownIdentity).
  const identity: IdentityService = {
    ...ownIdentity,
    async revoke(tenant, input) {
      await ownIdentity.revoke(tenant, input);
      ssfTransmitter.emitRevocation(tenant, input);
    },
  };
  const ssf = createSsfReceiver({
    store,
    identity: ownIdentity,
    devices,
    assurance,
    audit,
    baseUrl: () => tokens.baseUrl(),
    issuerUrl: (tenant) => tokens.issuerUrl(tenant),
    keys: createKeyResolver({ fetch: sourceFetch }),
    allowInsecure: config.allowInsecureIdentitySources,
  });
  const workloads = (caches.workloads = await createWorkloadService({
    store,
    box,
    audit,
    publish: feed.publish,
    sourceFetch,
    baseUrl: () => tokens.baseUrl(),
    defaultTrustDomain: config.trustDomain,
    onReloadError: (error) => log.error({ err: error }, 'a workload deny list could not be read again (retried at the next change)'),
  }));
  const admin = createAdminAuthorizer({ decisions, audit, policies, freshness });
  await ensureSystemTenant(store, policies);
  metrics.watch({
    audit,
    freshness,
    engine,
    caches: { token: () => ownIdentity.tokenCacheStats(), credential: () => credentials.cacheStats(), entity: () => entities.cacheStats() },
  });
  const auditLog = createAuditService(store, audit, { onIngested: (records) => records.forEach((record) => metrics.decision(record, 'pep')) });
  return {
    config,
    log,
    store,
    engine,
    tenants: createTenantService(store, { publish: feed.publish, audit, systemTenant: SYSTEM_TENANT, deploymentTrustDomain: config.trustDomain, deletionAudit: config.tenantDeletionAudit }),
    policies,
    entities,
    decisions,
    search,
    credentials,
    admin,
    audit,
    auditLog,
    replay: createReplayService({ engine, policies, entities, auditLog }),
    auditCheckpoints: createAuditCheckpoints({ store, writer: audit, box }),
    bundles: createBundleService({ store, policies, freshness, identity, tokens, box, ttlSec: config.bundleTtlSec, pdpLocatesIps: geoip !== undefined }),
    clients: createClientService(store, { publish: feed.publish }),
    tokenEndpoint: createTokenEndpoint({
      store,
      tokens,
      identity,
      decisions,
      audit,
      // Txn-Tokens go only to workloads that prove themselves with a JWT-SVID of the tenant.
      verifyWorkloadAssertion: (tenant, assertion, audience) => workloads.verifyJwtSvid(tenant, assertion, audience),
      trustDomainOf: (tenant) => workloads.trustDomainOf(tenant),
    }),
    gateway: createGatewayDecider({ decisions, policies, audit }),
    readiness: createReadinessCheck(engine, store, audit, freshness),
    identity,
    tokens,
    receipts: createReceiptService({ store, box, issuerUrl: tokens.issuerUrl, maxTtlSec: config.receiptTtlSec }),
    changes: feed,
    freshness,
    workloads,
    devices,
    ssf,
    ssfTransmitter,
    assurance,
    threatLists,
    activity,
    metrics,
  };
}
