/**
 * A child process for e2e/store-faults.pg.test.ts: cuts a PostgreSQL connection (through the fault
 * proxy) in one of the ways that used to kill the process, and prints one JSON line saying how
 * the driver answered. An unhandled 'error' event exits the child with a non-zero code instead,
 * which is what the test looks for: a crash cannot be caught from inside the crashing process.
 *
 * Usage: node --import @verity/cli/loader e2e/helpers/store-fault-child.ts <in-transaction|between-queries|idle-in-pool>
 */
import pg from 'pg';
import { createPostgresDatabase, type Database } from '@verity/store';
import { eventually } from './eventually.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { testDatabaseUrl } from './postgres.js';

const SLEEP_SQL = 'SELECT pg_sleep(3) AS slept';

/** Resolves once PostgreSQL reports `sql` running (seen over a connection outside the proxy). */
async function waitUntilRunning(sql: string): Promise<void> {
  const observer = new pg.Client({ connectionString: testDatabaseUrl() });
  await observer.connect();
  try {
    await eventually(async () => {
      const { rows } = await observer.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1 AND state = 'active'", [sql]);
      if ((rows[0] as { n: number }).n < 1) throw new Error(`not running yet: ${sql}`);
    }, 10_000);
  } finally {
    await observer.end();
  }
}

function codeOf(outcome: unknown): string {
  if (outcome instanceof Error) return (outcome as { code?: string }).code ?? `no code: ${outcome.message}`;
  return 'resolved';
}

/** What the driver did when the link was reset, and whether it worked again after. */
async function run(scenario: string, db: Database, proxy: FaultProxy): Promise<{ failed: string; recovered: boolean }> {
  let failed: string;
  if (scenario === 'in-transaction') {
    const pending = db.transaction((tx) => tx.query(SLEEP_SQL)).then(
      () => null,
      (error: unknown) => error,
    );
    await waitUntilRunning(SLEEP_SQL);
    proxy.mode('reset');
    failed = codeOf(await pending);
  } else if (scenario === 'between-queries') {
    let reachedGap!: () => void;
    let leaveGap!: () => void;
    const inGap = new Promise<void>((resolve) => (reachedGap = resolve));
    const gap = new Promise<void>((resolve) => (leaveGap = resolve));
    const pending = db
      .transaction(async (tx) => {
        await tx.query('SELECT 1');
        reachedGap();
        await gap;
        await tx.query('SELECT 2');
      })
      .then(
        () => null,
        (error: unknown) => error,
      );
    await inGap;
    proxy.mode('reset');
    // The checked-out client hears the reset while nobody queries it; give the RST time to land.
    await eventually(async () => {
      if (proxy.connections() !== 0) throw new Error('still connected');
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    leaveGap();
    failed = codeOf(await pending);
  } else if (scenario === 'idle-in-pool') {
    await db.query('SELECT 1');
    proxy.mode('reset');
    failed = codeOf(await db.query('SELECT 1').then(() => null, (error: unknown) => error));
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  proxy.mode('pass');
  let recovered = false;
  await eventually(async () => {
    await db.query('SELECT 1');
    recovered = true;
  }, 10_000, 100);
  return { failed, recovered };
}

const scenario = process.argv[2] ?? '';
const target = new URL(testDatabaseUrl());
const proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
const db = await createPostgresDatabase({ connectionString: proxy.url(testDatabaseUrl()), max: 2 });
try {
  await db.query('SELECT 1');
  process.stdout.write(`${JSON.stringify(await run(scenario, db, proxy))}\n`);
} finally {
  await db.close();
  await proxy.close();
}
