/** Start the PDP: lock the data folder, open the store, compose services, bootstrap credentials, listen. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { resolveConfig, type ServerConfig } from './config.js';
import { openDatabase } from './open-database.js';
import { createComponents } from './components.js';
import { scheduleAuditCheckpoints } from './audit-checkpoints.js';
import { startTracing } from './tracing.js';
import { buildApp } from './http/app.js';
import { listenWhileStarting, type StartupListener } from './startup-listener.js';
import { ensureDemoTenant } from './demo.js';
import { lockDataFolder, type DataFolderLock } from './data-folder-lock.js';
import { createLogger, withoutPassword, type Logger } from './logger.js';
import { publicBaseUrl } from './public-url.js';
import type { Components } from './components.js';
import { buildDecisionRecord, isVerityError } from '@verity/core';
import type { Database } from '@verity/store';
import { BOOTSTRAP_CREDENTIAL_ID, type BootstrapOutcome } from './admin/credentials.js';
import { SYSTEM_TENANT } from './admin/system-tenant.js';
import { recoverAuditSpool } from './audit-spool.js';
import { stopWithDeadline, type CloseOptions, type StopOutcome } from './graceful-stop.js';

export interface StartServerOptions extends Partial<ServerConfig> {
  /** Where to say things an operator must see once (the generated admin token). Default: stdout. */
  print?: (line: string) => void;
  /** Where the JSON log goes (default stdout); tests pass a stream to read or keep it quiet. */
  logStream?: DestinationStream;
  /** Aborting it ends a start that is still waiting for the store (SIGTERM during start-up). */
  signal?: AbortSignal;
  /**
   * A database opened by the caller (a worker of `verity serve --workers N` reaching the
   * primary's, shared-database.ts): used instead of opening one from the configuration, and no
   * data-folder lock is taken (the primary holds it). Closed with the server.
   */
  database?: Database;
}

/**
 * How long a start waits for an unreachable store before it gives up (ms): a replica started
 * during a database outage keeps answering /healthz (and 503 ERR_STARTING) and comes up when
 * the database returns, instead of exiting into an orchestrator's crash-loop backoff.
 */
export const STORE_STARTUP_WAIT_MS = 300_000;

/**
 * Wait until the store answers, retrying ERR_STORE_UNAVAILABLE with backoff (100 ms doubling to
 * 5 s) for at most `withinMs`; other errors (a wrong password, a bad database name) fail at once.
 */
async function waitForStore(db: Database, log: Logger, withinMs: number, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + withinMs;
  let delay = 100;
  for (;;) {
    try {
      await db.query('SELECT 1');
      return;
    } catch (error) {
      if (!isVerityError(error) || error.code !== 'ERR_STORE_UNAVAILABLE' || Date.now() + delay > deadline || signal?.aborted === true) throw error;
      log.warn({ retryInMs: delay }, 'the store is unavailable at start; retrying (meanwhile /healthz answers and everything else 503 ERR_STARTING)');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      delay = Math.min(delay * 2, 5000);
    }
  }
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  components: Components;
  /** The generated bootstrap token, when this start created one. */
  bootstrapToken: string | null;
  /**
   * Stop within `deadlineMs` (default `shutdownTimeoutMs`): stop accepting, finish in-flight
   * requests, write the audit, close the store. Never rejects; resolves with the number of audit
   * records not written to the store and the spool file that holds them (null: none, or lost).
   */
  close(options?: CloseOptions): Promise<StopOutcome>;
}

/**
 * A bootstrap credential created or replaced at start (a new or changed VERITY_ADMIN_TOKEN) is
 * an admin change made by whoever controls the environment: audited in `_system`, and logged.
 */
async function auditBootstrap(c: Components, outcome: BootstrapOutcome): Promise<void> {
  if (outcome === 'revoked-kept') c.log.warn({ credential: BOOTSTRAP_CREDENTIAL_ID }, 'VERITY_ADMIN_TOKEN names the bootstrap credential, which was revoked: it stays revoked; set a new token to replace it');
  if (outcome !== 'created' && outcome !== 'replaced' && outcome !== 'generated') return;
  const message = outcome === 'replaced' ? 'VERITY_ADMIN_TOKEN changed: the bootstrap platform-admin credential now holds the new token; the old one no longer works' : 'created the bootstrap platform-admin credential';
  (outcome === 'replaced' ? c.log.warn : c.log.info).call(c.log, { credential: BOOTSTRAP_CREDENTIAL_ID, outcome }, message);
  const backpressure = c.audit.enqueue(
    buildDecisionRecord({
      tenant: SYSTEM_TENANT,
      principal: { type: 'Verity::Credential', id: 'environment' },
      action: { type: 'Verity::Action', id: outcome === 'replaced' ? 'credential.rotate' : 'credential.create' },
      resource: { type: 'Verity::Credential', id: BOOTSTRAP_CREDENTIAL_ID },
      decision: 'allow',
      reasons: [],
      errors: [],
      // No policy decided this: the environment (VERITY_ADMIN_TOKEN) did, at start.
      policyVersion: 0,
      meta: { requestId: null, tier: null },
      time: Date.now(),
      latencyUs: 0,
    }),
  );
  if (backpressure) await backpressure;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const { print = (line: string) => process.stdout.write(`${line}\n`), logStream, signal, database: given, ...input } = options;
  const config = resolveConfig(input);
  const log = createLogger({ level: config.logLevel, ...(logStream === undefined ? {} : { stream: logStream }) });
  // Before the database opens: a second PGlite process on the folder would corrupt it.
  const lock: DataFolderLock | null = given === undefined && config.databaseUrl === null && config.dataDir !== null ? await lockDataFolder(config.dataDir) : null;
  let db;
  let app: FastifyInstance | undefined;
  let startup: StartupListener | undefined;
  try {
    // Fastify requires its schema compilers (ajv, …) when an instance is made: ~100 ms of
    // synchronous loading, paid here before the port answers rather than while it must.
    await Fastify().close();
    // The port answers /healthz (and 503 ERR_STARTING) while the store opens, migrates and loads.
    startup = await listenWhileStarting({ port: config.port, host: config.host });
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${startup.port}`;
    db = given ?? (await openDatabase(config));
    await waitForStore(db, log, STORE_STARTUP_WAIT_MS, signal);
    const components = await createComponents(config, db, {
      print,
      log,
      onAuditError: (error, pending) => log.error({ err: error, pending }, 'audit write failed; records held, will retry'),
    });
    // Audit spool: what the last stop could not write goes in before any decision is answered.
    if (config.auditSpoolDir !== null) {
      const recovered = await recoverAuditSpool(config.auditSpoolDir, components.store, config.auditBatchSize);
      if (recovered.files > 0) log.warn({ ...recovered, dir: config.auditSpoolDir }, 'appended spooled audit records from an earlier stop');
    }
    const { generatedToken, outcome } = await components.credentials.bootstrap(config.adminToken);
    await auditBootstrap(components, outcome);
    if (generatedToken) {
      print('verity: created the bootstrap platform-admin credential. It is shown once; keep it safe:');
      print(`  VERITY_ADMIN_TOKEN=${generatedToken}`);
    }
    if (config.demo && (await ensureDemoTenant(components, config.defaultTenant))) print(`verity: loaded the demo tenant "${config.defaultTenant}"`);
    components.tokens.setBaseUrl(publicBaseUrl(config, url));
    const tracing = await startTracing();
    app = await buildApp(components, { serverFactory: startup.serverFactory, tracing });
    // Fastify closes a server it was handed only if it listened itself: closing the app closes this one.
    const listener = startup;
    app.addHook('onClose', () => listener.close());
    await app.ready();
    startup.handOver();
    log.info(
      {
        listen: url,
        publicUrl: publicBaseUrl(config, url),
        store: config.databaseUrl !== null ? withoutPassword(config.databaseUrl) : (config.dataDir ?? 'in-memory'),
        defaultTenant: config.defaultTenant,
        decisionAuth: config.decisionAuth,
        trustProxy: config.trustProxy,
        allowInsecureIdentitySources: config.allowInsecureIdentitySources,
        // Whether they are configured, never their values.
        adminTokenFromEnv: config.adminToken !== null,
        masterKeyFromEnv: config.masterKey !== null,
      },
      'verity started',
    );
    const running = app;
    const database = db;
    const checkpoints = scheduleAuditCheckpoints(components.auditCheckpoints, config.auditCheckpointIntervalMs, (error) => log.error({ err: error }, 'audit checkpoint failed (will retry)'));
    return {
      url,
      app: running,
      components,
      bootstrapToken: generatedToken,
      async close(options = {}) {
        // The spans' export is background work of the stop, bounded by its deadline like the
        // rest: a collector that does not answer cannot hold the stop (unexported spans are dropped).
        const outcome = await stopWithDeadline(
          {
            http: running,
            background: [{ close: () => checkpoints.stop() }, { close: () => components.activity.stop() }, components.changes, { close: () => tracing.flush() }],
            audit: components.audit,
            spoolDir: config.auditSpoolDir,
            database,
            lock,
            log,
          },
          options.deadlineMs ?? config.shutdownTimeoutMs,
        );
        log.info(outcome, 'verity stopped');
        return outcome;
      },
    };
  } catch (error) {
    await app?.close();
    await startup?.close();
    await db?.close();
    await lock?.release();
    throw error;
  }
}
