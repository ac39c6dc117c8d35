/**
 * `verity serve --workers N`: one server on every core. The primary process holds the data
 * folder's lock and the database (PGlite, in the folder or in memory) and relays it to the
 * workers (shared-database.ts); it answers no request itself. Each worker process is a whole
 * Verity server (startServer) on the same port, the kernel's connections shared out by Node's
 * `cluster` (round robin). With PostgreSQL every worker opens its own pool, like a replica.
 *
 * Consistency between workers is that of replicas, made tighter: every write publishes its
 * change (NOTIFY through the shared database) and returns only once every other worker has
 * handled it (`Database.barrier`), and each worker's view is bounded by the change feed's
 * heartbeat (`maxStalenessMs`, fail closed past it). A worker that dies is detached (its open
 * transactions rolled back, its listeners dropped) and started again, with backoff.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateMasterKey } from '@verity/identity';
import { createDatabaseRelay, type Database, type DatabaseRelay } from '@verity/store';
import { resolveConfig } from './config.js';
import { lockDataFolder, type DataFolderLock } from './data-folder-lock.js';
import { renderAggregate, type MetricSnapshot } from './metrics.js';
import type { StopOutcome } from './graceful-stop.js';
import { createLogger, type Logger } from './logger.js';
import { openDatabase } from './open-database.js';
import type { StartServerOptions } from './start-server.js';

/** The worker process's entry (it runs startServer over the shared database): `.ts` beside the sources, `.js` built. */
const WORKER_ENTRY = fileURLToPath(new URL(`./cluster-worker${extname(import.meta.url)}`, import.meta.url));

/** First restart delay of a worker that died (ms), doubling per quick death up to RESTART_MAX_MS. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long (ms) before dying restarts after RESTART_MIN_MS again. */
const RESTART_RESET_AFTER_MS = 60_000;
/** Past the stop deadline, how long (ms) a worker gets to exit before it is killed. */
const STOP_GRACE_MS = 2000;

export interface StartClusterOptions extends Omit<StartServerOptions, 'database' | 'logStream' | 'print'> {
  /** Worker processes, ≥ 1 (the CLI's `--workers auto` is `os.availableParallelism()`). */
  workers: number;
  /** Node flags the workers need beyond this process's (the CLI passes its TypeScript loader). */
  execArgv?: string[];
  /** Where the JSON logs of every process (and the one-time notices) go. Default stdout. */
  logTo?: 'stdout' | 'stderr';
}

export interface RunningCluster {
  url: string;
  /** The worker processes' ids, as they are now (one restarted gets a new one). */
  pids(): number[];
  /**
   * Stop every worker within `deadlineMs` (default `shutdownTimeoutMs`; each finishes its
   * requests and writes its audit), then close the database and release the lock. Resolves with
   * the audit records not written, summed over the workers, and one spool file among theirs.
   */
  close(options?: { deadlineMs?: number }): Promise<StopOutcome>;
}

export type WorkerOptions = Omit<StartClusterOptions, 'workers' | 'execArgv' | 'signal'>;

/** Primary → worker. */
export type ClusterCommand =
  | { verityCluster: 'start'; options: WorkerOptions; kind: Database['kind'] | null }
  | { verityCluster: 'stop'; deadlineMs: number }
  /** Send this worker's metrics snapshot back under `id`. */
  | { verityCluster: 'metrics-collect'; id: number }
  /** Every worker's metrics added up, for the worker's request `id`. */
  | { verityCluster: 'metrics-answer'; id: number; text: string };
/** Worker → primary. */
export type ClusterReport =
  | { verityCluster: 'waiting' }
  | { verityCluster: 'ready'; url: string }
  | { verityCluster: 'failed'; message: string }
  | { verityCluster: 'stopped'; outcome: StopOutcome }
  /** A scrape reached this worker: answer every worker's metrics added up. */
  | { verityCluster: 'metrics-request'; id: number }
  | { verityCluster: 'metrics'; id: number; snapshot: MetricSnapshot };

/**
 * How long the primary waits for the workers' metrics snapshots (ms); a worker that has not
 * answered by then (busy, or dying) is left out of that scrape's sum.
 */
const METRICS_COLLECT_MS = 2000;

function isReport(message: unknown): message is ClusterReport {
  return typeof message === 'object' && message !== null && typeof (message as { verityCluster?: unknown }).verityCluster === 'string';
}

/**
 * Start the primary and `workers` worker processes; resolves once every worker listens. Throws
 * what the first worker's start threw (a configuration or store error) after stopping the rest.
 * Call it only from a process that is the cluster's primary.
 */
export async function startCluster(options: StartClusterOptions): Promise<RunningCluster> {
  const { workers, execArgv = [], logTo = 'stdout', signal, ...serverOptions } = options;
  if (!Number.isInteger(workers) || workers < 1) throw new TypeError(`workers must be a whole number ≥ 1, got ${workers}`);
  if (!cluster.isPrimary) throw new Error('startCluster runs in the primary process only');
  const config = resolveConfig(serverOptions);
  const log = createLogger({ level: config.logLevel, ...(logTo === 'stderr' ? { stream: process.stderr } : {}) }).child({ process: 'primary' });
  // As a single server does, before the database opens: a second PGlite process would corrupt the folder.
  const lock: DataFolderLock | null = config.databaseUrl === null && config.dataDir !== null ? await lockDataFolder(config.dataDir) : null;
  let db: Database | null = null;
  try {
    db = config.databaseUrl === null ? await openDatabase(config) : null;
    const relay = db === null ? null : createDatabaseRelay(db);
    // One master key for every worker: without one configured and no data folder to keep its key
    // file beside, each worker would seal the token-signing keys under a key of its own, and
    // none could open another's (500s on its JWKS). Replaced at every restart, as for one process.
    if (config.masterKey === null && (config.databaseUrl !== null || config.dataDir === null)) {
      if (config.databaseUrl !== null) log.warn('no VERITY_MASTER_KEY: token-signing keys are sealed with a key of this start, shared by its workers, and replaced at every restart');
      serverOptions.masterKey = generateMasterKey();
    }
    // Port 0: one free port for every worker, chosen now. Node's cluster closes the shared
    // listening socket with the last worker; workers started after all had died must bind the same port.
    if (config.port === 0) serverOptions.port = await freePort(config.host);
    cluster.setupPrimary({ exec: WORKER_ENTRY, execArgv: [...process.execArgv, ...execArgv], serialization: 'advanced' });
    const supervisor = createSupervisor({ relay, kind: db?.kind ?? null, options: { ...serverOptions, logTo }, log });
    const aborted = (): void => void supervisor.stop(config.shutdownTimeoutMs);
    signal?.addEventListener('abort', aborted, { once: true });
    try {
      // The first worker alone: it migrates the store, creates the bootstrap credential and the demo tenant once.
      const url = await supervisor.add();
      await Promise.all(Array.from({ length: workers - 1 }, () => supervisor.add()));
      log.info({ listen: url, workers }, 'verity started on every worker');
      const database = db;
      return {
        url,
        pids: () => supervisor.pids(),
        async close(closeOptions = {}) {
          signal?.removeEventListener('abort', aborted);
          const outcome = await supervisor.stop(closeOptions.deadlineMs ?? config.shutdownTimeoutMs);
          await database?.close();
          await lock?.release();
          log.info(outcome, 'verity stopped');
          return outcome;
        },
      };
    } catch (error) {
      await supervisor.stop(config.shutdownTimeoutMs);
      throw error;
    }
  } catch (error) {
    await db?.close();
    await lock?.release();
    throw error;
  }
}

/** A port free on `host` now (the kernel's pick for port 0). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host }, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

interface Supervisor {
  /** Fork a worker; resolves with its URL once it listens, rejects if it fails or dies first. */
  add(replacement?: boolean): Promise<string>;
  pids(): number[];
  stop(deadlineMs: number): Promise<StopOutcome>;
}

function createSupervisor(setup: { relay: DatabaseRelay | null; kind: Database['kind'] | null; options: WorkerOptions; log: Logger }): Supervisor {
  const { relay, kind, options, log } = setup;
  /** `greeted`: the worker listens for commands (one sent before is lost). */
  const live = new Map<Worker, { outcome: Promise<StopOutcome>; greeted: boolean; ready: boolean }>();
  /** Scrapes being added up: what each ready worker sent, by collection id. */
  const collections = new Map<number, (snapshot: MetricSnapshot) => void>();
  let nextCollection = 0;
  /** Ask every ready worker for its metrics and add them up (a scrape reached one of them). */
  const aggregateMetrics = async (): Promise<string> => {
    const workers = [...live.entries()].filter(([, entry]) => entry.ready).map(([worker]) => worker);
    const id = ++nextCollection;
    const snapshots: MetricSnapshot[] = [];
    await new Promise<void>((done) => {
      const timer = setTimeout(done, METRICS_COLLECT_MS);
      collections.set(id, (snapshot) => {
        snapshots.push(snapshot);
        if (snapshots.length === workers.length) {
          clearTimeout(timer);
          done();
        }
      });
      for (const worker of workers) {
        try {
          worker.send({ verityCluster: 'metrics-collect', id } satisfies ClusterCommand as never);
        } catch {
          // Gone: left out of this scrape.
        }
      }
    });
    collections.delete(id);
    return renderAggregate(snapshots);
  };
  let stopping: Promise<StopOutcome> | null = null;
  let stopDeadlineMs = 0;
  let restartDelay = RESTART_MIN_MS;
  /** Restarts waiting out their backoff. They keep the primary alive meanwhile (every worker may be gone); a stop cancels them. */
  const restarts = new Set<NodeJS.Timeout>();

  /** `replacement`: started in place of one that died; if it dies too, even before it listens, another follows. */
  const add = (replacement = false): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const worker = cluster.fork();
      // A message to a worker that just died fails with EPIPE as an event: its 'exit' handles the death.
      worker.on('error', (error) => log.debug({ err: error, pid: worker.process.pid }, 'a message to a worker failed'));
      const startedAt = Date.now();
      let ready = false;
      const detach = relay?.attach({
        send: (message) => void worker.send(message as never),
        onMessage: (handler) => {
          worker.on('message', handler);
          return () => void worker.off('message', handler);
        },
      });
      let reportStopped: (outcome: StopOutcome) => void = () => {};
      const outcome = new Promise<StopOutcome>((done) => (reportStopped = done));
      const entry = { outcome, greeted: false, ready: false };
      live.set(worker, entry);
      worker.on('message', (message: unknown) => {
        if (!isReport(message)) return;
        // A message sent before the worker's module has loaded would be dropped: it says when it listens.
        if (message.verityCluster === 'waiting') {
          entry.greeted = true;
          // Stopping meanwhile: the stop sent to the others was not sent to this one.
          const command: ClusterCommand = stopping === null ? { verityCluster: 'start', options, kind } : { verityCluster: 'stop', deadlineMs: stopDeadlineMs };
          worker.send(command as never);
        } else if (message.verityCluster === 'ready') {
          ready = entry.ready = true;

          resolve(message.url);
        } else if (message.verityCluster === 'failed') {
          reject(new Error(message.message));
        } else if (message.verityCluster === 'metrics') {
          collections.get(message.id)?.(message.snapshot);
        } else if (message.verityCluster === 'metrics-request') {
          void aggregateMetrics().then(
            (text) => {
              if (worker.isConnected()) worker.send({ verityCluster: 'metrics-answer', id: message.id, text } satisfies ClusterCommand as never);
            },
            (error: unknown) => log.error({ err: error }, 'the workers\' metrics could not be added up'),
          );
        } else {
          reportStopped(message.outcome);
        }
      });
      worker.once('exit', (code, signal) => {
        void detach?.();
        live.delete(worker);
        // A worker gone without reporting: what it held in memory is not known to be written.
        if (stopping !== null && code !== 0) log.warn({ pid: worker.process.pid, code, signal }, 'a worker exited while stopping');
        reportStopped({ unwritten: code === 0 ? 0 : -1, spooled: null });
        if (!ready) reject(new Error(`a worker exited (${signal ?? code}) before it listened`));
        // A first worker that fails to start fails the start (startCluster reports it); a stop ends it all.
        if (stopping !== null || (!ready && !replacement)) return;
        if (Date.now() - startedAt > RESTART_RESET_AFTER_MS) restartDelay = RESTART_MIN_MS;
        log.error({ pid: worker.process.pid, code, signal, restartInMs: restartDelay }, ready ? 'a worker process died; starting another' : 'a restarted worker died before it listened; starting another');
        const delay = restartDelay;
        restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
        const timer = setTimeout(() => {
          restarts.delete(timer);
          // Its own exit, if it dies too, schedules the next.
          if (stopping === null) add(true).catch(() => {});
        }, delay);
        restarts.add(timer);
      });
    });

  return {
    add,
    pids: () => [...live.keys()].map((worker) => worker.process.pid ?? 0),
    stop(deadlineMs) {
      if (stopping === null) stopDeadlineMs = deadlineMs;
      for (const timer of restarts) clearTimeout(timer);
      restarts.clear();
      stopping ??= (async () => {
        const workers = [...live.entries()];
        for (const [worker, { greeted }] of workers) {
          if (!greeted) continue; // told when it greets
          try {
            worker.send({ verityCluster: 'stop', deadlineMs } satisfies ClusterCommand as never);
          } catch {
            // Already gone: its exit reports it.
          }
        }
        const kill = setTimeout(() => {
          for (const [worker] of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
        }, deadlineMs + STOP_GRACE_MS);
        const outcomes = await Promise.all(
          workers.map(async ([worker, { outcome }]) => {
            const stopped = await outcome;
            if (stopped.unwritten !== 0) log.error({ pid: worker.process.pid, unwritten: stopped.unwritten < 0 ? 'unknown (it died)' : stopped.unwritten, spooled: stopped.spooled }, 'a worker stopped with audit records not written to the store');
            return stopped;
          }),
        );
        await Promise.all(workers.map(([worker]) => (worker.isDead() ? undefined : new Promise((exited) => worker.once('exit', exited)))));
        clearTimeout(kill);
        // -1: a worker that died with its records unknown; counted as one unwritten, so the stop is not called clean.
        const unwritten = outcomes.reduce((sum, outcome) => sum + (outcome.unwritten < 0 ? 1 : outcome.unwritten), 0);
        return { unwritten, spooled: outcomes.find((outcome) => outcome.spooled !== null)?.spooled ?? null };
      })();
      return stopping;
    },
  };
}
