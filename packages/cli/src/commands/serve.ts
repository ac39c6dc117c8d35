/** `verity serve`: run a Verity server until SIGINT/SIGTERM. */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { resolveConfig, startCluster, startServer, StartServerOptions } from '@verity/server';
import { parsePositiveInt } from '../arguments.js';
import type { Command } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { wantsJson, writeLines, writeResult } from '../output.js';

/** What `serve` needs from '@verity/server'; injectable so tests need no real server. */
export interface ServerModule {
  startServer: typeof startServer;
  startCluster: typeof startCluster;
  resolveConfig: typeof resolveConfig;
}

/** This CLI's TypeScript loader, which the worker processes of `--workers` need too. */
const LOADER = fileURLToPath(new URL('../../loader/register.mjs', import.meta.url));

/** `--workers N|auto` (env VERITY_WORKERS): null when not given (one process). */
function parseWorkers(value: string | undefined): number | null {
  if (value === undefined || value === '') return null;
  if (value === 'auto') return availableParallelism();
  if (!/^[0-9]{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1024) throw usageError(`--workers must be auto or a whole number from 1 to 1024, got '${value}'`);
  return Number(value);
}

/** `{key: value}` when the value is given (an empty env var counts as not given). */
function optional(key: string, value: string | undefined): Record<string, string> {
  return value === undefined || value === '' ? {} : { [key]: value };
}

/** Builds the serve command around a server loader (the real one imports '@verity/server' lazily). */
export function createServeCommand(loadServer: () => Promise<ServerModule>): Command {
  return {
    name: 'serve',
    summary: 'Run the Verity server',
    usage:
      '[--port N] [--host H] [--data DIR | --database-url URL] [--store-timeout MS] [--public-url URL] [--trust-proxy] [--log-level L] [--demo] [--open-decisions] [--allow-insecure-identity-sources] [--audit-durability durable|batched] [--max-audit-lag MS] [--audit-spool DIR] [--shutdown-timeout MS] [--max-staleness MS] [--max-inflight N] [--request-timeout MS] [--receipt-ttl SEC] [--trust-domain TD] [--workers N|auto]',
    arguments: [],
    options: {
      port: { type: 'string', short: 'p', valueName: 'N', description: 'port to listen on, 0 for any free one (default 8181)' },
      host: { type: 'string', valueName: 'H', description: 'address to bind (default 127.0.0.1)' },
      data: { type: 'string', valueName: 'DIR', description: 'embedded database directory (default .verity-data)' },
      'database-url': { type: 'string', valueName: 'URL', description: 'PostgreSQL URL (env VERITY_DATABASE_URL or DATABASE_URL)' },
      demo: { type: 'boolean', description: 'load the demo tenant at start when it does not exist' },
      'open-decisions': { type: 'boolean', description: 'let decision endpoints answer without a credential' },
      'default-tenant': { type: 'string', valueName: 'T', description: 'tenant served at the root AuthZEN paths (default demo)' },
      'allow-insecure-identity-sources': { type: 'boolean', description: 'let identity sources use http and loopback/private addresses (development only)' },
      'public-url': { type: 'string', valueName: 'URL', description: 'URL clients reach this server at, e.g. behind a TLS proxy (env VERITY_PUBLIC_URL); base of metadata and issuers' },
      'trust-proxy': { type: 'boolean', description: 'honour X-Forwarded-Proto/Host/For (only behind a proxy that sets them)' },
      'store-timeout': { type: 'string', valueName: 'MS', description: 'PostgreSQL connect and per-query timeout, ms (default 5000; env VERITY_STORE_TIMEOUT_MS)' },
      'log-level': { type: 'string', valueName: 'L', description: 'JSON log level: fatal, error, warn, info (default), debug, trace, silent (env VERITY_LOG_LEVEL)' },
      'audit-durability': { type: 'string', valueName: 'MODE', description: 'durable (default): answer a decision once its audit record is committed; batched: answer first, within --max-audit-lag (env VERITY_AUDIT_DURABILITY)' },
      'max-audit-lag': { type: 'string', valueName: 'MS', description: 'batched: refuse decisions (503) when the audit is this far behind (default 100; env VERITY_MAX_AUDIT_LAG_MS)' },
      'audit-spool': { type: 'string', valueName: 'DIR', description: 'where a stop spools audit records it could not write (default DIR.audit-spool beside --data, .verity-audit-spool with PostgreSQL; env VERITY_AUDIT_SPOOL)' },
      'shutdown-timeout': { type: 'string', valueName: 'MS', description: 'a stop finishes requests and writes the audit within this (default 10000; env VERITY_SHUTDOWN_TIMEOUT_MS)' },
      'max-staleness': { type: 'string', valueName: 'MS', description: 'PostgreSQL replicas: refuse decisions (503) for a tenant whose view is older than this (default 1000; env VERITY_MAX_STALENESS_MS)' },
      'max-inflight': { type: 'string', valueName: 'N', description: 'requests in flight past which new ones get 503 at once (default 256; env VERITY_MAX_INFLIGHT)' },
      'request-timeout': { type: 'string', valueName: 'MS', description: 'answer 503 for a decision not made within this many ms (default 5000; env VERITY_REQUEST_TIMEOUT_MS)' },
      'trust-domain': { type: 'string', valueName: 'TD', description: 'SPIFFE trust domain of workloads of tenants that set none (default verity.internal; env VERITY_TRUST_DOMAIN)' },
      'geoip-db': { type: 'string', valueName: 'FILE', description: 'a MaxMind database (GeoLite2/GeoIP2 City) that locates client IPs for the risk engine, after each tenant\'s settings.risk.locations (env VERITY_GEOIP_DB)' },
      workers: { type: 'string', valueName: 'N', description: 'worker processes sharing the port, or auto for one per core; the primary holds the store (default: one process; env VERITY_WORKERS)' },
      'receipt-ttl': { type: 'string', valueName: 'SEC', description: 'lifetime of a data-tier receipt (options.verity_receipt), seconds: the default and the most a request may ask (default 30, at most 3600; env VERITY_RECEIPT_TTL_SEC)' },
    },
    details: 'The first start creates a platform-admin credential: VERITY_ADMIN_TOKEN when set,\notherwise a generated one printed once. A chosen VERITY_ADMIN_TOKEN needs at least\n32 characters and 128 bits (log2 of the character classes used × length); a changed one\nreplaces the previous bootstrap credential. VERITY_MASTER_KEY (32 bytes, base64url) seals\ntoken-signing keys at rest; without it a key file beside --data is used. On SIGINT/SIGTERM it stops within --shutdown-timeout: exit 0 when every audit record was\nwritten, else exit 1 naming how many were spooled (appended at the next start) or lost;\na second signal exits at once (130).\nOne server per --data folder (a lock file beside it); use --database-url for replicas.\nLogs are JSON lines on stdout (stderr with --json); secrets are never logged.',
    async run(args, io) {
      const v = args.values;
      const port = v['port'] === '0' ? 0 : parsePositiveInt((v['port'] as string | undefined) ?? '8181', '--port');
      const databaseUrl = (v['database-url'] as string | undefined) ?? io.env['VERITY_DATABASE_URL'] ?? io.env['DATABASE_URL'];
      if (databaseUrl !== undefined && v['data'] !== undefined) throw usageError('use either --data or --database-url, not both');
      const geoipDb = (v['geoip-db'] as string | undefined) ?? io.env['VERITY_GEOIP_DB'];
      const options: StartServerOptions = {
        port,
        host: (v['host'] as string | undefined) ?? '127.0.0.1',
        demo: v['demo'] === true,
        decisionAuth: v['open-decisions'] === true ? 'open' : 'required',
        ...(v['allow-insecure-identity-sources'] === true ? { allowInsecureIdentitySources: true } : {}),
        adminToken: io.env['VERITY_ADMIN_TOKEN'] || null,
        masterKey: io.env['VERITY_MASTER_KEY'] || null,
        ...(databaseUrl === undefined ? { dataDir: resolve(io.cwd, (v['data'] as string | undefined) ?? '.verity-data') } : { databaseUrl }),
        ...(typeof v['default-tenant'] === 'string' ? { defaultTenant: v['default-tenant'] } : {}),
        ...optional('publicUrl', (v['public-url'] as string | undefined) ?? io.env['VERITY_PUBLIC_URL']),
        ...optional('logLevel', (v['log-level'] as string | undefined) ?? io.env['VERITY_LOG_LEVEL']),
        ...optional('trustDomain', (v['trust-domain'] as string | undefined) ?? io.env['VERITY_TRUST_DOMAIN']),
        ...(v['trust-proxy'] === true ? { trustProxy: true } : {}),
        ...(geoipDb === undefined || geoipDb === '' ? {} : { geoipDb: resolve(io.cwd, geoipDb) }),
        ...wholeNumberOption('auditCheckpointIntervalMs', 'VERITY_AUDIT_CHECKPOINT_INTERVAL_MS', undefined, io.env['VERITY_AUDIT_CHECKPOINT_INTERVAL_MS']),
        ...wholeNumberOption('storeTimeoutMs', '--store-timeout', v['store-timeout'], io.env['VERITY_STORE_TIMEOUT_MS']),
        ...auditOptions(v, io.env, io.cwd),
        ...wholeNumberOption('maxStalenessMs', '--max-staleness', v['max-staleness'], io.env['VERITY_MAX_STALENESS_MS']),
        ...wholeNumberOption('maxInflightRequests', '--max-inflight', v['max-inflight'], io.env['VERITY_MAX_INFLIGHT']),
        ...wholeNumberOption('requestTimeoutMs', '--request-timeout', v['request-timeout'], io.env['VERITY_REQUEST_TIMEOUT_MS']),
        ...wholeNumberOption('receiptTtlSec', '--receipt-ttl', v['receipt-ttl'], io.env['VERITY_RECEIPT_TTL_SEC']),
      } as StartServerOptions; // logLevel is a plain string here: resolveConfig (below) checks it.
      const workers = parseWorkers((v['workers'] as string | undefined) ?? io.env['VERITY_WORKERS']);
      const server = await loadServer();
      let config;
      try {
        config = server.resolveConfig(options); // Validated here too, so a bad flag is a usage error (exit 2).
      } catch (error) {
        if (error instanceof TypeError) throw usageError(error.message);
        throw error;
      }
      // Operator notices (the one-time generated token) and the log keep stdout clean for --json.
      const notices = wantsJson(args) ? io.stderr : io.stdout;
      const signal = io.signal === undefined ? {} : { signal: io.signal };
      const running =
        workers === null
          ? await server.startServer({ ...options, print: (line) => writeLines(notices, line), logStream: notices, ...signal })
          : await server.startCluster({ ...options, workers, execArgv: ['--import', LOADER], logTo: notices === io.stderr ? 'stderr' : 'stdout', ...signal });
      writeResult(args, io, { url: running.url }, () => writeLines(io.stdout, `Verity listening on ${running.url}`));
      await new Promise<void>((stop) => {
        if (io.signal === undefined || io.signal.aborted) return stop();
        io.signal.addEventListener('abort', () => stop(), { once: true });
      });
      const stopped = await running.close();
      if (stopped.unwritten === 0) {
        writeLines(io.stderr, 'Verity stopped');
        return EXIT.OK;
      }
      const where = stopped.spooled !== null ? `spooled to ${stopped.spooled}` : config.auditSpoolDir === null ? 'LOST (no spool configured)' : `LOST (the spool in ${config.auditSpoolDir} could not be written)`;
      writeLines(io.stderr, `verity: stopped with ${stopped.unwritten} audit records not written to the store; ${where}`);
      return EXIT.CHECK_FAILED;
    },
  };
}

export const serve: Command = createServeCommand(() => import('@verity/server'));

type Values = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

/** --audit-durability, --max-audit-lag, --audit-spool, --shutdown-timeout (or their env vars). */
function auditOptions(v: Values, env: Record<string, string | undefined>, cwd: string): Partial<StartServerOptions> {
  const durability = (v['audit-durability'] as string | undefined) ?? env['VERITY_AUDIT_DURABILITY'];
  const spool = (v['audit-spool'] as string | undefined) ?? env['VERITY_AUDIT_SPOOL'];
  return {
    // A plain string here: resolveConfig checks it is durable or batched.
    ...(durability === undefined || durability === '' ? {} : { auditDurability: durability as 'durable' }),
    ...wholeNumberOption('maxAuditLagMs', '--max-audit-lag', v['max-audit-lag'], env['VERITY_MAX_AUDIT_LAG_MS']),
    ...(spool === undefined || spool === '' ? {} : { auditSpoolDir: resolve(cwd, spool) }),
    ...wholeNumberOption('shutdownTimeoutMs', '--shutdown-timeout', v['shutdown-timeout'], env['VERITY_SHUTDOWN_TIMEOUT_MS']),
  };
}

/**
 * A whole number (milliseconds, a count) from a flag, else its env var (an empty one counts as
 * not given); a usage error when it is not digits. resolveConfig checks each key's range.
 */
function wholeNumberOption(key: string, flag: string, value: unknown, env: string | undefined): Record<string, number> {
  const text = typeof value === 'string' ? value : env === '' ? undefined : env;
  if (text === undefined) return {};
  if (!/^[0-9]{1,10}$/.test(text)) throw usageError(`${flag} must be a whole number, got '${text}'`);
  return { [key]: Number(text) };
}
