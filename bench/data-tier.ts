/**
 * `node --import @verity/cli/loader bench/data-tier.ts [--json]`: what a receipt-checked row-level security
 * policy (`tenant_id = (SELECT verity.tenant_for(…))`, the receipt verified in SQL) costs per
 * query against plain RLS on a tenant setting (`tenant_id = current_setting('verity.tenant',
 * true)`), returning 1 and 10,000 rows of the tenant, on PostgreSQL (BENCH_DATABASE_URL or
 * VERITY_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; a throwaway
 * database and roles, dropped after) and on PGlite. See bench/RESULTS.md.
 *
 * Each sample is one transaction as the SDK helper runs it: BEGIN (PGlite: SET LOCAL ROLE),
 * `set_config('verity.tenant', $1, true)` or `SELECT verity.bind($1)`, `SELECT id, payload FROM
 * <table>` (all the tenant's rows, fetched), COMMIT. Plain and receipt samples alternate so
 * drift hits both alike. Two timings of the same runs:
 * - statement: the SELECT alone, binding done: where the policy's receipt check runs (once per
 *   statement, as an InitPlan; nothing is cached across statements);
 * - transaction: all four round trips, the binding included (verity.bind verifies once more).
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { installDataTier, syncReceiptKeys, type SqlClient } from '@verity/data-tier';
import { percentile } from './stats.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 8000);
const BASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.VERITY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const APP_ROLE = `verity_bench_app_${randomBytes(4).toString('hex')}`;

const SCHEMA = [
  // The same rows twice: 10,000 of tenant "big", 1 of "one", 10,000 of "other".
  `CREATE TABLE plain_rows (id text PRIMARY KEY, tenant_id text NOT NULL, payload text NOT NULL)`,
  `INSERT INTO plain_rows SELECT 'r' || i, CASE WHEN i <= 10000 THEN 'big' WHEN i = 10001 THEN 'one' ELSE 'other' END, md5(i::text) FROM generate_series(1, 20001) i`,
  `CREATE INDEX ON plain_rows (tenant_id)`,
  `CREATE TABLE receipt_rows AS SELECT * FROM plain_rows`,
  `ALTER TABLE receipt_rows ADD PRIMARY KEY (id)`,
  `CREATE INDEX ON receipt_rows (tenant_id)`,
  `ANALYZE plain_rows`,
  `ANALYZE receipt_rows`,
  `ALTER TABLE plain_rows ENABLE ROW LEVEL SECURITY`,
  `ALTER TABLE plain_rows FORCE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON plain_rows USING (tenant_id = current_setting('verity.tenant', true))`,
  `SELECT verity.enable_rls('receipt_rows', 'tenant_id')`,
  `GRANT SELECT ON plain_rows, receipt_rows TO ${APP_ROLE}`,
];

interface Backend {
  name: string;
  /** The app's connection (the app role: logged in as, or entered with SET LOCAL ROLE). */
  app: SqlClient;
  /** Statements starting each transaction after BEGIN (PGlite: the role). */
  begin: readonly string[];
  close(): Promise<void>;
}

interface BenchKey {
  kid: string;
  secret: Buffer;
}

/** Install, create both tables, and give each tenant a key; the keys by tenant. */
async function setUp(owner: SqlClient): Promise<Map<string, BenchKey>> {
  await installDataTier(owner, { appRoles: [APP_ROLE] });
  for (const statement of SCHEMA) await owner.query(statement);
  const keys = new Map<string, BenchKey>();
  for (const tenant of ['big', 'one']) {
    const key = { kid: randomBytes(16).toString('base64url'), secret: randomBytes(32) };
    await syncReceiptKeys(owner, tenant, [{ kid: key.kid, secret: key.secret.toString('base64url'), verifyUntil: null }]);
    keys.set(tenant, key);
  }
  return keys;
}

async function postgresBackend(): Promise<Backend & { keys: Map<string, BenchKey> }> {
  const name = `verity_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = (user?: string) => {
    const u = new URL(BASE_URL);
    u.pathname = `/${name}`;
    if (user !== undefined) u.username = user;
    return u.toString();
  };
  const owner = new pg.Client({ connectionString: url() });
  await owner.connect();
  const keys = await setUp(owner);
  await owner.end();
  const app = new pg.Client({ connectionString: url(APP_ROLE) });
  await app.connect();
  return {
    name: 'PostgreSQL',
    app,
    begin: [],
    keys,
    async close() {
      await app.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${APP_ROLE}`);
      await admin.end();
    },
  };
}

async function pgliteBackend(): Promise<Backend & { keys: Map<string, BenchKey> }> {
  const db = new PGlite({ extensions: { pgcrypto } });
  await db.query(`CREATE ROLE ${APP_ROLE} NOLOGIN`);
  const keys = await setUp(db);
  return { name: 'PGlite', app: db, begin: [`SET LOCAL ROLE ${APP_ROLE}`], keys, close: () => db.close() };
}

async function mint(keys: Map<string, BenchKey>, tenant: string): Promise<string> {
  const key = keys.get(tenant) as BenchKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: `https://pdp.example/tenants/${tenant}`, tenant, principal: 'User::"bench"', action: 'read', resource_type: 'Table', resource_id: 'rows', decision_id: 'd-bench', policy_version: 1, jti: 'd-bench', iat: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: key.kid })
    .sign(key.secret);
}

interface Row {
  backend: string;
  measured: 'statement' | 'transaction';
  rows: number;
  plainP50Us: number;
  plainP95Us: number;
  receiptP50Us: number;
  receiptP95Us: number;
  /** receipt p50 / plain p50. */
  ratio: number;
  samples: number;
}

/** Alternate `plain` and `receipt` (each resolving to the µs it measured) until `n` pairs or the budget. */
async function alternate(plain: () => Promise<number>, receipt: () => Promise<number>, n: number): Promise<[Float64Array, Float64Array]> {
  for (let i = 0; i < 20; i++) {
    await plain();
    await receipt();
  }
  const a: number[] = [];
  const b: number[] = [];
  const deadline = Date.now() + BUDGET_MS;
  while (a.length < n && Date.now() < deadline) {
    a.push(await plain());
    b.push(await receipt());
  }
  return [Float64Array.from(a).sort(), Float64Array.from(b).sort()];
}

const sinceUs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1000;

async function measureBackend(backend: Backend & { keys: Map<string, BenchKey> }): Promise<Row[]> {
  const { app } = backend;
  const rows: Row[] = [];
  for (const [tenant, expected] of [['one', 1], ['big', 10_000]] as const) {
    const receipt = await mint(backend.keys, tenant);
    const bindPlain = () => app.query("SELECT set_config('verity.tenant', $1, true)", [tenant]);
    const bindReceipt = () => app.query('SELECT verity.bind($1)', [receipt]);
    const select = async (table: string) => {
      const result = await app.query(`SELECT id, payload FROM ${table}`);
      if (result.rows.length !== expected) throw new Error(`${backend.name} ${table}: ${result.rows.length} rows, expected ${expected}`);
    };
    // One transaction per sample, bound as the SDK helper does; `measured` says what is timed.
    const transaction = (bind: () => Promise<unknown>, table: string, measured: Row['measured']) => async () => {
      const began = process.hrtime.bigint();
      await app.query('BEGIN');
      try {
        for (const statement of backend.begin) await app.query(statement);
        await bind();
        const selected = process.hrtime.bigint();
        await select(table);
        const statementUs = sinceUs(selected);
        await app.query('COMMIT');
        return measured === 'statement' ? statementUs : sinceUs(began);
      } catch (error) {
        await app.query('ROLLBACK');
        throw error;
      }
    };
    const n = expected === 1 ? 4000 : 400;
    for (const measured of ['statement', 'transaction'] as const) {
      log(`${backend.name}, ${expected} rows, ${measured}…`);
      const [plain, receiptSamples] = await alternate(transaction(bindPlain, 'plain_rows', measured), transaction(bindReceipt, 'receipt_rows', measured), n);
      rows.push(row(backend.name, measured, expected, plain, receiptSamples));
    }
  }
  return rows;
}

function row(backend: string, measured: Row['measured'], rows: number, plain: Float64Array, receipt: Float64Array): Row {
  const plainP50Us = percentile(plain, 0.5);
  const receiptP50Us = percentile(receipt, 0.5);
  return { backend, measured, rows, plainP50Us, plainP95Us: percentile(plain, 0.95), receiptP50Us, receiptP95Us: percentile(receipt, 0.95), ratio: receiptP50Us / plainP50Us, samples: plain.length };
}

async function explain(backend: Backend & { keys: Map<string, BenchKey> }): Promise<string> {
  const receipt = await mint(backend.keys, 'big');
  await backend.app.query('BEGIN');
  try {
    for (const statement of backend.begin) await backend.app.query(statement);
    await backend.app.query('SELECT verity.bind($1)', [receipt]);
    const { rows } = await backend.app.query('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, payload FROM receipt_rows');
    return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  } finally {
    await backend.app.query('ROLLBACK');
  }
}

async function main(): Promise<void> {
  const results: Row[] = [];
  const plans: Record<string, string> = {};
  for (const make of [postgresBackend, pgliteBackend]) {
    const backend = await make();
    try {
      plans[backend.name] = await explain(backend);
      results.push(...(await measureBackend(backend)));
    } finally {
      await backend.close();
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ command: 'node --import @verity/cli/loader bench/data-tier.ts', budgetMs: BUDGET_MS, rows: results, plans }, null, 2)}\n`);
    return;
  }
  const fixed = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  process.stdout.write('| backend | measured | rows | plain RLS p50 µs | p95 µs | receipt RLS p50 µs | p95 µs | receipt / plain (p50) | samples each |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n');
  for (const r of results) {
    process.stdout.write(`| ${r.backend} | ${r.measured} | ${r.rows} | ${fixed(r.plainP50Us, 1)} | ${fixed(r.plainP95Us, 1)} | ${fixed(r.receiptP50Us, 1)} | ${fixed(r.receiptP95Us, 1)} | ${fixed(r.ratio, 2)}× | ${r.samples} |\n`);
  }
  for (const [name, plan] of Object.entries(plans)) process.stdout.write(`\n${name}, EXPLAIN ANALYZE of the 10,000-row receipt query:\n\n\`\`\`\n${plan}\n\`\`\`\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
