/**
 * Fault injection on PGlite (issue 9): `verity serve --data DIR` as a child process, stopped
 * under decision load by SIGKILL and by SIGTERM, then restarted on the same folder. Every
 * decision answered 200 before the stop must be in the audit afterwards, and the chain verifies.
 * The PostgreSQL experiments are in faults.pg.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_SETTINGS, startPgliteNode, type PgliteNode } from './helpers/fault-cluster.js';
import { SHUTDOWN_SLACK_MS, stopPglite, type ExperimentResult, type ShutdownOutcome } from './helpers/fault-experiments.js';
import { destroyAllReplicas } from './helpers/replica.js';

let node: PgliteNode;

beforeAll(async () => {
  node = await startPgliteNode();
}, 90_000);

afterAll(async () => {
  await node?.close();
  await destroyAllReplicas();
}, 60_000);

function expectAuditKept(result: ExperimentResult): void {
  expect.soft(result.answered, 'the load got decisions at all').toBeGreaterThan(0);
  expect.soft(result.unaudited.length, `answered-but-unaudited decisions of ${result.answered} (first: ${result.unaudited.slice(0, 3).join(', ')})`).toBe(0);
  expect.soft(result.verify.ok, `audit verify: ${JSON.stringify(result.verify.problems.slice(0, 5))}`).toBe(true);
  expect.soft(result.withoutRetryAfter, '503 answers without Retry-After').toBe(0);
}

describe('fault injection on PGlite', () => {
  it('kill -9 under load: after the restart every answered decision is in the audit', async () => {
    // A crash loses only what sits in the unflushed window (tens of ms on main): two rounds make
    // a broken build unlikely to slip through on a lucky moment.
    for (let round = 0; round < 2; round++) expectAuditKept(await stopPglite(node, 'SIGKILL'));
  }, 120_000);

  it('SIGTERM under load: exits 0 within the shutdown deadline and every answered decision is in the audit', async () => {
    const result = await stopPglite(node, 'SIGTERM');
    const shutdown = result.details['shutdown'] as ShutdownOutcome;
    expect.soft(shutdown.exitMs ?? Infinity, 'ms from SIGTERM to exit (Infinity: still running at the deadline)').toBeLessThanOrEqual(FAULT_SETTINGS.shutdownTimeoutMs + SHUTDOWN_SLACK_MS);
    expect.soft(shutdown.code, `exit code (stderr: ${shutdown.message ?? 'no spool message'})`).toBe(0);
    expect.soft(Object.keys(result.failures).filter((key) => !/^503 ERR_SHUTTING_DOWN$/.test(key)), 'answers other than 200 and 503 ERR_SHUTTING_DOWN while stopping').toEqual([]);
    expectAuditKept(result);
  }, 120_000);
});
