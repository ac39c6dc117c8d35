/**
 * `node --import @verity/cli/loader bench/audit-throughput.ts [--records N] [--tenants T] [--batch B] [--window W] [--compare] [--database-url URL] [--only memory|data|postgres] [--json]`:
 * sustained audit throughput through the server's audit writer (`createAuditWriter`) on embedded
 * PGlite (in memory and in a data folder, on its worker thread as `verity serve` opens it), for
 * each durability:
 *
 * - `batched`: the deciding thread enqueues as fast as it can; only the writer's backpressure
 *   (`maxQueue`) slows it.
 * - `durable`: group commit; like many concurrent decisions, the deciding thread keeps up to
 *   `--window` records waiting for their commit and waits for the oldest beyond that.
 *
 * Each run pushes a fixed number of records and reports records/s (first enqueue to the last
 * commit), the time spent inside `enqueue` per record, and the deciding thread's CPU time per
 * record over the whole run (enqueue, posting the batches, settling the waiting promises:
 * everything the audit costs the thread that decides; from /proc/self/task/<tid>/schedstat, so
 * other processes on the machine do not inflate it), and the CPU time of the store's own threads
 * per record (what bounds the rate: on PGlite one thread hashes and runs PostgreSQL-in-Wasm). At the end it checks that the store holds
 * exactly every record, in order, and that every tenant's chain verifies up to its head.
 *
 * `--database-url URL` adds the same runs on PostgreSQL (tenants `bench-<run>-t<n>` are created
 * in that database and left there).
 *
 * `--breakdown` only measures where a record's CPU time goes on PGlite, in this thread on a
 * throwaway in-memory database (process CPU time per record): the hash alone, the append as
 * shipped, the batch's JSON parsed by PostgreSQL alone, and the append without the table's six
 * secondary indexes.
 *
 * `--compare` adds the same runs with the records chained on the calling thread (the store
 * without the driver's `appendAudit`: canonical JSON, SHA-256 and one worker round trip per
 * statement on the deciding thread, as before issue 13).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createAuditChainVerifier, type DecisionRecord } from '@verity/core';
import { randomBytes } from 'node:crypto';
import { createPgliteWorkerDatabase, createPostgresDatabase, createStore, type Database, type Store } from '@verity/store';
import { createAuditWriter, type AuditDurability } from '../packages/server/src/audit-writer.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    tenants: { type: 'string', default: '1' },
    batch: { type: 'string', default: '2000' },
    window: { type: 'string', default: '4000' },
    json: { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    only: { type: 'string' },
    'database-url': { type: 'string' },
    breakdown: { type: 'boolean', default: false },
  },
});
const RECORDS = Number(args.records);
const TENANTS = Number(args.tenants);
const BATCH = Number(args.batch);
const WINDOW = Number(args.window);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** CPU time (ns) this thread has run, or null where /proc is not there. */
function threadCpuNs(): number | null {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

/** Tenant ids of this run (a PostgreSQL database may hold earlier runs' tenants). */
let runId = '';
const tenantId = (t: number): string => `bench-${runId}-t${t}`;

/** Threads of this process at start (the deciding thread, V8's and libuv's helpers). */
const initialThreads = new Set(listThreads());

function listThreads(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

/**
 * CPU time (ns) of every thread started since this process began, by thread id: the store's
 * threads (the PGlite worker, the PostgreSQL audit thread; nothing else starts threads here).
 */
function storeThreadsCpuNs(): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const tid of listThreads()) {
    if (initialThreads.has(tid)) continue;
    try {
      cpu.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return cpu;
}

/** A decision record as the pipeline builds one (distinct ids, a few principals and resources). */
function record(i: number): DecisionRecord {
  return {
    decisionId: `bench-${i.toString(36).padStart(8, '0')}`,
    time: new Date(1_764_000_000_000 + i).toISOString(),
    tenant: tenantId(i % TENANTS),
    requestId: `req-${i}`,
    tier: null,
    principal: { type: 'User', id: `user-${i % 97}` },
    action: { type: 'Action', id: i % 3 === 0 ? 'write' : 'read' },
    resource: { type: 'Document', id: `doc-${i % 1013}` },
    decision: i % 4 === 0 ? 'deny' : 'allow',
    reasons: i % 4 === 0 ? [] : ['policy0'],
    errors: [],
    policyVersion: 3,
    latencyUs: 120 + (i % 50),
  };
}

interface Row {
  store: string;
  durability: AuditDurability;
  chained: 'audit thread' | 'calling thread (before)';
  records: number;
  recordsPerSec: number;
  enqueueUs: number;
  threadCpuUsPerRecord: number | null;
  /** CPU of the store's own threads (PGlite worker or PostgreSQL audit thread) per record. */
  storeThreadCpuUsPerRecord: number | null;
  stored: number;
  chainOk: boolean;
}

type Kind = 'memory' | 'data folder' | 'postgres';

async function openStore(kind: Kind, folder: string | null, chainedHere: boolean): Promise<Store> {
  runId = randomBytes(4).toString('hex');
  const db: Database =
    kind === 'postgres' ? await createPostgresDatabase({ connectionString: args['database-url'] as string }) : await createPgliteWorkerDatabase(folder === null ? {} : { dataDir: folder });
  // Without the driver's appendAudit, the repository chains on this thread (the path before issue 13).
  if (chainedHere) delete (db as { appendAudit?: unknown }).appendAudit;
  const store = await createStore(db);
  for (let t = 0; t < TENANTS; t++) await store.tenants.create({ id: tenantId(t), name: tenantId(t), settings: {} });
  log(`  ${kind}: store open`);
  return store;
}

async function run(kind: Kind, durability: AuditDurability, chainedHere: boolean): Promise<Row> {
  const folder = kind === 'data folder' ? await mkdtemp(join(tmpdir(), 'verity-audit-bench-')) : null;
  const store = await openStore(kind, folder === null ? null : join(folder, 'data'), chainedHere);
  try {
    const writer = createAuditWriter(store, {
      durability,
      flushMs: 5,
      batchSize: BATCH,
      // batched: backpressure past this; durable: the window below stays under it.
      maxQueue: Math.max(4 * BATCH, 2 * WINDOW),
      maxLagMs: Number.POSITIVE_INFINITY,
      maxWaitMs: 120_000,
      onError: (error) => log(`  write failed: ${String(error)}`),
    });
    const records = Array.from({ length: RECORDS }, (_, i) => record(i));
    const cpu0 = threadCpuNs();
    const store0 = storeThreadsCpuNs();
    const started = performance.now();
    let inEnqueueMs = 0;
    const waiting: Array<Promise<void>> = [];
    let oldest = 0;
    for (let i = 0; i < RECORDS; ) {
      // A slice of decisions per event-loop turn, as a busy server takes them in.
      const t0 = performance.now();
      let backpressure: Promise<void> | undefined;
      for (const end = Math.min(RECORDS, i + 500); i < end && backpressure === undefined; i++) {
        const result = writer.enqueue(records[i] as DecisionRecord);
        if (durability === 'durable') waiting.push(result as Promise<void>);
        else backpressure = result;
      }
      inEnqueueMs += performance.now() - t0;
      if (backpressure) await backpressure;
      // durable: at most WINDOW decisions wait for their commit.
      while (waiting.length - oldest > WINDOW) await waiting[oldest++];
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(waiting.slice(oldest));
    await writer.close();
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = threadCpuNs();
    let storeCpuNs = 0;
    for (const [tid, ns] of storeThreadsCpuNs()) storeCpuNs += ns - (store0.get(tid) ?? 0);
    const { stored, chainOk } = await check(store);
    return {
      store: kind,
      durability,
      chained: chainedHere ? 'calling thread (before)' : 'audit thread',
      records: RECORDS,
      recordsPerSec: Math.round(RECORDS / seconds),
      enqueueUs: (inEnqueueMs * 1000) / RECORDS,
      threadCpuUsPerRecord: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / 1000 / RECORDS,
      storeThreadCpuUsPerRecord: cpu0 === null ? null : storeCpuNs / 1000 / RECORDS,
      stored,
      chainOk: chainOk && stored === RECORDS,
    };
  } finally {
    await store.close();
    if (folder !== null) await rm(folder, { recursive: true, force: true });
  }
}

/** Every record stored once, in enqueue order per tenant, and every chain verifying up to its head. */
async function check(store: Store): Promise<{ stored: number; chainOk: boolean }> {
  let stored = 0;
  let ok = true;
  for (let t = 0; t < TENANTS; t++) {
    const tenant = tenantId(t);
    const verifier = createAuditChainVerifier();
    let after = 0;
    let expected = t;
    for (;;) {
      const page = await store.audit.readChain(tenant, after, 10_000);
      if (page.length === 0) break;
      verifier.push(page);
      for (const event of page) {
        if (event.decisionId !== record(expected).decisionId) ok = false;
        expected += TENANTS;
      }
      stored += page.length;
      after = (page.at(-1) as { seq: number }).seq;
    }
    verifier.end(await store.audit.head(tenant));
    if (verifier.problems.length > 0) {
      log(`  ${tenant}: chain problems ${JSON.stringify(verifier.problems.slice(0, 5))}`);
      ok = false;
    }
  }
  return { stored, chainOk: ok };
}

/** `--breakdown`: process CPU µs per record of each part, PGlite on this thread. */
async function breakdown(): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { wrapPglite } = await import('@verity/store');
  const { computeAuditHash } = await import('@verity/core');
  const { appendAuditRecords } = await import('../packages/store/src/audit-append.mjs');
  const cpuUs = (): number => {
    const usage = process.cpuUsage();
    return usage.user + usage.system;
  };
  const pglite = await PGlite.create();
  await createStore(wrapPglite(pglite));
  runId = 'breakdown';
  await pglite.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [tenantId(0)]);
  const n = Math.min(RECORDS, 40_000);
  let next = 0;
  const batches = (): DecisionRecord[][] => Array.from({ length: Math.ceil(n / BATCH) }, () => Array.from({ length: BATCH }, () => record(TENANTS * next++)));
  const report = (part: string, us: number): void => void process.stdout.write(`| ${part} | ${us.toFixed(1)} |\n`);
  process.stdout.write(`PGlite on this thread, ${n} records per part, batches of ${BATCH}\n\n| part | CPU µs per record |\n|---|---:|\n`);
  const sample = batches().flat();
  let at = cpuUs();
  let hash = '';
  for (let i = 0; i < sample.length; i++) hash = computeAuditHash(sample[i] as DecisionRecord, i + 1, hash);
  report('computeAuditHash alone (canonical JSON + SHA-256)', (cpuUs() - at) / sample.length);
  const append = async (part: string): Promise<void> => {
    const work = batches();
    at = cpuUs();
    for (const batch of work) await appendAuditRecords((run) => pglite.transaction((tx) => run(tx)), batch, false);
    report(part, (cpuUs() - at) / (work.length * BATCH));
  };
  await append('append as shipped (hash, JSON, BEGIN … 5 statements … COMMIT)');
  const json = batches().map((batch) => JSON.stringify(batch.map((r, i) => ({ seq: i, decision_id: r.decisionId, time: r.time, request_id: r.requestId, principal_json: r.principal, action_json: r.action, resource_json: r.resource, decision: r.decision, reasons: r.reasons, errors: r.errors, policy_version: r.policyVersion, latency_us: r.latencyUs, prev_hash: hash, hash }))));
  at = cpuUs();
  for (const text of json) await pglite.query('SELECT count(*) FROM jsonb_to_recordset($1::jsonb) AS e(seq bigint, decision_id text, time text, request_id text, principal_json jsonb, action_json jsonb, resource_json jsonb, decision text, reasons jsonb, errors jsonb, policy_version integer, latency_us double precision, prev_hash text, hash text)', [text]);
  report('of which: PostgreSQL parsing the batch (jsonb_to_recordset alone)', (cpuUs() - at) / (json.length * BATCH));
  const indexes = (await pglite.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_events' AND indexname NOT LIKE '%pkey'")).rows.map((row) => row.indexname);
  for (const index of indexes) await pglite.exec(`DROP INDEX ${index}`);
  await append(`append without the ${indexes.length} secondary indexes`);
  await pglite.close();
}

const rows: Row[] = [];
if (args.breakdown) {
  await breakdown();
  process.exit(0);
}
const kinds = ([...(['memory', 'data folder'] as const), ...(args['database-url'] === undefined ? [] : (['postgres'] as const))] as Kind[]).filter(
  (kind) => args.only === undefined || kind.startsWith(args.only),
);
for (const kind of kinds) {
  for (const durability of ['batched', 'durable'] as const) {
    for (const chainedHere of args.compare ? [false, true] : [false]) {
      log(`${kind}, ${durability}, chained on the ${chainedHere ? 'calling thread' : 'audit thread'}: ${RECORDS} records…`);
      const row = await run(kind, durability, chainedHere);
      log(`  ${row.recordsPerSec} records/s, ${row.enqueueUs.toFixed(2)} µs in enqueue, ${row.threadCpuUsPerRecord?.toFixed(2) ?? '-'} µs deciding-thread CPU and ${row.storeThreadCpuUsPerRecord?.toFixed(1) ?? '-'} µs store-thread CPU per record, ${row.stored} stored, chain ${row.chainOk ? 'ok' : 'NOT OK'}`);
      rows.push(row);
    }
  }
}

if (args.json) {
  process.stdout.write(`${JSON.stringify({ records: RECORDS, tenants: TENANTS, batch: BATCH, window: WINDOW, rows }, null, 2)}\n`);
} else {
  const lines = [
    `${RECORDS} records, ${TENANTS} tenant(s), batches of up to ${BATCH}, durable window ${WINDOW}`,
    '',
    '| store | durability | chained and written on | records/s | µs in enqueue per record | deciding-thread CPU µs per record | store-thread CPU µs per record | stored | chain |',
    '|---|---|---|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.store} | ${r.durability} | ${r.chained} | ${r.recordsPerSec} | ${r.enqueueUs.toFixed(2)} | ${r.threadCpuUsPerRecord?.toFixed(2) ?? '-'} | ${r.storeThreadCpuUsPerRecord?.toFixed(1) ?? '-'} | ${r.stored} | ${r.chainOk ? 'verifies' : 'FAILED'} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
if (rows.some((r) => !r.chainOk)) process.exitCode = 1;
