/**
 * `verity serve` as a real child process, for fault-injection tests and `npm run chaos`:
 * started, probed, signalled (SIGKILL, SIGTERM) and restarted like an orchestrator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, createClient, testLogStream, type Client } from './verity.js';

const CLI = fileURLToPath(new URL('../../packages/cli/bin/verity.mjs', import.meta.url));
/** How much of a child's stderr/stdout is kept in memory (the tail; the whole goes to the test log). */
const KEEP_CHARS = 64 * 1024;

/**
 * Server settings of issue 9, passed as their environment variables (`VERITY_*`), so a server
 * that does not know a setting yet still starts and the test fails on what it asserts.
 * Milliseconds unless named otherwise.
 */
export interface ReplicaSettings {
  shutdownTimeoutMs?: number;
  maxStalenessMs?: number;
  maxInflightRequests?: number;
  requestTimeoutMs?: number;
  storeTimeoutMs?: number;
  auditSpoolDir?: string;
  auditDurability?: 'durable' | 'batched';
  maxAuditLagMs?: number;
}

const SETTING_ENV: Record<keyof ReplicaSettings, string> = {
  shutdownTimeoutMs: 'VERITY_SHUTDOWN_TIMEOUT_MS',
  maxStalenessMs: 'VERITY_MAX_STALENESS_MS',
  maxInflightRequests: 'VERITY_MAX_INFLIGHT',
  requestTimeoutMs: 'VERITY_REQUEST_TIMEOUT_MS',
  storeTimeoutMs: 'VERITY_STORE_TIMEOUT_MS',
  auditSpoolDir: 'VERITY_AUDIT_SPOOL',
  auditDurability: 'VERITY_AUDIT_DURABILITY',
  maxAuditLagMs: 'VERITY_MAX_AUDIT_LAG_MS',
};

export interface ReplicaOptions {
  /** Label in records and messages, e.g. 'A'. */
  name: string;
  /** PostgreSQL URL (possibly through a fault proxy), or … */
  databaseUrl?: string;
  /** … a PGlite data folder. Exactly one of the two. */
  dataDir?: string;
  settings?: ReplicaSettings;
  /** How long start-up may take before it counts as failed (ms, default 60,000). */
  startTimeoutMs?: number;
}

/** How a child ended: its exit code, or the signal that ended it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the exit was seen. */
  at: number;
}

export interface Replica {
  readonly name: string;
  /** Base URL of the current process (changes on restart: each start takes a free port). */
  readonly url: string;
  readonly pid: number;
  /** Admin client of the current process (platform-admin bearer token). */
  readonly admin: Client;
  /** Null while the current process runs. */
  readonly exit: ExitStatus | null;
  /** Tail of the current process's stderr (its JSON log with --json) and stdout. */
  stderr(): string;
  stdout(): string;
  /** Send a signal to the current process (no-op once it exited). */
  kill(signal: NodeJS.Signals): void;
  /** Wait at most `withinMs` for the current process to exit; null when it still runs. */
  waitForExit(withinMs: number): Promise<ExitStatus | null>;
  /** Start a new process with the same options (the previous one must have exited). */
  restart(): Promise<void>;
  /** SIGKILL the current process if it still runs and wait for it (teardown). */
  destroy(): Promise<void>;
}

/** Every child started here and not yet exited: killed on teardown and when this process exits. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** SIGKILL every replica child still running and wait for them (use in afterAll). */
export async function destroyAllReplicas(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
    ),
  );
}

function appendTail(tail: string, chunk: string): string {
  const joined = tail + chunk;
  return joined.length > KEEP_CHARS ? joined.slice(-KEEP_CHARS) : joined;
}

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<ExitStatus>;
  out: { stdout: string; stderr: string };
  exit: ExitStatus | null;
}

async function spawnServe(options: ReplicaOptions): Promise<Started> {
  if ((options.databaseUrl === undefined) === (options.dataDir === undefined)) throw new TypeError('a replica needs exactly one of databaseUrl and dataDir');
  const store = options.databaseUrl !== undefined ? ['--database-url', options.databaseUrl] : ['--data', options.dataDir as string];
  const env: NodeJS.ProcessEnv = { ...process.env, VERITY_ADMIN_TOKEN: ADMIN_TOKEN, VERITY_LOG_LEVEL: 'warn' };
  delete env['VERITY_DATABASE_URL'];
  delete env['DATABASE_URL'];
  for (const [key, value] of Object.entries(options.settings ?? {})) {
    if (value !== undefined) env[SETTING_ENV[key as keyof ReplicaSettings]] = String(value);
  }
  // --json: the URL comes as one JSON line on stdout and the log goes to stderr.
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--open-decisions', '--json', ...store], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const started: Started = { child, url: '', exited: undefined as unknown as Promise<ExitStatus>, out: { stdout: '', stderr: '' }, exit: null };
  started.exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      started.exit = { code, signal, at: Date.now() };
      resolve(started.exit);
    });
  });
  const log = testLogStream();
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    started.out.stderr = appendTail(started.out.stderr, chunk);
    log.write(chunk);
  });
  const url = await new Promise<string>((resolve, reject) => {
    // A server that never says where it listens is killed here, not left for teardown.
    const failStart = (error: Error) => {
      child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(() => failStart(new Error(`replica ${options.name} did not print its URL within ${options.startTimeoutMs ?? 60_000} ms; stderr tail: ${started.out.stderr.slice(-2000)}`)), options.startTimeoutMs ?? 60_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      started.out.stdout = appendTail(started.out.stdout, chunk);
      // `--json` prints `{"url": "…"}` (pretty-printed) once listening.
      const found = /"url":\s*"([^"]+)"/.exec(started.out.stdout);
      if (found === null) return;
      clearTimeout(timer);
      resolve(found[1] as string);
    });
    void started.exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`replica ${options.name} exited during start (code ${exit.code}, signal ${exit.signal}); stderr tail: ${started.out.stderr.slice(-2000)}`));
    });
  });
  started.url = url.replace(/\/$/, '');
  return started;
}

/** Start `verity serve` as a child process and wait until /readyz says ready. */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  let current = await spawnServe(options);
  const replica: Replica = {
    name: options.name,
    get url() {
      return current.url;
    },
    get pid() {
      return current.child.pid ?? -1;
    },
    get admin() {
      return createClient(current.url);
    },
    get exit() {
      return current.exit;
    },
    stderr: () => current.out.stderr,
    stdout: () => current.out.stdout,
    kill(signal) {
      if (current.exit === null) current.child.kill(signal);
    },
    async waitForExit(withinMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), withinMs)));
      const exit = await Promise.race([current.exited, timeout]);
      clearTimeout(timer);
      return exit;
    },
    async restart() {
      if (current.exit === null) throw new Error(`replica ${options.name} still runs (pid ${replica.pid}); stop it first`);
      current = await spawnServe(options);
      await waitUntilReady(replica, options.startTimeoutMs ?? 60_000).catch(async (error: unknown) => {
        await replica.destroy();
        throw error;
      });
    },
    async destroy() {
      if (current.exit !== null) return;
      current.child.kill('SIGKILL');
      await current.exited;
    },
  };
  await waitUntilReady(replica, options.startTimeoutMs ?? 60_000).catch(async (error: unknown) => {
    await replica.destroy();
    throw error;
  });
  return replica;
}

/** One GET with a hard deadline: status and parsed body, or status 0 when no answer came in time. */
export function probe(url: string, timeoutMs = 2000): Promise<{ status: number; body: unknown; ms: number }> {
  const sent = Date.now();
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON: kept as text.
        }
        resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - sent });
      });
      res.on('error', () => resolve({ status: 0, body: null, ms: Date.now() - sent }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: null, ms: Date.now() - sent }));
    req.end();
  });
}

/** Poll /readyz (bounded) until it answers 200; throws with the last answer otherwise. */
export async function waitUntilReady(replica: Pick<Replica, 'name' | 'url' | 'exit' | 'stderr'>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last: { status: number; body: unknown } = { status: 0, body: null };
  while (Date.now() < deadline) {
    if (replica.exit !== null) throw new Error(`replica ${replica.name} exited (code ${replica.exit.code}, signal ${replica.exit.signal}) before it was ready; stderr tail: ${replica.stderr().slice(-2000)}`);
    last = await probe(`${replica.url}/readyz`, 2000);
    if (last.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`replica ${replica.name} was not ready within ${withinMs} ms; last /readyz: ${last.status} ${JSON.stringify(last.body)}`);
}
