/**
 * Bounded staleness on PostgreSQL: two replicas on one database, A behind a fault proxy. A push
 * through B while A's link is paused must not leave A answering the old decision beyond
 * `maxStalenessMs`: A answers 503 ERR_POLICY_STALE and fails /readyz until it has caught up.
 * On a healthy link the stale window after `activate` returns is measured, and the consistency
 * token (`options.verity_min_version`) closes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from './helpers/postgres.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';
import { openEventStream } from './helpers/sse.js';
import { eventually } from './helpers/eventually.js';

const MAX_STALENESS_MS = 1000;

let database: Awaited<ReturnType<typeof createScratchDatabase>>;
let proxy: FaultProxy;
let replicaA: Awaited<ReturnType<typeof startTestServer>>;
let replicaB: Awaited<ReturnType<typeof startTestServer>>;
let pdpA: Client;

const question = { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } };
const ask = (options?: Record<string, unknown>) => pdpA.post('/tenants/acme/access/v1/evaluation', options === undefined ? question : { ...question, options });
const activate = (version: number) => replicaB.admin.post('/admin/v1/tenants/acme/policies/activate', { version });

beforeAll(async () => {
  database = await createScratchDatabase();
  const target = new URL(database.url);
  proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
  replicaB = await startTestServer({ databaseUrl: database.url, decisionAuth: 'open', maxStalenessMs: MAX_STALENESS_MS });
  replicaA = await startTestServer({ databaseUrl: proxy.url(database.url), decisionAuth: 'open', maxStalenessMs: MAX_STALENESS_MS, requestTimeoutMs: 3000 });
  pdpA = createClient(replicaA.url, null);
  expect((await replicaB.admin.post('/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
  expect((await replicaB.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).body.version).toBe(1);
  expect((await replicaB.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'forbid(principal, action, resource);' }, activate: false })).body.version).toBe(2);
  await eventually(async () => expect((await ask()).body.decision).toBe(true), 10_000);
}, 60_000);

afterAll(async () => {
  proxy?.mode('pass');
  await replicaA?.close();
  await replicaB?.close();
  await proxy?.close();
  await database?.drop();
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

describe('bounded staleness on PostgreSQL', () => {
  it('healthy link: measures the stale window after activate returns; with verity_min_version A never answers the old decision', async () => {
    const TRIALS = 12;
    const windows: number[] = [];
    let staleWithToken = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const version = trial % 2 === 0 ? 2 : 1;
      const expected = version === 1;
      let returned = Infinity;
      let lastOld = -Infinity;
      let stop = false;
      // A asks continuously (4 callers) while B activates.
      const callers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const sent = performance.now();
          const answer = await ask();
          const received = performance.now();
          if (answer.status === 200 && answer.body.decision !== expected && sent >= returned) lastOld = Math.max(lastOld, received);
          if (sent > returned && answer.status === 200 && answer.body.decision === expected) stop = true;
        }
      });
      const activated = activate(version).then((answer) => {
        returned = performance.now();
        expect(answer.status).toBe(200);
      });
      await activated;
      // The token: right after activate returned, ask A for at least that version.
      const withToken = await ask({ verity_min_version: version });
      expect(withToken.status).toBe(200);
      if (withToken.body.decision !== expected) staleWithToken++;
      await Promise.all(callers);
      windows.push(Number.isFinite(lastOld) ? lastOld - returned : 0);
    }
    console.log(`freshness: stale window after activate returned on B, seen on A (${TRIALS} trials): p50 ${percentile(windows, 0.5).toFixed(1)} ms, max ${Math.max(...windows).toFixed(1)} ms; old answers with verity_min_version: ${staleWithToken}`);
    expect(staleWithToken).toBe(0);
    // The healthy-link window is bounded by the staleness bound too.
    expect(Math.max(...windows)).toBeLessThan(MAX_STALENESS_MS);
  }, 60_000);

  it('paused link: after a push through B, A answers no allow past maxStalenessMs, fails /readyz, and recovers to deny', async () => {
    await activate(1);
    const settledAfter = Date.now();
    await eventually(async () => expect((await ask()).body.decision).toBe(true), 5000);
    // Wait until A has confirmed delivery of everything up to that activate (its notification
    // would otherwise land after the pause began and send A to the store, into the blackhole).
    await eventually(async () => {
      const ready = await pdpA.get('/readyz');
      expect(ready.status).toBe(200);
      expect(Date.parse(ready.body.freshness.confirmedAt)).toBeGreaterThan(settledAfter);
    }, 5000);
    expect((await ask()).body.decision).toBe(true);
    // A PEP following A's change stream.
    const stream = await openEventStream(`${replicaA.url}/tenants/acme/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(stream.status).toBe(200);

    proxy.mode('blackhole');
    const pushed = await activate(2);
    expect(pushed.status).toBe(200);
    const returned = Date.now();

    // Ask A continuously for 2.5 bounds; record when each allow was sent.
    const answers: Array<{ sent: number; status: number; decision?: boolean; code?: string; retryAfter: string | null }> = [];
    while (Date.now() - returned < MAX_STALENESS_MS * 2.5) {
      const sent = Date.now();
      const answer = await ask();
      answers.push({ sent, status: answer.status, decision: answer.body?.decision, code: answer.body?.code, retryAfter: answer.headers.get('retry-after') });
    }
    const allows = answers.filter((a) => a.status === 200 && a.decision === true);
    const lateAllows = allows.filter((a) => a.sent > returned + MAX_STALENESS_MS);
    const lastAllow = allows.length === 0 ? null : Math.max(...allows.map((a) => a.sent)) - returned;
    console.log(`freshness: partition: ${answers.length} answers from A in ${(MAX_STALENESS_MS * 2.5).toFixed(0)} ms after B's activate returned; ${allows.length} allows, last sent ${lastAllow ?? '-'} ms after; codes ${[...new Set(answers.map((a) => a.code ?? a.status))].join(',')}`);
    expect(lateAllows).toEqual([]);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused.filter((a) => a.code === 'ERR_POLICY_STALE').length).toBeGreaterThan(0);
    for (const a of refused) {
      // Stale; or, for a decision that needed the store (a cache entry dropped just before the
      // pause), its deadline or the store's timeout; or its audit record could not be committed
      // (durable audit, the default): every refusal fails closed.
      expect(a.status).toBe(503);
      expect(['ERR_POLICY_STALE', 'ERR_DEADLINE_EXCEEDED', 'ERR_STORE_UNAVAILABLE', 'ERR_AUDIT_UNAVAILABLE']).toContain(a.code);
      expect(a.retryAfter).toMatch(/^[0-9]+$/);
    }
    const ready = await pdpA.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.fresh).toBe(false);
    expect(ready.body.freshness.ageMs).toBeGreaterThan(MAX_STALENESS_MS);
    expect((await pdpA.get('/healthz')).status).toBe(200);
    // Neither a bundle for local PEPs nor a change stream comes from a stale replica: the stream
    // that was open has ended, a new one is refused.
    const bundle = await replicaA.admin.get('/tenants/acme/bundle');
    expect(bundle.status).toBe(503);
    // Stale, or (when its credential check reaches the paused store first, or the admin
    // decision's audit record cannot be committed) unavailable.
    expect(['ERR_POLICY_STALE', 'ERR_STORE_UNAVAILABLE', 'ERR_AUDIT_UNAVAILABLE']).toContain(bundle.body.code);
    await expect(stream.next('change', 5000)).rejects.toThrow(/ended/);
    const newStream = await replicaA.admin.get('/tenants/acme/changes');
    expect(newStream.status).toBe(503);
    expect(['ERR_POLICY_STALE', 'ERR_AUDIT_UNAVAILABLE']).toContain(newStream.body.code);

    // The link returns: A answers again within 10 s, and answers deny.
    proxy.mode('pass');
    const back = Date.now();
    await eventually(async () => {
      const answer = await ask();
      expect(answer.status).toBe(200);
      expect(answer.body.decision).toBe(false);
    }, 10_000, 50);
    console.log(`freshness: A answered deny ${Date.now() - back} ms after the link returned`);
    await eventually(async () => expect((await pdpA.get('/readyz')).body.checks.fresh).toBe(true), 10_000, 50);
  }, 60_000);
});
