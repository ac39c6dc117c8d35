/**
 * The scenario of `verity serve --workers 2`, on a PGlite data folder (e2e/cluster.test.ts) or on
 * PostgreSQL (e2e/cluster.pg.test.ts): writes through one worker decided on by every worker, a
 * worker killed under load and replaced, a stop under load that exits 0 with every answered
 * decision in the audit.
 */
import { execFileSync } from 'node:child_process';
import { fresh } from './fresh-request.js';
import { expect } from 'vitest';
import { eventually } from './eventually.js';
import { MAX_TIER_LABELS, OTHER_LABEL } from '@verity/server';
import { parseScrape } from './prometheus-text.js';
import { answeredAtLeast, readAudit, startLoad, startServeProcess, type ServeProcess } from './serve-process.js';
import { createClient, createTenantWithPolicies } from './verity.js';

/** Fresh connections per check: Node's cluster hands them to the workers in turn. */
const CONNECTIONS = 12;

/** The worker processes of a `verity serve --workers` primary. */
export function workerPids(primary: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .filter((line) => line.includes('cluster-worker'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}



const ASK = { subject: { type: 'User', id: 'alice' }, action: { name: 'view' }, resource: { type: 'Doc', id: 'd1' } };

/** The decisions of CONNECTIONS fresh connections for tenant `tenant`. */
async function decisions(url: string, tenant: string, token?: string): Promise<unknown[]> {
  const answers = await Promise.all(Array.from({ length: CONNECTIONS }, () => fresh(url, 'POST', `/tenants/${tenant}/access/v1/evaluation`, { body: ASK, token: token ?? null })));
  return answers.map((answer) => (answer.status === 200 ? answer.body.decision : answer.status));
}

export interface ClusterScenario {
  /** The store flags of both starts (`--data DIR` or `--database-url URL`). */
  storeArgs: string[];
  /**
   * `immediate`: a write that returned is decided on by every worker (PGlite: the primary relays
   * the store and a write waits for every worker). `bounded`: within the replicas' staleness
   * bound (PostgreSQL: each worker hears NOTIFY on its own connection), checked with a bounded retry.
   */
  consistency: 'immediate' | 'bounded';
  /** Every process started, for afterAll to kill. */
  processes: ServeProcess[];
}

/** Run the whole scenario (about 15–30 s of real processes). */
export async function runClusterScenario({ storeArgs, consistency, processes }: ClusterScenario): Promise<void> {
  const settled = (check: () => Promise<void>): Promise<void> => (consistency === 'immediate' ? check() : eventually(check, 10_000));
  const server = await startServeProcess(['--workers', '2', ...storeArgs]);
  processes.push(server);
  const primary = server.child.pid as number;
  await eventually(async () => void expect(workerPids(primary)).toHaveLength(2), 30_000);
  const admin = createClient(server.url);

  // Policy versions: each push answers, then every connection decides on the new version.
  await createTenantWithPolicies(admin, 'acme', 'permit(principal, action, resource);');
  // One token-signing key ring for every worker (sealed under one master key): the same JWKS from each.
  const jwks = await Promise.all(Array.from({ length: CONNECTIONS }, () => fresh(server.url, 'GET', '/tenants/acme/.well-known/jwks.json', { token: null })));
  expect(jwks.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(200));
  expect(new Set(jwks.map((answer) => JSON.stringify(answer.body))).size).toBe(1);
  expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(true));
  for (const [policies, expected] of [
    ['forbid(principal, action, resource);', false],
    ['permit(principal, action, resource);', true],
    ['permit(principal, action, resource) when { resource.open == true };', false],
  ] as const) {
    const pushed = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': policies } });
    expect(pushed.status).toBe(201);
    await settled(async () => void expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(expected)));
  }
  // Metrics: a scrape reaching any worker answers every worker's counts added up. The 4 rounds of
  // CONNECTIONS decisions above went to both workers; each scrape sees all of them.
  const scrapes = await Promise.all(Array.from({ length: CONNECTIONS }, () => fresh(server.url, 'GET', '/metrics')));
  expect(scrapes.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(200));
  const acmeDecisions = scrapes.map((answer) => {
    const decisions = parseScrape(answer.text).family('verity_decisions_total');
    return decisions.samples.filter((sample) => sample.labels.tenant === 'acme').reduce((sum, sample) => sum + sample.value, 0);
  });
  expect(acmeDecisions).toEqual(Array(CONNECTIONS).fill(4 * CONNECTIONS));
  // Caller-chosen tiers are bounded per worker (found by attack12): 80 distinct tiers spread over
  // both workers give at most 2 × 32 series of their own; the rest are counted as _other.
  const tiered = await Promise.all(Array.from({ length: 80 }, (_, i) => fresh(server.url, 'POST', '/tenants/acme/access/v1/evaluation', { body: ASK, headers: { 'x-verity-tier': `tier-${i}` } })));
  expect(tiered.every((answer) => answer.status === 200)).toBe(true);
  const tiers = parseScrape((await fresh(server.url, 'GET', '/metrics')).text).family('verity_decisions_total').samples.filter((sample) => sample.labels.tenant === 'acme');
  const own = new Set(tiers.map((sample) => sample.labels.tier).filter((tier) => tier !== 'none' && tier !== OTHER_LABEL));
  expect(own.size).toBeLessThanOrEqual(2 * MAX_TIER_LABELS);
  expect(own.size).toBeGreaterThan(MAX_TIER_LABELS);
  expect(tiers.filter((sample) => sample.labels.tier === OTHER_LABEL).reduce((sum, sample) => sum + sample.value, 0)).toBe(80 - own.size);
  // Entities: written through one worker, read by every one.
  const put = await admin.request('PUT', '/admin/v1/tenants/acme/entities/Doc/d1', { attrs: { open: true } });
  expect(put.status).toBe(200);
  await settled(async () => void expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(true)));

  // A revoked credential is refused by every worker once the revoke returns.
  const created = await admin.post('/admin/v1/credentials', { role: 'platform-admin', label: 'cluster-test' });
  expect(created.status).toBe(201);
  const listing = await Promise.all(Array.from({ length: CONNECTIONS }, () => fresh(server.url, 'POST', '/admin/v1/tenants', { body: { id: `t${Math.random().toString(36).slice(2, 10)}` }, token: created.body.token })));
  expect(listing.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(201));
  expect((await admin.post(`/admin/v1/credentials/${created.body.id}/revoke`)).status).toBe(200);
  await settled(async () => {
    const refused = await Promise.all(Array.from({ length: CONNECTIONS }, () => fresh(server.url, 'POST', '/admin/v1/tenants', { body: { id: `t${Math.random().toString(36).slice(2, 10)}` }, token: created.body.token })));
    expect(refused.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(401));
  });

  // A worker killed under load is replaced; decisions go on.
  const load = startLoad(server.url, 8);
  await answeredAtLeast(load, 300);
  const [victim] = workerPids(primary);
  process.kill(victim as number, 'SIGKILL');
  await eventually(async () => {
    const pids = workerPids(primary);
    expect(pids).toHaveLength(2);
    expect(pids).not.toContain(victim);
  }, 60_000);
  const before = load.answered.length;
  await answeredAtLeast(load, before + 300);

  // SIGTERM to the primary under load: every worker drains and writes its audit; exit 0.
  server.child.kill('SIGTERM');
  const stopped = await server.exited;
  await load.stop();
  expect(stopped.code, `${stopped.stderr}\n${stopped.stdout}`).toBe(0);
  expect(workerPids(primary)).toEqual([]);

  const again = await startServeProcess(storeArgs);
  processes.push(again);
  const audit = await readAudit(again.url, 'demo');
  expect(load.answered.filter((id) => !audit.ids.has(id))).toEqual([]);
  expect(audit.verified).toBe(true);
  again.child.kill('SIGTERM');
  expect((await again.exited).code).toBe(0);
}
