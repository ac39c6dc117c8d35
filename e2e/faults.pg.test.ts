/**
 * Fault injection on PostgreSQL (issue 9): two `verity serve` child processes on one scratch
 * database, each behind its own TCP fault proxy, under decision load. Every experiment checks
 * the client's 200 decision ids against the audit, the chain verify, and that the processes
 * lived through the fault (or, when killed, lost nothing). Bounded throughout: the file runs in
 * well under 3 minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAIL_CLOSED_CODES, FAULT_SETTINGS, RECOVERY_BOUND_MS, startPgCluster, type PgCluster } from './helpers/fault-cluster.js';
import { BOUND_SLACK_MS, SHUTDOWN_SLACK_MS, databaseOutage, killReplica, overload, policyChurn, pushDuringPartition, terminateWhilePaused, type ExperimentResult, type ShutdownOutcome } from './helpers/fault-experiments.js';
import { createScratchDatabase } from './helpers/postgres.js';
import { destroyAllReplicas, startReplica } from './helpers/replica.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let database: Awaited<ReturnType<typeof createScratchDatabase>>;
let cluster: PgCluster;

beforeAll(async () => {
  database = await createScratchDatabase();
  cluster = await startPgCluster(database.url);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  await destroyAllReplicas();
  await database?.drop();
}, 60_000);

/** Non-200 outcomes that are not a fail-closed 503 with a stable code. */
function unexpectedFailures(result: ExperimentResult): Record<string, number> {
  return Object.fromEntries(Object.entries(result.failures).filter(([key]) => !/^503 /.test(key) || !FAIL_CLOSED_CODES.has(key.slice(4))));
}

/** The assertions every experiment shares: nothing answered is missing from the audit, and the chain verifies. */
function expectAuditKept(result: ExperimentResult): void {
  expect.soft(result.answered, 'the load got decisions at all').toBeGreaterThan(0);
  expect.soft(result.unaudited.length, `answered-but-unaudited decisions (first: ${result.unaudited.slice(0, 3).join(', ')})`).toBe(0);
  expect.soft(result.verify.ok, `audit verify: ${JSON.stringify(result.verify.problems.slice(0, 5))}`).toBe(true);
  expect.soft(result.withoutRetryAfter, '503 answers without Retry-After').toBe(0);
}

function expectAlive(result: ExperimentResult): void {
  for (const process of result.processes) {
    expect.soft(process.samePid, `replica ${process.name} is the same process, still running (exit: ${JSON.stringify(process.exit)})`).toBe(true);
  }
}

describe('fault injection on PostgreSQL', () => {
  it('database cut mid-transaction under load: replicas stay up, fail closed, recover within 10 s, lose nothing', async () => {
    const result = await databaseOutage(cluster, 'reset');
    expectAlive(result);
    expect.soft(unexpectedFailures(result), 'only fail-closed 503s with stable codes').toEqual({});
    expect.soft(result.answeredDuringOutage, '200 answers while the database was cut').toBe(0);
    for (const [name, ms] of Object.entries(result.recoveryMs)) expect.soft(ms ?? Infinity, `replica ${name}: ms to its first 200 after the database returned (Infinity: none)`).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expectAuditKept(result);
  }, 90_000);

  it('database paused 5 s under load: nothing stalls past the request deadline, fail closed, recover, lose nothing', async () => {
    const result = await databaseOutage(cluster, 'blackhole', { concurrency: 6, warmMs: 1500, faultMs: 5000, afterMs: 1000 });
    expectAlive(result);
    expect.soft(unexpectedFailures(result), 'only fail-closed 503s with stable codes').toEqual({});
    expect.soft(result.maxStallMs, 'longest wait for an answer (ms)').toBeLessThanOrEqual(FAULT_SETTINGS.requestTimeoutMs + BOUND_SLACK_MS + 1000);
    expect.soft(result.answeredDuringOutage, '200 answers while the database was paused').toBe(0);
    for (const [name, ms] of Object.entries(result.recoveryMs)) expect.soft(ms ?? Infinity, `replica ${name}: ms to its first 200 after the database returned (Infinity: none)`).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expectAuditKept(result);
  }, 90_000);

  it('kill -9 of a replica under load: every decision it answered is in the audit after the restart', async () => {
    const result = await killReplica(cluster);
    expectAlive(result); // B, the replica not killed
    expect.soft(result.details['answeredByKilledProcess'], 'the killed replica answered before the kill').toBeGreaterThan(0);
    expect.soft(result.recoveryMs['A'], 'the restarted replica answers').not.toBeNull();
    expectAuditKept(result);
  }, 90_000);

  it('SIGTERM under load with the database paused: exits within the shutdown deadline, spools, loses nothing', async () => {
    const result = await terminateWhilePaused(cluster);
    const shutdown = result.details['shutdown'] as ShutdownOutcome;
    expect.soft(shutdown.exitMs ?? Infinity, 'ms from SIGTERM to exit (Infinity: still running at the deadline)').toBeLessThanOrEqual(FAULT_SETTINGS.shutdownTimeoutMs + SHUTDOWN_SLACK_MS);
    expect.soft(shutdown.code, 'exit code of a stop that could not write everything').toBe(1);
    expect.soft(shutdown.message ?? '').toMatch(/^verity: stopped with [0-9]+ audit records not written to the store; spooled to \S+/);
    expect.soft(result.recoveryMs['A'], 'the restarted replica answers').not.toBeNull();
    expectAuditKept(result);
  }, 90_000);

  it('push during a partition: the cut-off replica stops allowing within the staleness bound, is not ready, then denies', async () => {
    const result = await pushDuringPartition(cluster);
    expectAlive(result);
    expect.soft(result.allowsAfterBound, `allows later than maxStalenessMs + ${BOUND_SLACK_MS} ms after the deny was active (last allow at +${String(result.details['lastAllowAfterActivateMs'])} ms)`).toBe(0);
    expect.soft(unexpectedFailures(result), 'only fail-closed 503s with stable codes').toEqual({});
    const readyz = result.details['readyzWhileStale'] as number[];
    expect.soft(readyz.length).toBeGreaterThan(0);
    expect.soft(readyz.filter((status) => status !== 503), '/readyz answers of the stale replica other than 503 (0: no answer)').toEqual([]);
    expect.soft(result.recoveryMs['A'] ?? Infinity, 'ms from the link returning to the first deny (Infinity: none)').toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expectAuditKept(result);
  }, 90_000);

  it('policy churn: 20 versions alternating deny/allow through both replicas under load: no answer from a version superseded longer than the bound', async () => {
    const result = await policyChurn(cluster, { versions: 20, intervalMs: 150 });
    expectAlive(result);
    expect.soft(result.allowsAfterBound, 'allows from a deny-superseded version later than the bound').toBe(0);
    expect.soft(result.details['staleAnswers'], 'answers from a version superseded longer than the bound').toBe(0);
    expect.soft(result.details['unknownVersion'], 'answers naming a version never pushed').toBe(0);
    expect.soft(unexpectedFailures(result), 'only fail-closed 503s with stable codes').toEqual({});
    console.log(`faults: churn: ${result.answered} answered, longest stale window ${String(result.details['maxStaleWindowMs'])} ms`);
    expectAuditKept(result);
  }, 90_000);

  it('a replica started while the database is down waits for it (never exits) and is ready within 10 s of its return', async () => {
    const proxy = await startFaultProxy({ target: { host: new URL(cluster.databaseUrl).hostname, port: Number(new URL(cluster.databaseUrl).port || 5432) } });
    proxy.mode('refuse');
    const spool = await mkdtemp(join(tmpdir(), 'verity-faults-start-'));
    try {
      const starting = startReplica({ name: 'late', databaseUrl: proxy.url(cluster.databaseUrl), settings: { ...FAULT_SETTINGS, auditSpoolDir: spool } });
      const outcome = starting.then(
        (replica) => ({ replica, error: null }),
        (error: unknown) => ({ replica: null, error }),
      );
      // Longer than a refused connect takes to fail (it used to exit with code 4 within ~1 s).
      const early = await Promise.race([outcome, new Promise<null>((resolve) => setTimeout(() => resolve(null), 4000))]);
      expect(early, 'the replica exited or became ready while its database was refusing connections').toBeNull();
      const back = Date.now();
      proxy.mode('pass');
      const { replica, error } = await outcome;
      expect(error).toBeNull();
      const readyAfterMs = Date.now() - back;
      console.log(`faults: a replica started during an outage was ready ${readyAfterMs} ms after the database returned`);
      expect(readyAfterMs).toBeLessThanOrEqual(RECOVERY_BOUND_MS + BOUND_SLACK_MS);
      await replica?.destroy();
    } finally {
      await proxy.close();
      await rm(spool, { recursive: true, force: true });
    }
  }, 90_000);

  it('overload: 200 connections over a small in-flight bound get 200 or a quick 503 ERR_OVERLOADED; then normal', async () => {
    const result = await overload(cluster.databaseUrl, { connections: 200, maxInflightRequests: 8, durationMs: 5000 });
    expectAlive(result);
    const codes = Object.keys(result.failures);
    expect.soft(codes.filter((key) => key !== '503 ERR_OVERLOADED'), 'answers other than 200 and 503 ERR_OVERLOADED').toEqual([]);
    expect.soft(result.details['shed'], 'requests shed with 503 ERR_OVERLOADED').toBeGreaterThan(0);
    // Measured by a client sharing this process's event loop with 200 callers, so looser than the
    // server's 50 ms goal (npm run chaos reports the max); it proves a 503 is not queued.
    expect.soft((result.details['shedP99Ms'] as number | null) ?? Infinity, 'p99 ms of a 503 (Infinity: none)').toBeLessThanOrEqual(500);
    expect.soft(result.maxStallMs, 'longest wait for any answer (ms)').toBeLessThanOrEqual(FAULT_SETTINGS.requestTimeoutMs + BOUND_SLACK_MS + 1000);
    expect.soft(result.recoveryMs['O'], 'answers normally once the load is gone').not.toBeNull();
    expectAuditKept(result);
  }, 90_000);
});
