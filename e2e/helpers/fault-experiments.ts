/**
 * The fault experiments of issue 9, each a function from a running system and durations to a
 * measured result: what the client was answered, what the audit holds, how the processes
 * fared. The tests (e2e/faults*.test.ts) run them short and assert; `npm run chaos` runs
 * them long and tabulates (bench/chaos.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditReader, type VerifyResult } from './audit-check.js';
import { runUnderLoad, type DecisionSample } from './decision-load.js';
import {
  ALLOW_POLICY,
  DENY_POLICY,
  FAULT_SETTINGS,
  RECOVERY_BOUND_MS,
  createTenant,
  pushPolicy,
  readyStatus,
  sleep,
  waitFor,
  waitForDecision,
  type PgCluster,
  type PgliteNode,
} from './fault-cluster.js';
import { startReplica, type ExitStatus, type Replica } from './replica.js';

/** Timer and scheduling slack added to every documented bound before a sample counts against it (ms). */
export const BOUND_SLACK_MS = 500;
/** How long an experiment waits for the audit to hold an answered decision after the load stops (ms). */
const AUDIT_SETTLE_MS = 10_000;

export interface ProcessOutcome {
  name: string;
  /** Still running at the end of the experiment. */
  alive: boolean;
  /** The same process as at the start (no exit, no restart). */
  samePid: boolean;
  exit: ExitStatus | null;
}

export interface ExperimentResult {
  experiment: string;
  durationMs: number;
  /** 200 answers. */
  answered: number;
  /** Non-200 outcomes by `<status> <code>` (status 0: no HTTP answer, e.g. `0 ECONNREFUSED`). */
  failures: Record<string, number>;
  /** 503 answers without an integer `Retry-After`. */
  withoutRetryAfter: number;
  /** Decision ids answered 200 that the audit does not hold (after AUDIT_SETTLE_MS). */
  unaudited: string[];
  /** 200 answers sent while the database was unreachable past the staleness bound (+ slack); null when no outage. */
  answeredDuringOutage: number | null;
  /** Allows sent later than the deny's activation + maxStalenessMs + slack; null when no push. */
  allowsAfterBound: number | null;
  /** Longest time any request waited for its answer (ms). */
  maxStallMs: number;
  /** Per replica: ms from the fault's end to its first 200 (null: none within RECOVERY_BOUND_MS). */
  recoveryMs: Record<string, number | null>;
  verify: VerifyResult;
  processes: ProcessOutcome[];
  /** Experiment-specific measurements (shutdown exit, readiness during a partition, shed latency…). */
  details: Record<string, unknown>;
}

export interface LoadShape {
  /** Loops per replica. */
  concurrency: number;
  /** Load before the fault (ms). */
  warmMs: number;
  /** The fault's length (ms). */
  faultMs: number;
  /** Load after recovery (ms). */
  afterMs: number;
}

export const TEST_SHAPE: LoadShape = { concurrency: 6, warmMs: 1500, faultMs: 4000, afterMs: 1000 };

/** Client-side deadline: past the server's request deadline, so a stall is measured, not cut short. */
function clientTimeout(cluster: PgCluster): number {
  return (cluster.settings.requestTimeoutMs ?? 5000) + 10_000;
}

let tenantCounter = 0;
function freshTenant(prefix: string): string {
  tenantCounter += 1;
  return `${prefix}-${Date.now().toString(36)}-${tenantCounter}`;
}

function tally(samples: readonly DecisionSample[]): Pick<ExperimentResult, 'answered' | 'failures' | 'withoutRetryAfter' | 'maxStallMs'> {
  const failures: Record<string, number> = {};
  let answered = 0;
  let withoutRetryAfter = 0;
  let maxStallMs = 0;
  for (const s of samples) {
    maxStallMs = Math.max(maxStallMs, s.answeredAt - s.sentAt);
    if (s.status === 200) {
      answered += 1;
      continue;
    }
    const key = `${s.status} ${s.code ?? '-'}`;
    failures[key] = (failures[key] ?? 0) + 1;
    if (s.status === 503 && !/^[0-9]+$/.test(s.retryAfter ?? '')) withoutRetryAfter += 1;
  }
  return { answered, failures, withoutRetryAfter, maxStallMs };
}

/** ms from `since` to the replica's first 200 sent at or after it; null when none. */
function firstAnswerAfter(samples: readonly DecisionSample[], replica: string, since: number, accept: (s: DecisionSample) => boolean = () => true): number | null {
  const first = samples.find((s) => s.replica === replica && s.status === 200 && s.sentAt >= since && accept(s));
  return first === undefined ? null : first.answeredAt - since;
}

function answeredIds(samples: readonly DecisionSample[]): string[] {
  return samples.filter((s) => s.status === 200 && s.decisionId !== null).map((s) => s.decisionId as string);
}

function outcome(replica: Replica, pidBefore: number): ProcessOutcome {
  return { name: replica.name, alive: replica.exit === null, samePid: replica.exit === null && replica.pid === pidBefore, exit: replica.exit };
}

async function auditOutcome(source: Replica, tenant: string, samples: readonly DecisionSample[]): Promise<Pick<ExperimentResult, 'unaudited' | 'verify'>> {
  const reader = createAuditReader(source, tenant);
  const unaudited = await reader.unaudited(answeredIds(samples), AUDIT_SETTLE_MS);
  const verifyStarted = Date.now();
  const verify = await reader.verify();
  return { unaudited, verify: { ...verify, ms: Date.now() - verifyStarted } };
}

/** Wait until every named replica has a 200 (accepted) sent after `since`, at most RECOVERY_BOUND_MS. */
async function awaitRecovery(samples: readonly DecisionSample[], names: readonly string[], since: number, accept?: (s: DecisionSample) => boolean): Promise<void> {
  await waitFor(() => names.every((name) => firstAnswerAfter(samples, name, since, accept) !== null), RECOVERY_BOUND_MS + BOUND_SLACK_MS);
}

/**
 * The database link of both replicas cut (`reset`: open connections destroyed mid-transaction,
 * new ones refused) or paused (`blackhole`) under load, then restored.
 */
export async function databaseOutage(cluster: PgCluster, mode: 'reset' | 'blackhole', shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  await cluster.revive();
  const { A, B } = cluster.replicas;
  const tenant = freshTenant(mode === 'reset' ? 'cut' : 'pause');
  await createTenant(cluster.auditor.admin, tenant);
  await Promise.all([waitForDecision(A, tenant, true), waitForDecision(B, tenant, true)]);
  const pids = { A: A.pid, B: B.pid };
  const started = Date.now();
  const { samples, value: { faultAt, passAt } } = await runUnderLoad({ targets: [A, B], tenant, concurrency: shape.concurrency, clientTimeoutMs: clientTimeout(cluster) }, async (load) => {
    await sleep(shape.warmMs);
    const faultAt = Date.now();
    cluster.proxies.A.mode(mode);
    cluster.proxies.B.mode(mode);
    await sleep(shape.faultMs);
    const passAt = Date.now();
    cluster.proxies.A.mode('pass');
    cluster.proxies.B.mode('pass');
    await awaitRecovery(load.samples, ['A', 'B'], passAt);
    await sleep(shape.afterMs);
    return { faultAt, passAt };
  });
  const outageFrom = faultAt + (cluster.settings.maxStalenessMs ?? 1000) + BOUND_SLACK_MS;
  return {
    experiment: mode === 'reset' ? 'database cut mid-transaction (reset)' : 'database paused (blackhole)',
    durationMs: Date.now() - started,
    ...tally(samples),
    answeredDuringOutage: samples.filter((s) => s.status === 200 && s.sentAt >= outageFrom && s.sentAt < passAt).length,
    allowsAfterBound: null,
    recoveryMs: { A: firstAnswerAfter(samples, 'A', passAt), B: firstAnswerAfter(samples, 'B', passAt) },
    processes: [outcome(A, pids.A), outcome(B, pids.B)],
    ...(await auditOutcome(cluster.auditor, tenant, samples)),
    details: { faultMs: passAt - faultAt },
  };
}

/** `kill -9` of replica A under load on both, then A restarted (by the harness, as an orchestrator would). */
export async function killReplica(cluster: PgCluster, shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  await cluster.revive();
  const { A, B } = cluster.replicas;
  const tenant = freshTenant('kill');
  await createTenant(cluster.auditor.admin, tenant);
  await Promise.all([waitForDecision(A, tenant, true), waitForDecision(B, tenant, true)]);
  const pids = { A: A.pid, B: B.pid };
  const started = Date.now();
  const { samples, value: { killedExit, restartAt } } = await runUnderLoad({ targets: [A, B], tenant, concurrency: shape.concurrency }, async (load) => {
    await sleep(shape.warmMs);
    A.kill('SIGKILL');
    const killedExit = await A.waitForExit(10_000);
    const restartAt = Date.now();
    await A.restart();
    await awaitRecovery(load.samples, ['A'], restartAt);
    await sleep(shape.afterMs);
    return { killedExit, restartAt };
  });
  return {
    experiment: 'kill -9 of a replica (PostgreSQL)',
    durationMs: Date.now() - started,
    ...tally(samples),
    answeredDuringOutage: null,
    allowsAfterBound: null,
    recoveryMs: { A: firstAnswerAfter(samples, 'A', restartAt) },
    processes: [outcome(B, pids.B)],
    ...(await auditOutcome(cluster.auditor, tenant, samples)),
    details: { killedExit, answeredByKilledProcess: samples.filter((s) => s.replica === 'A' && s.status === 200 && s.answeredAt <= (killedExit?.at ?? restartAt)).length },
  };
}

/** How a SIGTERM'd process ended. */
export interface ShutdownOutcome {
  /** ms from SIGTERM to exit; null when it had not exited within shutdownTimeoutMs + slack (then SIGKILLed). */
  exitMs: number | null;
  code: number | null;
  /** The stderr line saying what remained (`verity: stopped with N audit records …`), if any. */
  message: string | null;
}

/** Grace beyond shutdownTimeoutMs a stop may take before it counts as hung: process exit, flushes (ms). */
export const SHUTDOWN_SLACK_MS = 3000;

async function terminate(replica: Replica, shutdownTimeoutMs: number): Promise<ShutdownOutcome> {
  const termAt = Date.now();
  replica.kill('SIGTERM');
  const exit = await replica.waitForExit(shutdownTimeoutMs + SHUTDOWN_SLACK_MS);
  const message = replica.stderr().split('\n').find((line) => line.startsWith('verity: stopped with')) ?? null;
  if (exit === null) {
    await replica.destroy();
    return { exitMs: null, code: null, message };
  }
  return { exitMs: exit.at - termAt, code: exit.code, message };
}

/** SIGTERM of replica A under load while its database link is paused; restarted once the database is back. */
export async function terminateWhilePaused(cluster: PgCluster, shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  await cluster.revive();
  const { A } = cluster.replicas;
  const tenant = freshTenant('term');
  await createTenant(cluster.auditor.admin, tenant);
  await waitForDecision(A, tenant, true);
  const started = Date.now();
  const { samples, value: { shutdown, passAt } } = await runUnderLoad({ targets: [A], tenant, concurrency: shape.concurrency, clientTimeoutMs: clientTimeout(cluster) }, async (load) => {
    await sleep(shape.warmMs);
    cluster.proxies.A.mode('blackhole');
    // Long enough that audit writes are stuck on the paused link, short of any store timeout.
    await sleep(300);
    const shutdown = await terminate(A, cluster.settings.shutdownTimeoutMs ?? 10_000);
    const passAt = Date.now();
    cluster.proxies.A.mode('pass');
    await A.restart();
    await awaitRecovery(load.samples, ['A'], passAt);
    await sleep(shape.afterMs);
    return { shutdown, passAt };
  });
  return {
    experiment: 'SIGTERM with the database paused',
    durationMs: Date.now() - started,
    ...tally(samples),
    answeredDuringOutage: null,
    allowsAfterBound: null,
    recoveryMs: { A: firstAnswerAfter(samples, 'A', passAt) },
    processes: [],
    ...(await auditOutcome(cluster.auditor, tenant, samples)),
    details: { shutdown },
  };
}

/**
 * A's link paused, a deny pushed through B: A must stop answering allow within maxStalenessMs of
 * the push returning, fail /readyz meanwhile, and answer deny within 10 s of the link returning.
 */
export async function pushDuringPartition(cluster: PgCluster, shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  await cluster.revive();
  const { A, B } = cluster.replicas;
  const tenant = freshTenant('partition');
  await createTenant(cluster.auditor.admin, tenant);
  await Promise.all([waitForDecision(A, tenant, true), waitForDecision(B, tenant, true)]);
  const pids = { A: A.pid, B: B.pid };
  const maxStalenessMs = cluster.settings.maxStalenessMs ?? 1000;
  const started = Date.now();
  const { samples, value: { partitionAt, denyVersion, activatedAt, readiness, passAt } } = await runUnderLoad({ targets: [A], tenant, concurrency: shape.concurrency, clientTimeoutMs: clientTimeout(cluster) }, async (load) => {
    await sleep(shape.warmMs);
    const partitionAt = Date.now();
    cluster.proxies.A.mode('blackhole');
    await sleep(200);
    const denyVersion = await pushPolicy(B.admin, tenant, DENY_POLICY);
    const activatedAt = Date.now();
    // Readiness of A, probed through the partition until the link returns.
    const readiness: Array<{ at: number; status: number }> = [];
    const partitionEnds = activatedAt + Math.max(shape.faultMs, maxStalenessMs + 2 * BOUND_SLACK_MS + 1000);
    while (Date.now() < partitionEnds) {
      const at = Date.now();
      readiness.push({ at, status: await readyStatus(A, 1000) });
      await sleep(200);
    }
    const passAt = Date.now();
    cluster.proxies.A.mode('pass');
    await awaitRecovery(load.samples, ['A'], passAt, (s) => s.decision === false);
    await sleep(shape.afterMs);
    return { partitionAt, denyVersion, activatedAt, readiness, passAt };
  });
  const boundAt = activatedAt + maxStalenessMs + BOUND_SLACK_MS;
  const staleFrom = partitionAt + maxStalenessMs + BOUND_SLACK_MS;
  return {
    experiment: 'push during a partition',
    durationMs: Date.now() - started,
    ...tally(samples),
    answeredDuringOutage: samples.filter((s) => s.status === 200 && s.sentAt >= staleFrom && s.sentAt < passAt).length,
    allowsAfterBound: samples.filter((s) => s.status === 200 && s.decision === true && s.sentAt > boundAt).length,
    recoveryMs: { A: firstAnswerAfter(samples, 'A', passAt, (s) => s.decision === false) },
    processes: [outcome(A, pids.A), outcome(B, pids.B)],
    ...(await auditOutcome(cluster.auditor, tenant, samples)),
    details: {
      denyVersion,
      lastAllowAfterActivateMs: samples.reduce((last, s) => (s.status === 200 && s.decision === true ? Math.max(last, s.sentAt - activatedAt) : last), -Infinity),
      // /readyz answers once A's view is past the staleness bound (not answered counts as not ready: status 0).
      readyzWhileStale: readiness.filter((r) => r.at >= staleFrom).map((r) => r.status),
    },
  };
}

/**
 * Policy churn (the soak): under load on both replicas, `versions` policy versions alternating
 * deny/allow are pushed through alternating replicas, one every `intervalMs`. Every 200 carries
 * the version that decided it; an answer is stale when a later version's push had returned more
 * than maxStalenessMs (+ slack) before the request was sent. Stale allows are wrong allows.
 */
export async function policyChurn(cluster: PgCluster, options: { versions: number; intervalMs: number }, shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  await cluster.revive();
  const { A, B } = cluster.replicas;
  const tenant = freshTenant('churn');
  const first = await createTenant(cluster.auditor.admin, tenant);
  await Promise.all([waitForDecision(A, tenant, true), waitForDecision(B, tenant, true)]);
  const pids = { A: A.pid, B: B.pid };
  const maxStalenessMs = cluster.settings.maxStalenessMs ?? 1000;
  const started = Date.now();
  const { samples, value: activations } = await runUnderLoad({ targets: [A, B], tenant, concurrency: shape.concurrency, clientTimeoutMs: clientTimeout(cluster) }, async () => {
    await sleep(shape.warmMs);
    // Version numbers with the time their push returned (the activation a client could know of).
    const activations: Array<{ version: number; returnedAt: number }> = [{ version: first, returnedAt: started }];
    for (let i = 0; i < options.versions; i++) {
      const through = i % 2 === 0 ? B : A;
      const version = await pushPolicy(through.admin, tenant, i % 2 === 0 ? DENY_POLICY : ALLOW_POLICY);
      activations.push({ version, returnedAt: Date.now() });
      await sleep(options.intervalMs);
    }
    await sleep(shape.afterMs);
    return activations;
  });
  const returnedAt = new Map(activations.map((a) => [a.version, a.returnedAt]));
  /** When the version after `version` was known active (its push returned); Infinity for the last. */
  const supersededAt = (version: number): number => {
    const next = activations.find((a) => a.version > version);
    return next === undefined ? Infinity : next.returnedAt;
  };
  const stale = samples.filter((s) => s.status === 200 && s.policyVersion !== null && returnedAt.has(s.policyVersion) && s.sentAt > supersededAt(s.policyVersion) + maxStalenessMs + BOUND_SLACK_MS);
  const unknownVersion = samples.filter((s) => s.status === 200 && (s.policyVersion === null || !returnedAt.has(s.policyVersion))).length;
  const windows = samples
    .filter((s) => s.status === 200 && s.policyVersion !== null && Number.isFinite(supersededAt(s.policyVersion)))
    .map((s) => s.sentAt - supersededAt(s.policyVersion as number));
  return {
    experiment: `policy churn (${options.versions} versions, one every ${options.intervalMs} ms)`,
    durationMs: Date.now() - started,
    ...tally(samples),
    answeredDuringOutage: null,
    allowsAfterBound: stale.filter((s) => s.decision === true).length,
    recoveryMs: {},
    processes: [outcome(A, pids.A), outcome(B, pids.B)],
    ...(await auditOutcome(cluster.auditor, tenant, samples)),
    details: {
      versions: options.versions,
      staleAnswers: stale.length,
      unknownVersion,
      // How long after a newer version's push returned an older version still answered (ms; ≤ 0: never).
      maxStaleWindowMs: windows.length === 0 ? null : windows.reduce((max, w) => Math.max(max, w), -Infinity),
    },
  };
}

/**
 * `connections` concurrent callers against one replica whose in-flight bound is
 * `maxInflightRequests`: answers must be 200 or a quick 503 ERR_OVERLOADED, and the replica
 * answers normally once the load is gone.
 */
export async function overload(databaseUrl: string, options: { connections: number; maxInflightRequests: number; durationMs: number }): Promise<ExperimentResult> {
  const spool = await mkdtemp(join(tmpdir(), 'verity-faults-spool-'));
  const replica = await startReplica({ name: 'O', databaseUrl, settings: { ...FAULT_SETTINGS, maxInflightRequests: options.maxInflightRequests, auditSpoolDir: spool } }).catch(async (error: unknown) => {
    await rm(spool, { recursive: true, force: true });
    throw error;
  });
  try {
    const tenant = freshTenant('overload');
    await createTenant(replica.admin, tenant);
    await waitForDecision(replica, tenant, true);
    const pid = replica.pid;
    const started = Date.now();
    const { samples } = await runUnderLoad({ targets: [replica], tenant, concurrency: options.connections, clientTimeoutMs: 30_000 }, () => sleep(options.durationMs));
    const shed = samples.filter((s) => s.status === 503 && s.code === 'ERR_OVERLOADED').map((s) => s.answeredAt - s.sentAt).sort((a, b) => a - b);
    const afterAt = Date.now();
    await waitForDecision(replica, tenant, true, 5000).catch(() => {});
    const recovered = Date.now() - afterAt;
    return {
      experiment: `overload (${options.connections} connections, max in-flight ${options.maxInflightRequests})`,
      durationMs: Date.now() - started,
      ...tally(samples),
      answeredDuringOutage: null,
      allowsAfterBound: null,
      recoveryMs: { O: recovered <= 5000 ? recovered : null },
      processes: [outcome(replica, pid)],
      ...(await auditOutcome(replica, tenant, samples)),
      details: {
        shed: shed.length,
        shedP50Ms: shed[Math.floor(shed.length / 2)] ?? null,
        shedP99Ms: shed[Math.floor(shed.length * 0.99)] ?? null,
        shedMaxMs: shed.at(-1) ?? null,
        answeredP99Ms: percentile(samples.filter((s) => s.status === 200).map((s) => s.answeredAt - s.sentAt), 0.99),
      },
    };
  } finally {
    await replica.destroy();
    await rm(spool, { recursive: true, force: true });
  }
}

function percentile(values: number[], q: number): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? null;
}

/**
 * PGlite (one process owns the data folder): under load, the server is stopped by `signal`
 * (SIGKILL: crash; SIGTERM: graceful stop), restarted on the same folder, and every decision
 * answered before the stop must be in its audit.
 */
export async function stopPglite(node: PgliteNode, signal: 'SIGKILL' | 'SIGTERM', shape: LoadShape = TEST_SHAPE): Promise<ExperimentResult> {
  const { replica } = node;
  if (replica.exit !== null) await replica.restart();
  const tenant = freshTenant(signal === 'SIGKILL' ? 'pglite-kill' : 'pglite-term');
  await createTenant(replica.admin, tenant);
  await waitForDecision(replica, tenant, true);
  const started = Date.now();
  const { samples, value: shutdown } = await runUnderLoad({ targets: [replica], tenant, concurrency: shape.concurrency }, async () => {
    await sleep(shape.warmMs);
    if (signal === 'SIGTERM') return terminate(replica, FAULT_SETTINGS.shutdownTimeoutMs);
    replica.kill('SIGKILL');
    await replica.waitForExit(10_000);
    return null;
  });
  const restartAt = Date.now();
  await replica.restart();
  const restartMs = Date.now() - restartAt;
  return {
    experiment: `${signal === 'SIGKILL' ? 'kill -9' : 'SIGTERM'} under load (PGlite)`,
    durationMs: Date.now() - started,
    ...tally(samples.filter((s) => s.status !== 0)),
    answeredDuringOutage: null,
    allowsAfterBound: null,
    recoveryMs: { pglite: restartMs },
    processes: [],
    ...(await auditOutcome(replica, tenant, samples)),
    details: { shutdown, connectionFailuresWhileDown: samples.filter((s) => s.status === 0).length },
  };
}
