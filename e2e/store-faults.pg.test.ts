/**
 * The PostgreSQL driver under database faults, through a TCP fault proxy: a cut connection fails
 * the caller with ERR_STORE_UNAVAILABLE and never the process; a paused link fails within the
 * store timeout instead of hanging; the pool and the LISTEN connection come back by themselves.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, type Database, type Listener } from '@verity/store';
import { eventually } from './helpers/eventually.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { testDatabaseUrl } from './helpers/postgres.js';

const CHILD = fileURLToPath(new URL('./helpers/store-fault-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The store timeout of these tests: short, so a hang shows as a failure quickly. */
const TIMEOUT_MS = 1000;
/** Slack over the timeout for a loaded 2-core machine. */
const SLACK_MS = 1500;

let proxy: FaultProxy;
const opened: Database[] = [];

beforeAll(async () => {
  const target = new URL(testDatabaseUrl());
  proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
});

afterEach(async () => {
  proxy.mode('pass');
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

afterAll(async () => {
  await proxy.close();
});

async function open(): Promise<Database> {
  const db = await createPostgresDatabase({ connectionString: proxy.url(testDatabaseUrl()), max: 4, timeoutMs: TIMEOUT_MS });
  opened.push(db);
  return db;
}

/** `promise`'s rejection (or 'resolved'), and how long it took to settle. */
async function settle(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => 'resolved',
    (caught: unknown) => caught,
  );
  return { error, ms: Date.now() - started };
}

describe('a connection reset never ends the process', () => {
  // Each case runs in a child process: an unhandled 'error' event kills the process it happens in.
  for (const scenario of ['in-transaction', 'between-queries', 'idle-in-pool']) {
    it(`${scenario}: the caller gets ERR_STORE_UNAVAILABLE, the process lives on and reconnects`, async () => {
      const outcome = await promisify(execFile)(process.execPath, ['--import', '@verity/cli/loader', CHILD, scenario], { cwd: ROOT, env: process.env, timeout: 60_000 }).then(
        ({ stdout }) => ({ exitCode: 0, stdout, stderr: '' }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({ exitCode: error.code, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
      );
      expect(outcome.stderr).not.toMatch(/Unhandled 'error' event/);
      expect(outcome.exitCode).toBe(0);
      expect(JSON.parse(outcome.stdout.trim())).toEqual({ failed: 'ERR_STORE_UNAVAILABLE', recovered: true });
    });
  }
});

describe('queries through a faulty link', () => {
  it('a blackholed link fails queries and transactions within the store timeout, then recovers', async () => {
    const db = await open();
    await db.query('SELECT 1');
    proxy.mode('blackhole');
    // One on a pooled connection that stops answering, one on a connection that cannot open.
    const [query, transaction] = await Promise.all([settle(db.query('SELECT 1')), settle(db.transaction((tx) => tx.query('SELECT 1')))]);
    for (const { error, ms } of [query, transaction]) {
      expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(ms).toBeLessThan(TIMEOUT_MS * 2 + SLACK_MS);
    }
    proxy.mode('pass');
    await eventually(async () => expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual({ rows: [{ one: 1 }] }), 10_000, 100);
  });

  it('a query that outlives the store timeout fails and its connection is not reused', async () => {
    const db = await open();
    await expect(db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    // A reused connection would still be busy with the sleep (or answer it to the next query).
    for (let i = 0; i < 8; i++) expect(await db.query<{ i: number }>('SELECT $1::int AS i', [i])).toEqual({ rows: [{ i }] });
  });

  it('refused connections fail at once; the pool reconnects by itself after the link returns', async () => {
    const db = await open();
    await db.query('SELECT 1');
    proxy.mode('reset');
    proxy.mode('refuse');
    const refused = await settle(db.query('SELECT 1'));
    expect(refused.error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(refused.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    proxy.mode('pass');
    await eventually(async () => expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual({ rows: [{ one: 1 }] }), 10_000, 100);
  });

  it('SQL errors keep their SQLSTATE and their connection', async () => {
    const db = await open();
    await db.query('SELECT 1');
    const before = proxy.connections();
    await expect(db.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    await expect(db.transaction((tx) => tx.query('SELECT 1/0'))).rejects.toMatchObject({ code: '22012' });
    await db.query('SELECT 1');
    expect(proxy.connections()).toBe(before);
  });

  it('close() is bounded while the link is blackholed', async () => {
    const db = await createPostgresDatabase({ connectionString: proxy.url(testDatabaseUrl()), max: 4, timeoutMs: TIMEOUT_MS });
    await db.query('SELECT 1');
    const listener = await db.listen('verity_fault_close', () => {});
    proxy.mode('blackhole');
    const closing = settle(Promise.all([listener.close(), db.close()]));
    expect((await closing).ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });
});

describe('LISTEN through a faulty link', () => {
  async function listenTo(db: Database, channel: string): Promise<{ listener: Listener; payloads: string[] }> {
    const payloads: string[] = [];
    const listener = await db.listen(channel, (payload) => payloads.push(payload));
    return { listener, payloads };
  }

  it('notify round-trips through the listening connection', async () => {
    const db = await open();
    const { listener, payloads } = await listenTo(db, 'verity_fault_notify');
    try {
      await listener.notify('beat-1');
      await eventually(async () => expect(payloads).toEqual(['beat-1']));
    } finally {
      await listener.close();
    }
  });

  it('after a reset it reconnects with backoff, resyncs once, then delivers again', async () => {
    const db = await open();
    const { listener, payloads } = await listenTo(db, 'verity_fault_reset');
    try {
      proxy.mode('reset');
      // Reconnects are refused for a while: the listener retries with backoff meanwhile.
      await expect(listener.notify('lost')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      proxy.mode('pass');
      await eventually(async () => expect(payloads).toContain(''), 10_000, 50);
      // Written from another connection: proves LISTEN was re-issued, not just the socket reopened.
      await eventually(async () => {
        await db.query("SELECT pg_notify('verity_fault_reset', 'after')");
        expect(payloads).toContain('after');
      }, 5000, 200);
      expect(payloads.filter((payload) => payload === '')).toHaveLength(1);
      expect(payloads).not.toContain('lost');
    } finally {
      await listener.close();
    }
  });

  it('retries with growing delays while the database refuses, not in a tight loop', async () => {
    // A counting front before the proxy: each reconnect attempt is one accepted connection.
    let attempts = 0;
    const front = net.createServer((socket) => {
      attempts++;
      const upstream = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const url = new URL(testDatabaseUrl());
    url.hostname = '127.0.0.1';
    url.port = String((front.address() as net.AddressInfo).port);
    const db = await createPostgresDatabase({ connectionString: url.toString(), max: 1, timeoutMs: TIMEOUT_MS });
    opened.push(db);
    const { listener, payloads } = await listenTo(db, 'verity_fault_backoff');
    try {
      attempts = 0;
      proxy.mode('reset');
      // Delays of about 100, 200, 400, 800, 1600 ms (each 50–100 % of that): 4 to 6 tries in 2 s.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(attempts).toBeGreaterThanOrEqual(3);
      expect(attempts).toBeLessThanOrEqual(7);
      proxy.mode('pass');
      await eventually(async () => expect(payloads).toEqual(['']), 10_000, 50);
    } finally {
      await listener.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });

  it('reset() on a blackholed link returns at once and the listener comes back after the link does', async () => {
    const db = await open();
    const { listener, payloads } = await listenTo(db, 'verity_fault_forced');
    try {
      proxy.mode('blackhole');
      const started = Date.now();
      listener.reset();
      expect(Date.now() - started).toBeLessThan(100);
      const failed = await settle(listener.notify('held'));
      expect(failed.error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(failed.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      proxy.mode('pass');
      await eventually(async () => expect(payloads).toContain(''), 10_000, 50);
      await eventually(async () => {
        await listener.notify('back');
        expect(payloads).toContain('back');
      }, 5000, 200);
    } finally {
      await listener.close();
    }
  });
});
