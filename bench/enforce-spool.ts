/**
 * What the durable audit spool costs a local-mode PEP: decisions/s and latency of
 * `enforcer.enforce` on a local decision source whose shipper keeps records in memory
 * (`spoolDir: null`) or in the fsync'd spool (`spoolDir`), at 1 and 32 decisions in flight.
 * The PDP runs in a child process (in-memory store), so the PEP's event loop is its own.
 * Run: node --import @verity/cli/loader bench/enforce-spool.ts [--seconds 5]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditShipper, createEnforcer, createLocalDecisionSource } from '@verity/enforce';
import { startServer } from '@verity/server';
import { LOADER_EXEC_ARGV } from './ts-worker.js';

const TENANT = 'bench';
// The PDP child gets the parent's token through its environment (never argv or a log).
const ADMIN_TOKEN = process.env.BENCH_ADMIN_TOKEN ?? `vrt_${randomBytes(32).toString('base64url')}`;
const THIS_FILE = fileURLToPath(import.meta.url);
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;

async function runPdp(): Promise<void> {
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: null, adminToken: ADMIN_TOKEN, print: () => {}, logLevel: 'warn' });
  process.on('message', () => void server.close().then(() => process.exit(0)));
  process.on('disconnect', () => process.exit(0));
  process.send?.({ url: server.url });
}

function startPdp(): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = fork(THIS_FILE, ['--pdp'], { execArgv: [...LOADER_EXEC_ARGV], env: { ...process.env, BENCH_ADMIN_TOKEN: ADMIN_TOKEN }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('message', (message: { url: string }) => resolve({ url: message.url, child }));
  });
}

async function admin(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Count fsyncs (FileHandle.datasync) to report how many records share one. */
async function countSyncs(): Promise<() => number> {
  const probe = await open(join(tmpdir(), `verity-bench-probe-${process.pid}`), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  await rm(join(tmpdir(), `verity-bench-probe-${process.pid}`), { force: true });
  const original = proto.datasync;
  let syncs = 0;
  proto.datasync = function (this: unknown) {
    syncs += 1;
    return original.call(this);
  };
  return () => syncs;
}

interface Row {
  mode: string;
  inFlight: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
  recordsPerFsync: string;
}

async function measure(mode: 'memory' | 'spool', inFlight: number, url: string, credentials: { pepLocal: string; pep: string; pinned: string[] }, syncs: () => number): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-bench-spool-'));
  const shipper = createAuditShipper({ url, tenant: TENANT, credential: credentials.pep, spoolDir: mode === 'spool' ? join(dir, 'spool') : null });
  const source = createLocalDecisionSource({ url, tenant: TENANT, credential: credentials.pepLocal, bundleKeyThumbprints: credentials.pinned, shipper, follow: false });
  await source.ready;
  const enforcer = createEnforcer({ source, tenant: TENANT, anyAudience: true, tier: 'bench-spool' });
  const input = { subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } };
  const run = async (ms: number, samples: number[] | null): Promise<number> => {
    let count = 0;
    const until = performance.now() + ms;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const result = await enforcer.enforce(input);
          if (result.status !== 200) throw new Error(`bench decision refused: ${result.error?.code ?? result.status}`);
          samples?.push((performance.now() - started) * 1000);
          count += 1;
        }
      }),
    );
    return count;
  };
  await run(1000, null);
  const samples: number[] = [];
  const syncsBefore = syncs();
  const started = performance.now();
  const count = await run(SECONDS * 1000, samples);
  const elapsed = (performance.now() - started) / 1000;
  const synced = syncs() - syncsBefore;
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  await shipper.flush();
  await source.close();
  await shipper.close();
  await rm(dir, { recursive: true, force: true });
  return { mode, inFlight, perSecond: Math.round(count / elapsed), p50Us: Math.round(at(0.5)), p99Us: Math.round(at(0.99)), recordsPerFsync: synced === 0 ? '-' : (count / synced).toFixed(1) };
}

async function main(): Promise<void> {
  const pdp = await startPdp();
  try {
    await admin(pdp.url, 'POST', '/admin/v1/tenants', { id: TENANT });
    await admin(pdp.url, 'POST', `/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': '@id("read") permit(principal, action == Action::"read", resource);' } });
    const pinned = ((await admin(pdp.url, 'GET', `/tenants/${TENANT}/bundle/keys`)) as { thumbprints: string[] }).thumbprints;
    const pepLocal = ((await admin(pdp.url, 'POST', '/admin/v1/credentials', { role: 'pep-local', tenant: TENANT })) as { token: string }).token;
    const pep = ((await admin(pdp.url, 'POST', '/admin/v1/credentials', { role: 'pep', tenant: TENANT })) as { token: string }).token;
    const syncs = await countSyncs();
    const rows: Row[] = [];
    for (const inFlight of [1, 32]) {
      for (const mode of ['memory', 'spool'] as const) {
        process.stderr.write(`${mode}, ${inFlight} in flight…\n`);
        rows.push(await measure(mode, inFlight, pdp.url, { pepLocal, pep, pinned }, syncs));
      }
    }
    console.log('| shipper | in flight | decisions/s | p50 µs | p99 µs | records per fsync |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const row of rows) console.log(`| ${row.mode === 'spool' ? '`spoolDir` (fsync\'d)' : '`spoolDir: null` (memory)'} | ${row.inFlight} | ${row.perSecond} | ${row.p50Us} | ${row.p99Us} | ${row.recordsPerFsync} |`);
  } finally {
    pdp.child.send('close');
  }
}

if (process.argv.includes('--pdp')) await runPdp();
else await main();
