/**
 * Long operations and start-up do not hold the event loop: a real `verity serve` on a PGlite
 * data folder with 100,000 audit records answers /healthz within 200 ms from the moment its port
 * is bound (every other route says 503 ERR_STARTING until it has started), and while it verifies
 * the whole chain. Run by `npm run test:alone` (vitest.alone.config.ts), one file at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDecisionRecord } from '@verity/core';
import { createPgliteDatabase, createStore } from '@verity/store';
import { startServer } from '@verity/server';
import { ADMIN_TOKEN } from './helpers/verity.js';

/** The number: verify over this many records must not stall /healthz. */
const RECORDS = 100_000;
const APPEND_BATCH = 5_000;
/** The bound every /healthz answer must meet (issue 9: "within 200 ms"). */
const HEALTHZ_BOUND_MS = 200;
/**
 * What a stall looks like, as opposed to the scheduler of a loaded 2-core box pausing a probe
 * (this file runs alone, `npm run test:alone`, but the box is shared): any answer past 1 s, or
 * more than 1 % of the answers past HEALTHZ_BOUND_MS (a held event loop delays every probe sent
 * meanwhile).
 */
const STALL_MS = 1000;
function expectNoStall(probes: ReadonlyArray<{ ms: number | null }>): void {
  const times = probes.flatMap((p) => (p.ms === null ? [] : [p.ms]));
  expect(Math.max(0, ...times)).toBeLessThan(STALL_MS);
  expect(times.filter((ms) => ms >= HEALTHZ_BOUND_MS).length).toBeLessThanOrEqual(Math.floor(times.length / 100));
}
const PROBE_EVERY_MS = 20;
const BIN = fileURLToPath(new URL('../packages/cli/bin/verity.mjs', import.meta.url));

let folder: string;
let dataDir: string;
let child: ChildProcess | undefined;
let url: string;

/** A port that was free a moment ago (the server must bind a known port: the test probes it before it says where it listens). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

interface Probe {
  /** Milliseconds from sending to the whole answer; null when the port refused (not bound yet). */
  ms: number | null;
  status?: number;
  body?: { code?: string };
  retryAfter?: string | null;
}

async function probe(target: string): Promise<Probe> {
  const started = performance.now();
  try {
    const response = await fetch(target, { signal: AbortSignal.timeout(10_000), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await response.text();
    return { ms: performance.now() - started, status: response.status, body: text === '' ? {} : (JSON.parse(text) as { code?: string }), retryAfter: response.headers.get('retry-after') };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return { ms: null };
    // An abort (10 s without an answer) counts as a probe that took that long.
    return { ms: performance.now() - started };
  }
}

/** Probe `target` every PROBE_EVERY_MS (one at a time) until `until` settles; every probe's outcome. */
async function probeWhile(target: string, until: Promise<unknown>): Promise<Probe[]> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => {});
  const probes: Probe[] = [];
  while (!done) {
    const next = performance.now() + PROBE_EVERY_MS;
    probes.push(await probe(target));
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return probes;
}

const maxMs = (probes: Probe[]) => Math.max(...probes.map((p) => p.ms ?? 0));

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-long-'));
  dataDir = join(folder, 'data');
  const started = Date.now();
  const store = await createStore(await createPgliteDatabase({ dataDir }));
  await store.tenants.create({ id: 'big', name: 'Big', settings: {} });
  for (let written = 0; written < RECORDS; written += APPEND_BATCH) {
    const records = Array.from({ length: APPEND_BATCH }, (_, i) =>
      buildDecisionRecord({
        tenant: 'big',
        principal: { type: 'User', id: `u${(written + i) % 97}` },
        action: { type: 'Action', id: 'read' },
        resource: { type: 'Doc', id: `d${written + i}` },
        decision: i % 3 === 0 ? 'deny' : 'allow',
        reasons: i % 3 === 0 ? [] : ['p0'],
        errors: [],
        policyVersion: 1,
        meta: { requestId: null, tier: null },
        time: Date.now(),
        latencyUs: 42,
      }),
    );
    await store.audit.append(records);
  }
  await store.close();
  console.log(`long-operations: wrote ${RECORDS} audit records in ${Date.now() - started} ms`);
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((done) => child?.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  }
  await rm(folder, { recursive: true, force: true });
});

describe('long operations on PGlite', () => {
  it('answers /healthz within 200 ms from the moment the port is bound; other routes say 503 ERR_STARTING until started', async () => {
    const port = await freePort();
    const spawned = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data', dataDir, '--demo', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VERITY_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    child = spawned;
    let stdout = '';
    let stderr = '';
    spawned.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const listening = new Promise<string>((resolve, reject) => {
      spawned.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const found = /Verity listening on (\S+)/.exec(stdout)?.[1];
        if (found) resolve(found);
      });
      spawned.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const [health, other] = await Promise.all([probeWhile(`${base}/healthz`, listening), probeWhile(`${base}/admin/v1/tenants`, listening)]);
    url = await listening;
    expect(url).toBe(base);

    const answered = health.filter((p) => p.ms !== null);
    console.log(`long-operations: start-up: ${health.length} /healthz probes, ${answered.length} answered before "listening", max ${Math.round(maxMs(health))} ms`);
    // The port is bound well before the store has opened: start-up is observable from outside.
    expect(answered.length).toBeGreaterThan(0);
    for (const p of answered) expect(p.status).toBe(200);
    expectNoStall(health);
    const starting = other.filter((p) => p.status === 503);
    expect(starting.length).toBeGreaterThan(0);
    for (const p of starting) {
      expect(p.body?.code).toBe('ERR_STARTING');
      expect(p.retryAfter).toBe('1');
    }
    // Before started, nothing but 503 (or a refused connection); after, the route answers.
    expect(other.every((p) => p.ms === null || p.status === 503 || p === other.at(-1))).toBe(true);
    expect((await probe(`${base}/admin/v1/tenants`)).status).toBe(200);
  }, 120_000);

  it('answers /healthz within 200 ms while it verifies 100,000 records', async () => {
    const started = performance.now();
    const verify = fetch(`${url}/admin/v1/tenants/big/audit/verify`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(110_000) }).then(
      async (response) => ({ status: response.status, body: (await response.json()) as { ok: boolean; checked: number; problems: unknown[] } }),
    );
    const probes = await probeWhile(`${url}/healthz`, verify);
    const result = await verify;
    console.log(`long-operations: verify of ${result.body.checked} records took ${Math.round(performance.now() - started)} ms; ${probes.length} /healthz probes, max ${Math.round(maxMs(probes))} ms`);
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ ok: true, problems: [] });
    expect(result.body.checked).toBeGreaterThanOrEqual(RECORDS);
    expect(probes.length).toBeGreaterThan(1);
    for (const p of probes) expect(p.status).toBe(200);
    expectNoStall(probes);
  }, 120_000);

  it('answers /healthz within 200 ms while the audit is paged 1,000 records at a time (from after=0, and filtered)', async () => {
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const paging = (async () => {
      let after = 0;
      let pages = 0;
      for (; pages < 30; pages++) {
        const page = (await (await fetch(`${url}/admin/v1/tenants/big/audit?after=${after}&limit=1000`, { headers })).json()) as { events: Array<{ seq: number }>; next: number | null };
        expect(page.events).toHaveLength(1000);
        expect(page.events[0]?.seq).toBe(after + 1);
        after = page.next ?? 0;
      }
      const filtered = (await (await fetch(`${url}/admin/v1/tenants/big/audit?after=50000&limit=1000&principal=${encodeURIComponent('User::"u5"')}&decision=deny`, { headers })).json()) as { events: Array<{ principal: { id: string }; decision: string }> };
      expect(filtered.events.length).toBeGreaterThan(0);
      expect(filtered.events.every((e) => e.principal.id === 'u5' && e.decision === 'deny')).toBe(true);
      return pages;
    })();
    const probes = await probeWhile(`${url}/healthz`, paging);
    console.log(`long-operations: paged ${await paging} × 1000 records; ${probes.length} /healthz probes, max ${Math.round(maxMs(probes))} ms`);
    for (const p of probes) expect(p.status).toBe(200);
    expectNoStall(probes);
  }, 120_000);

  it('rejects a start that fails after the port was bound, and frees the port', async () => {
    const port = await freePort();
    // A file where the data folder should be: the lock beside it is taken, then PGlite cannot open it.
    const notAFolder = join(folder, 'not-a-folder');
    await writeFile(notAFolder, 'x');
    await expect(startServer({ port, dataDir: notAFolder, adminToken: ADMIN_TOKEN, print: () => {}, logLevel: 'silent' })).rejects.toThrow();
    const again = createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((done) => again.close(done));
  }, 60_000);
});
