/**
 * The system under fault: two `verity serve` replicas on one PostgreSQL database, each behind
 * its own fault proxy, plus an auditor replica on a direct link that reads the audit; or one
 * replica on a PGlite data folder. Shared by e2e/faults*.test.ts and bench/chaos.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { probe, startReplica, type Replica, type ReplicaSettings } from './replica.js';
import { evaluateOnce, DEFAULT_EVALUATION } from './decision-load.js';
import type { Client } from './verity.js';

/** Settings the fault runs use: short enough that a run takes seconds, not minutes. */
export const FAULT_SETTINGS = {
  shutdownTimeoutMs: 3000,
  maxStalenessMs: 1000,
  requestTimeoutMs: 2000,
  storeTimeoutMs: 2000,
} as const satisfies ReplicaSettings;

/** The bound: a replica answers decisions again within 10 s of the database returning. */
export const RECOVERY_BOUND_MS = 10_000;

/** Failure answers that fail closed with a stable code (issue 9's codes and the existing store one). */
export const FAIL_CLOSED_CODES: ReadonlySet<string> = new Set([
  'ERR_STORE_UNAVAILABLE',
  'ERR_AUDIT_UNAVAILABLE',
  'ERR_POLICY_STALE',
  'ERR_OVERLOADED',
  'ERR_DEADLINE_EXCEEDED',
  'ERR_STARTING',
  'ERR_SHUTTING_DOWN',
]);

export const ALLOW_POLICY = { 'allow.cedar': 'permit(principal, action, resource);' };
export const DENY_POLICY = { 'deny.cedar': 'forbid(principal, action, resource);' };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait (bounded) until `condition` holds, polling; returns whether it did. */
export async function waitFor(condition: () => boolean, withinMs: number, pauseMs = 50): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(pauseMs);
  }
  return true;
}

/** Create `tenant` with one policy version (files) through `admin`; returns the version number. */
export async function createTenant(admin: Client, tenant: string, files: Record<string, string> = ALLOW_POLICY): Promise<number> {
  const created = await admin.post('/admin/v1/tenants', { id: tenant });
  if (created.status !== 201) throw new Error(`create tenant ${tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  return pushPolicy(admin, tenant, files);
}

/** Push and activate a policy version; returns its number. */
export async function pushPolicy(admin: Client, tenant: string, files: Record<string, string>): Promise<number> {
  const pushed = await admin.post(`/admin/v1/tenants/${tenant}/policies`, { files, validationMode: 'off' });
  if (pushed.status !== 201) throw new Error(`push ${tenant}: ${pushed.status} ${JSON.stringify(pushed.body)}`);
  return (pushed.body as { version: number }).version;
}

/** Wait (bounded) until `replica` answers an evaluation for `tenant` with 200 and `decision`. */
export async function waitForDecision(replica: Replica, tenant: string, decision: boolean, withinMs = 15_000): Promise<void> {
  const body = JSON.stringify({ ...DEFAULT_EVALUATION, options: { verity_context: true } });
  let last = '';
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const sample = await evaluateOnce(replica, tenant, body, undefined, 3000);
    if (sample.status === 200 && sample.decision === decision) return;
    last = `${sample.status} ${sample.code ?? ''} decision=${String(sample.decision)}`;
    await sleep(100);
  }
  throw new Error(`replica ${replica.name} did not answer ${decision ? 'allow' : 'deny'} for ${tenant} within ${withinMs} ms (last: ${last})`);
}

/** Two proxied replicas and a directly connected auditor on one PostgreSQL database. */
export interface PgCluster {
  readonly databaseUrl: string;
  readonly proxies: { A: FaultProxy; B: FaultProxy };
  readonly replicas: { A: Replica; B: Replica };
  /** Direct link, never under fault or load: reads the audit and the chain verify. */
  readonly auditor: Replica;
  readonly settings: ReplicaSettings;
  /** Links back to 'pass' and every exited replica restarted (before an experiment). */
  revive(): Promise<void>;
  /** Kill every replica, close the proxies, remove the spool folders. */
  close(): Promise<void>;
}

function databaseTarget(databaseUrl: string): { host: string; port: number } {
  const url = new URL(databaseUrl);
  return { host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname, port: Number(url.port || 5432) };
}

export async function startPgCluster(databaseUrl: string, settings: ReplicaSettings = FAULT_SETTINGS): Promise<PgCluster> {
  const spool = await mkdtemp(join(tmpdir(), 'verity-faults-spool-'));
  const target = databaseTarget(databaseUrl);
  const proxies = { A: await startFaultProxy({ target }), B: await startFaultProxy({ target }) };
  const started: Replica[] = [];
  try {
    // The auditor starts first and alone: it creates the schema, so the replicas do not race on it.
    const auditor = await startReplica({ name: 'auditor', databaseUrl, settings: { ...settings, auditSpoolDir: join(spool, 'auditor') } });
    started.push(auditor);
    const [A, B] = await Promise.all(
      (['A', 'B'] as const).map((name) => startReplica({ name, databaseUrl: proxies[name].url(databaseUrl), settings: { ...settings, auditSpoolDir: join(spool, name) } })),
    );
    started.push(A as Replica, B as Replica);
    const replicas = { A: A as Replica, B: B as Replica };
    return {
      databaseUrl,
      proxies,
      replicas,
      auditor,
      settings,
      async revive() {
        proxies.A.mode('pass');
        proxies.B.mode('pass');
        for (const replica of [auditor, replicas.A, replicas.B]) {
          if (replica.exit === null) continue;
          await replica.restart();
        }
      },
      async close() {
        await Promise.all(started.map((replica) => replica.destroy()));
        await Promise.all([proxies.A.close(), proxies.B.close()]);
        await rm(spool, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map((replica) => replica.destroy()));
    await Promise.all([proxies.A.close(), proxies.B.close()]);
    await rm(spool, { recursive: true, force: true });
    throw error;
  }
}

/** One replica on a PGlite data folder in a fresh temporary directory. */
export interface PgliteNode {
  readonly replica: Replica;
  readonly dataDir: string;
  close(): Promise<void>;
}

export async function startPgliteNode(settings: ReplicaSettings = FAULT_SETTINGS): Promise<PgliteNode> {
  const folder = await mkdtemp(join(tmpdir(), 'verity-faults-pglite-'));
  const dataDir = join(folder, 'data');
  const replica = await startReplica({ name: 'pglite', dataDir, settings: { ...settings, auditSpoolDir: join(folder, 'spool') } }).catch(async (error: unknown) => {
    await rm(folder, { recursive: true, force: true });
    throw error;
  });
  return {
    replica,
    dataDir,
    async close() {
      await replica.destroy();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** /readyz status of a replica now (0 when it did not answer within `timeoutMs`). */
export async function readyStatus(replica: Replica, timeoutMs = 1000): Promise<number> {
  return (await probe(`${replica.url}/readyz`, timeoutMs)).status;
}
