/** Tests for `serve`: flags and env become startServer options; the server closes on abort. */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type RunningCluster, type RunningServer, type StartClusterOptions, type StartServerOptions, type StopOutcome } from '@verity/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIo } from '../command.js';
import { EXIT } from '../errors.js';
import { runCli } from '../run-cli.js';
import { createTestIo } from '../test-helpers.js';
import { createServeCommand } from './serve.js';

const STRONG = `vrt_${'Ab1-'.repeat(10)}`;

type Started = Omit<StartServerOptions, 'print' | 'logStream'>;

async function serveWith(argv: string[], io: Partial<CommandIo> = {}, stopped: StopOutcome = { unwritten: 0, spooled: null }) {
  const started: Started[] = [];
  const clustered: Array<Omit<StartClusterOptions, 'signal'>> = [];
  let closed = 0;
  const command = createServeCommand(async () => ({
    resolveConfig,
    startServer: async ({ print, logStream, signal, ...options }: StartServerOptions = {}) => {
      // The abort signal is handed on so a start still waiting for the store can be ended.
      expect(signal).toBeInstanceOf(AbortSignal);
      started.push(options);
      logStream?.write('{"msg":"log"}\n');
      print?.('notice');
      const config = resolveConfig(options);
      const running = { url: `http://${config.host}:${config.port}`, bootstrapToken: null, close: async () => (closed++, stopped) };
      return running as unknown as RunningServer; // The fake has no Fastify app or components.
    },
    startCluster: async ({ signal, ...options }: StartClusterOptions) => {
      expect(signal).toBeInstanceOf(AbortSignal);
      clustered.push(options);
      const { workers: _workers, execArgv: _execArgv, logTo: _logTo, ...serverOptions } = options;
      const config = resolveConfig(serverOptions);
      const running: RunningCluster = { url: `http://${config.host}:${config.port}`, pids: () => [], close: async () => (closed++, stopped) };
      return running;
    },
  }));
  const controller = new AbortController();
  const testIo = createTestIo({ cwd: '/srv', signal: controller.signal, ...io });
  const pending = runCli(['serve', ...argv], testIo, [command]);
  await new Promise((tick) => setTimeout(tick, 10));
  const closedBeforeAbort = closed;
  controller.abort();
  const code = await pending;
  return { code, started, clustered, closedBeforeAbort, closed, out: testIo.out(), err: testIo.err() };
}

/** A well-formed master key (32 bytes, base64url): the config refuses any other. */
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64url');

describe('verity serve', () => {
  it('--workers N (or VERITY_WORKERS, or auto) runs a cluster with the loader for its workers; one process without it', async () => {
    const two = await serveWith(['--workers', '2', '--data', 'd']);
    expect(two.code).toBe(EXIT.OK);
    expect(two.started).toEqual([]);
    expect(two.clustered).toHaveLength(1);
    expect(two.clustered[0]).toMatchObject({ workers: 2, dataDir: '/srv/d', logTo: 'stdout' });
    expect(two.clustered[0]?.execArgv?.[0]).toBe('--import');
    expect(two.clustered[0]?.execArgv?.[1]).toMatch(/loader[/\\]register\.mjs$/);
    expect(two.closed).toBe(1);
    expect((await serveWith([], { env: { VERITY_WORKERS: '3' } })).clustered[0]?.workers).toBe(3);
    expect((await serveWith(['--workers', 'auto'])).clustered[0]?.workers).toBe(availableParallelism());
    const json = await serveWith(['--workers', '1', '--json']);
    expect(json.clustered[0]).toMatchObject({ workers: 1, logTo: 'stderr' });
    expect((await serveWith([])).clustered).toEqual([]);
    for (const bad of ['0', 'many', '2.5', '5000']) {
      const refused = await serveWith(['--workers', bad]);
      expect(refused.code).toBe(EXIT.USAGE);
      expect(refused.err).toContain('--workers must be auto or a whole number');
      expect(refused.clustered).toEqual([]);
    }
  });

  it('starts with defaults and closes on abort', async () => {
    const result = await serveWith([]);
    expect(result.code).toBe(EXIT.OK);
    // Only what was given, and the data folder in the working folder: resolveConfig defaults the rest.
    expect(result.started).toEqual([{ dataDir: '/srv/.verity-data' }]);
    expect(result.out).toBe('{"msg":"log"}\nnotice\nVerity listening on http://127.0.0.1:8181\n');
    expect(result.err).toBe('Verity stopped\n');
    expect([result.closedBeforeAbort, result.closed]).toEqual([0, 1]);
  });

  it('passes every flag on', async () => {
    const argv = ['-p', '9000', '--host', '0.0.0.0', '--data', 'db', '--demo', '--open-decisions', '--default-tenant', 'acme', '--allow-insecure-identity-sources', '--json'];
    const argvMore = [...argv, '--public-url', 'https://pdp.example.com/', '--trust-proxy', '--log-level', 'debug'];
    const result = await serveWith(argvMore, { env: { VERITY_ADMIN_TOKEN: STRONG, VERITY_MASTER_KEY: MASTER_KEY } });
    expect(result.started).toEqual([
      { port: 9000, host: '0.0.0.0', demo: true, decisionAuth: 'open', allowInsecureIdentitySources: true, adminToken: STRONG, masterKey: MASTER_KEY, dataDir: '/srv/db', defaultTenant: 'acme', publicUrl: 'https://pdp.example.com/', trustProxy: true, logLevel: 'debug' },
    ]);
    // With --json, stdout holds only the result: notices and the log go to stderr.
    expect(JSON.parse(result.out)).toEqual({ url: 'http://0.0.0.0:9000' });
    expect(result.err).toContain('{"msg":"log"}\nnotice\n');
  });

  it('takes the public URL and log level from VERITY_PUBLIC_URL and VERITY_LOG_LEVEL', async () => {
    const result = await serveWith([], { env: { VERITY_PUBLIC_URL: 'https://pdp.example.com', VERITY_LOG_LEVEL: 'warn' } });
    expect(result.started[0]).toMatchObject({ publicUrl: 'https://pdp.example.com', logLevel: 'warn' });
  });

  it('takes the store timeout from --store-timeout or VERITY_STORE_TIMEOUT_MS', async () => {
    expect((await serveWith(['--store-timeout', '1500'])).started[0]).toMatchObject({ storeTimeoutMs: 1500 });
    expect((await serveWith([], { env: { VERITY_STORE_TIMEOUT_MS: '2500' } })).started[0]).toMatchObject({ storeTimeoutMs: 2500 });
  });

  it('takes the receipt lifetime from --receipt-ttl or VERITY_RECEIPT_TTL_SEC, refusing what is not 1 to 3600 with exit 2', async () => {
    expect((await serveWith(['--receipt-ttl', '45'])).started[0]).toMatchObject({ receiptTtlSec: 45 });
    expect((await serveWith([], { env: { VERITY_RECEIPT_TTL_SEC: '10' } })).started[0]).toMatchObject({ receiptTtlSec: 10 });
    for (const bad of ['0', '3601', 'abc', '1.5']) {
      const result = await serveWith(['--receipt-ttl', bad]);
      expect([result.code, result.started], bad).toEqual([EXIT.USAGE, []]);
    }
  });

  it('takes the workloads\' default trust domain from --trust-domain or VERITY_TRUST_DOMAIN, refusing a bad name with exit 2', async () => {
    expect((await serveWith(['--trust-domain', 'prod.example.com'])).started[0]).toMatchObject({ trustDomain: 'prod.example.com' });
    expect((await serveWith([], { env: { VERITY_TRUST_DOMAIN: 'staging.example' } })).started[0]).toMatchObject({ trustDomain: 'staging.example' });
    const bad = await serveWith(['--trust-domain', 'spiffe://Prod']);
    expect([bad.code, bad.started]).toEqual([EXIT.USAGE, []]);
  });

  it('takes the MaxMind database from --geoip-db or VERITY_GEOIP_DB, relative to the working folder', async () => {
    expect((await serveWith(['--geoip-db', 'geo/city.mmdb'])).started[0]).toMatchObject({ geoipDb: '/srv/geo/city.mmdb' });
    expect((await serveWith([], { env: { VERITY_GEOIP_DB: '/data/GeoLite2-City.mmdb' } })).started[0]).toMatchObject({ geoipDb: '/data/GeoLite2-City.mmdb' });
    expect((await serveWith([], { env: { VERITY_GEOIP_DB: '' } })).started[0]).not.toHaveProperty('geoipDb');
  });

  it('turns the web console off with --no-console or VERITY_CONSOLE=false; VERITY_CONSOLE must be true or false', async () => {
    expect((await serveWith(['--no-console'])).started[0]).toMatchObject({ console: false });
    expect((await serveWith([], { env: { VERITY_CONSOLE: 'false' } })).started[0]).toMatchObject({ console: false });
    expect((await serveWith([], { env: { VERITY_CONSOLE: 'true' } })).started[0]).toMatchObject({ console: true });
    expect((await serveWith([])).started[0]).not.toHaveProperty('console');
    const bad = await serveWith([], { env: { VERITY_CONSOLE: 'off' } });
    expect([bad.code, bad.started]).toEqual([EXIT.USAGE, []]);
    expect(bad.err).toContain("VERITY_CONSOLE must be true or false, got 'off'");
  });

  it('refuses a weak VERITY_ADMIN_TOKEN with exit 2, naming the rule', async () => {
    const result = await serveWith([], { env: { VERITY_ADMIN_TOKEN: 'secret' } });
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.started).toEqual([]);
    expect(result.err).toContain('at least 32 characters and 128 bits');
  });

  it('uses --database-url, or VERITY_DATABASE_URL / DATABASE_URL, instead of a data dir', async () => {
    const flag = await serveWith(['--database-url', 'postgres://a/b']);
    expect(flag.started[0]).toMatchObject({ databaseUrl: 'postgres://a/b' });
    expect(flag.started[0]).not.toHaveProperty('dataDir');
    const env = await serveWith([], { env: { DATABASE_URL: 'postgres://x/y', VERITY_DATABASE_URL: 'postgres://v/w' } });
    expect(env.started[0]).toMatchObject({ databaseUrl: 'postgres://v/w' });
  });

  it('passes the audit durability and stop flags on, or their env vars', async () => {
    const flags = await serveWith(['--audit-durability', 'batched', '--max-audit-lag', '250', '--audit-spool', 'spool', '--shutdown-timeout', '3000']);
    expect(flags.started[0]).toMatchObject({ auditDurability: 'batched', maxAuditLagMs: 250, auditSpoolDir: '/srv/spool', shutdownTimeoutMs: 3000 });
    const env = await serveWith([], { env: { VERITY_AUDIT_DURABILITY: 'batched', VERITY_MAX_AUDIT_LAG_MS: '50', VERITY_AUDIT_SPOOL: '/var/spool/verity', VERITY_SHUTDOWN_TIMEOUT_MS: '0' } });
    expect(env.started[0]).toMatchObject({ auditDurability: 'batched', maxAuditLagMs: 50, auditSpoolDir: '/var/spool/verity', shutdownTimeoutMs: 0 });
  });

  it('exits 1 naming the spool when a stop left audit records unwritten', async () => {
    const spooled = await serveWith([], {}, { unwritten: 3, spooled: '/srv/.verity-data.audit-spool/audit-1.jsonl' });
    expect(spooled.code).toBe(EXIT.CHECK_FAILED);
    expect(spooled.err).toBe('verity: stopped with 3 audit records not written to the store; spooled to /srv/.verity-data.audit-spool/audit-1.jsonl\n');
    const lost = await serveWith(['--database-url', 'postgres://a/b', '--audit-spool', 'x'], {}, { unwritten: 2, spooled: null });
    expect(lost.code).toBe(EXIT.CHECK_FAILED);
    expect(lost.err).toBe('verity: stopped with 2 audit records not written to the store; LOST (the spool in /srv/x could not be written)\n');
  });

  it.each([[['--audit-durability', 'eventual']], [['--max-audit-lag', '0']], [['--max-audit-lag', 'soon']], [['--shutdown-timeout', '-1']], [['--public-url', 'pdp.example.com']], [['--log-level', 'loud']], [['--port', 'http']], [['--port', '70000']], [['--store-timeout', '50']], [['--store-timeout', 'soon']], [['--default-tenant', 'Not Valid']], [['--data', 'd', '--database-url', 'postgres://a/b']]])('rejects %j with exit 2', async (argv) => {
    const result = await serveWith(argv);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.started).toEqual([]);
  });
});

describe('verity serve --config', () => {
  let dir: string;
  const EXAMPLE = fileURLToPath(new URL('../../../../examples/verity.yaml', import.meta.url));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config file (owner-only unless `mode` says otherwise) and returns its path. */
  async function config(name: string, text: string, mode = 0o600): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    await chmod(path, mode);
    return path;
  }

  it('takes settings from a YAML file, paths relative to its folder', async () => {
    const file = await config('a.yaml', 'port: 9100\nhost: 0.0.0.0\ndataDir: data\ntrustProxy: true\nlogLevel: warn\nmaxStalenessMs: 2500\n');
    const result = await serveWith(['--config', file]);
    expect(result.code).toBe(EXIT.OK);
    expect(result.started).toEqual([{ port: 9100, host: '0.0.0.0', dataDir: join(dir, 'data'), trustProxy: true, logLevel: 'warn', maxStalenessMs: 2500 }]);
    expect(result.out).toContain('Verity listening on http://0.0.0.0:9100');
  });

  it('takes a JSON file, named by VERITY_CONFIG too; workers runs a cluster', async () => {
    const file = await config('b.json', JSON.stringify({ databaseUrl: 'postgres://pdp@db/verity', decisionAuth: 'open', auditDurability: 'batched', workers: 2 }));
    const result = await serveWith([], { env: { VERITY_CONFIG: file } });
    expect(result.code).toBe(EXIT.OK);
    expect(result.clustered[0]).toMatchObject({ workers: 2, databaseUrl: 'postgres://pdp@db/verity', decisionAuth: 'open', auditDurability: 'batched' });
    expect(result.clustered[0]).not.toHaveProperty('dataDir');
  });

  it('loads examples/verity.yaml', async () => {
    const result = await serveWith(['--config', EXAMPLE]);
    expect(result.code).toBe(EXIT.OK);
    expect(result.err).toBe('Verity stopped\n'); // No warning: it holds no secret.
    expect(result.clustered[0]).toMatchObject({ workers: availableParallelism(), host: '0.0.0.0', publicUrl: 'https://pdp.example.com', dataDir: '/var/lib/verity/data', decisionAuth: 'required' });
  });

  it('flags win over env vars, env vars over the file, the file over defaults', async () => {
    const file = await config('layers.yaml', 'port: 9001\nlogLevel: warn\nmaxStalenessMs: 3000\nrequestTimeoutMs: 700\n');
    const env = { VERITY_LOG_LEVEL: 'error', VERITY_MAX_STALENESS_MS: '2000' };
    const all = await serveWith(['--config', file, '--port', '9002', '--log-level', 'debug'], { env });
    expect(all.started[0]).toMatchObject({ port: 9002, logLevel: 'debug', maxStalenessMs: 2000, requestTimeoutMs: 700 });
    const envOverFile = await serveWith(['--config', file], { env });
    expect(envOverFile.started[0]).toMatchObject({ port: 9001, logLevel: 'error', maxStalenessMs: 2000 });
    const fileOnly = await serveWith(['--config', file]);
    expect(fileOnly.started[0]).toMatchObject({ port: 9001, logLevel: 'warn', maxStalenessMs: 3000 });
    const defaults = await serveWith([]);
    expect(defaults.started[0]).not.toHaveProperty('logLevel');
    expect(defaults.out).toContain('http://127.0.0.1:8181');
    // --config wins over VERITY_CONFIG, as any flag over its env var.
    const other = await config('other.yaml', 'port: 9003\n');
    expect((await serveWith(['--config', other], { env: { VERITY_CONFIG: file } })).started[0]).toEqual({ port: 9003, dataDir: '/srv/.verity-data' });
  });

  it.each([
    ['unknown.yaml', 'port: 8181\nprot: 8182\n', 'prot: not a setting'],
    ['nested.yaml', 'audit:\n  durability: batched\n', 'audit: not a setting'],
    ['type.yaml', 'port: "8181"\n', 'port: must be a whole number'],
    ['range.yaml', 'maxStalenessMs: 5\n', 'maxStalenessMs must be an integer from 100 to 3600000'],
    ['workers.yaml', 'workers: 5000\n', 'workers must be auto or a whole number from 1 to 1024'],
    ['store.yaml', 'dataDir: d\ndatabaseUrl: postgres://db/v\n', 'use either --data or --database-url'],
  ])('refuses a bad file (%s) with exit 2 naming the file and the key, and starts nothing', async (name, text, message) => {
    const file = await config(name, text);
    const result = await serveWith(['--config', file, '--json']);
    expect(result.code).toBe(EXIT.USAGE);
    expect([result.started, result.clustered]).toEqual([[], []]);
    const { error } = JSON.parse(result.out) as { error: { code: string; message: string } };
    expect(error.code).toBe('ERR_CLI_CONFIG_FILE');
    expect(error.message).toContain(file);
    expect(error.message).toContain(message);
  });

  it('checks the file whole, also a value a flag overrides', async () => {
    const file = await config('overridden.yaml', 'maxStalenessMs: 5\n');
    const result = await serveWith(['--config', file, '--max-staleness', '2000']);
    expect([result.code, result.started]).toEqual([EXIT.USAGE, []]);
    expect(result.err).toContain(`${file}: maxStalenessMs must be`);
  });

  it('refuses a store given by the file and another by the environment, naming both', async () => {
    const file = await config('store-file.yaml', 'dataDir: /var/lib/verity\n');
    const result = await serveWith(['--config', file], { env: { DATABASE_URL: 'postgres://db/app' } });
    expect([result.code, result.started]).toEqual([EXIT.USAGE, []]);
    expect(result.err).toContain(`given as ${file}: dataDir and DATABASE_URL`);
  });

  it('warns when a file that holds a secret can be read by others, never printing it', async () => {
    const open = await config('open.yaml', `adminToken: ${STRONG}\n`, 0o644);
    const warned = await serveWith(['--config', open]);
    expect(warned.code).toBe(EXIT.OK);
    expect(warned.started[0]).toMatchObject({ adminToken: STRONG });
    expect(warned.err).toContain(`verity: warning: ${open} holds adminToken and can be read by other users`);
    expect(warned.err + warned.out).not.toContain(STRONG);
    const closed = await config('closed.yaml', `adminToken: ${STRONG}\n`);
    expect((await serveWith(['--config', closed])).err).not.toContain('warning');
  });

  it('refuses a weak admin token in the file without printing it', async () => {
    const file = await config('weak.yaml', 'adminToken: hunter2hunter2\n');
    const result = await serveWith(['--config', file]);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.err).toContain(`${file}: adminToken (VERITY_ADMIN_TOKEN) is too weak`);
    expect(result.err).not.toContain('hunter2');
  });
});
