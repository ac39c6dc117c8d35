/** Server configuration: validated once, defaulted in one place, frozen. */
import { resolve as resolvePath } from 'node:path';
import { isTenantId } from '@verity/core';
import { BUNDLE_TTL_SEC, parseMasterKey } from '@verity/identity';
import { assertTrustDomain } from '@verity/workload/core';
import { isCredentialToken } from './admin/credentials.js';

export interface ServerConfig {
  /** TCP port; 0 picks a free one. */
  port: number;
  host: string;
  /** PGlite data folder. Ignored when `databaseUrl` is set. `null` means in-memory. */
  dataDir: string | null;
  /** PostgreSQL connection string; when set, PostgreSQL is the store. */
  databaseUrl: string | null;
  /**
   * PostgreSQL only: milliseconds allowed to open a connection and for each query's answer
   * (default 5000). Past it the request fails closed with ERR_STORE_UNAVAILABLE (503) instead of
   * hanging on a paused network; the connection is dropped and a fresh one opened next time.
   */
  storeTimeoutMs: number;
  /** Tenant served at the root AuthZEN paths. */
  defaultTenant: string;
  /**
   * `required` (default): decision endpoints need a credential allowed to `decide` for the
   * tenant. `open`: anyone who can reach the port may ask (interop harnesses, local demos).
   */
  decisionAuth: 'required' | 'open';
  /** Largest decision request body, bytes. Conservative: decisions are small. */
  maxBodyBytes: number;
  /** Largest admin request body (policy pushes, entity imports), bytes. */
  maxAdminBodyBytes: number;
  /** Deepest JSON nesting accepted in any body (guards the parser and the engine). */
  maxJsonDepth: number;
  /** Audit batching: flush at least this often (ms) or at this many records. */
  auditFlushMs: number;
  auditBatchSize: number;
  /** Records held in memory before decisions wait for the audit store (backpressure, never drop). */
  auditMaxQueue: number;
  /**
   * `durable` (default): a decision is answered only once its audit record is committed (group
   * commit: concurrent decisions share one write); when the store cannot commit within 2 s the
   * decision fails closed with ERR_AUDIT_UNAVAILABLE. `batched`: answered first, records written
   * every `auditFlushMs`, bounded by `maxAuditLagMs` (a crash can lose about that much).
   */
  auditDurability: 'durable' | 'batched';
  /**
   * `batched` only: when the oldest unwritten record is older than this (ms), new decisions fail
   * closed with ERR_AUDIT_UNAVAILABLE and `/readyz` fails, until the writer catches up.
   */
  maxAuditLagMs: number;
  /**
   * Where audit records that could not be written by a stop's deadline are spooled (fsync'd JSON
   * lines), to be appended at the next start. Default: `<dataDir>.audit-spool` with a PGlite data
   * folder, `.verity-audit-spool` (cwd) with PostgreSQL, none in memory.
   */
  auditSpoolDir: string | null;
  /** A graceful stop (SIGTERM) finishes requests and writes the audit within this many ms. */
  shutdownTimeoutMs: number;
  /**
   * How often (ms) the server signs a checkpoint of every tenant's audit chain that moved since
   * its last one; 0 turns the timer off (checkpoints are then made only on request). Default one
   * hour: a deleted or rewritten tail is provable from the first checkpoint kept elsewhere.
   */
  auditCheckpointIntervalMs: number;
  /** Bootstrap platform-admin token; otherwise one is generated and printed once. */
  adminToken: string | null;
  /**
   * 32 bytes, base64url: seals token-signing keys at rest. When absent, a key file next to the
   * PGlite data folder is used (created once, mode 0600); with PostgreSQL and no key, keys are
   * sealed with a per-process key and so are replaced at every restart.
   */
  masterKey: string | null;
  /** Load the demo tenant (examples/demo) at start when it does not exist yet. */
  demo: boolean;
  /**
   * Structured JSON log level (pino): `info` (default) logs start-up, errors and security
   * events; one line per request only at `debug`, so the decision path pays nothing at `info`.
   */
  logLevel: LogLevel;
  /**
   * The URL clients reach this server at (behind a TLS proxy: `https://pdp.example.com`). It is
   * the base of the AuthZEN metadata and of every issuer. Default: the listen address.
   */
  publicUrl: string | null;
  /**
   * Lifetime of a signed policy bundle, seconds (default 600). A local-mode PEP refreshes before
   * it and decides nothing after it: short, so a replayed or withheld bundle soon stops working.
   */
  bundleTtlSec: number;
  /**
   * Lifetime of a data-tier receipt, seconds (default 30): the default of `options.verity_receipt`
   * and the most a request may ask for. Short on purpose: a receipt is a bearer credential for
   * the application's database until it expires. A retired receipt key keeps verifying for this
   * plus 60 s, so receipts signed just before a rotation keep working to their expiry.
   */
  receiptTtlSec: number;
  /**
   * Let identity sources' discovery and JWKS requests use plain http and reach loopback,
   * private and link-local addresses. Off by default: a policy author could otherwise make the
   * server call its own network. For development and tests with an issuer on this machine.
   */
  allowInsecureIdentitySources: boolean;
  /**
   * Honour `X-Forwarded-Proto/Host/For` from the peer. Off by default: without it, a request's
   * `Host` never shapes a URL Verity hands out (metadata, issuers). Only turn on behind a proxy
   * that sets these headers itself.
   */
  trustProxy: boolean;
  /**
   * How old (ms) this replica's view of a tenant may be before its decisions for that tenant
   * answer 503 ERR_POLICY_STALE and /readyz fails (PostgreSQL replicas; the change feed's
   * heartbeat confirms freshness every quarter of it). PGlite is one process: always fresh.
   */
  maxStalenessMs: number;
  /** Requests in flight (health probes excluded) past which new ones get 503 ERR_OVERLOADED at once. */
  maxInflightRequests: number;
  /** A decision not answered within this many ms (from arrival) is answered 503 ERR_DEADLINE_EXCEEDED. */
  requestTimeoutMs: number;
  /**
   * The SPIFFE trust domain of workloads of tenants that do not set their own (tenant setting
   * `trust_domain`). Default `verity.internal`. A name only: every tenant has its own CA.
   */
  trustDomain: string;
  /**
   * A MaxMind database (GeoLite2/GeoIP2 City format) that locates client IPs for the risk engine,
   * after each tenant's own `settings.risk.locations`. Read once at start; null (default): none.
   */
  geoipDb: string | null;
  /**
   * Serve the web console at `/console/` (docs/console.md). On by default: its pages hold no
   * secret and call the admin API with the credential the user types, authorized like any other
   * caller's. `false` (`verity serve --no-console`): `/console/` answers 404.
   */
  console: boolean;
  /**
   * What becomes of a deleted tenant's audit. `keep` (default): it stays in the store for good,
   * readable and verifiable by platform admins; no API call removes it, so an admin credential
   * alone cannot destroy evidence. `export`: a platform admin may remove it once exported, by
   * naming the chain head the export reached (`DELETE /admin/v1/tenants/{t}/audit`,
   * `verity tenant delete --export-audit FILE`); docs/operations.md, "Tenant lifecycle".
   */
  tenantDeletionAudit: 'keep' | 'export';
}

/** The longest receipt lifetime a server may be configured with (an hour): receipts are meant to be short. */
export const MAX_RECEIPT_TTL_SEC = 3600;

/** pino's levels; `silent` turns logging off (tests). */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS = new Set<string>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A chosen admin token must be at least this long and carry at least this many bits. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
export const MIN_ADMIN_TOKEN_BITS = 128;

/**
 * A cautious entropy estimate: log2(size of the character classes present) × length. Classes:
 * lowercase (26), uppercase (26), digits (10), the b64token symbols `-._~+/=` (7). It over-rates
 * patterned strings (`aaaa…`), so it is a floor against short and narrow tokens, not proof.
 */
export function estimateTokenBits(token: string): number {
  const classes: Array<[RegExp, number]> = [[/[a-z]/, 26], [/[A-Z]/, 26], [/[0-9]/, 10], [/[-._~+/=]/, 7]];
  const alphabet = classes.reduce((size, [pattern, count]) => size + (pattern.test(token) ? count : 0), 0);
  return alphabet === 0 ? 0 : Math.log2(alphabet) * token.length;
}

function isTrustDomain(name: string): boolean {
  try {
    assertTrustDomain(name);
    return true;
  } catch {
    return false;
  }
}

/** `publicUrl` as given, checked: absolute http(s), no credentials, query or fragment; no trailing slash. */
function normalisePublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('publicUrl must be an absolute http(s) URL such as https://pdp.example.com');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    throw new TypeError('publicUrl must be an absolute http(s) URL without credentials, query or fragment');
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

const DEFAULTS: ServerConfig = {
  port: 8181,
  host: '127.0.0.1',
  dataDir: '.verity-data',
  databaseUrl: null,
  storeTimeoutMs: 5000,
  defaultTenant: 'demo',
  decisionAuth: 'required',
  // 512 KiB: a decision needs far less (the decision estimate refuses a request of more than
  // about 10,000 values), and every body is parsed on the event loop before it is refused.
  maxBodyBytes: 512 * 1024,
  maxAdminBodyBytes: 32 * 1024 * 1024,
  maxJsonDepth: 32,
  auditFlushMs: 50,
  auditBatchSize: 500,
  auditMaxQueue: 50_000,
  auditDurability: 'durable',
  maxAuditLagMs: 100,
  // Derived from dataDir / databaseUrl in resolveConfig unless given.
  auditSpoolDir: null,
  shutdownTimeoutMs: 10_000,
  auditCheckpointIntervalMs: 60 * 60 * 1000,
  adminToken: null,
  masterKey: null,
  demo: false,
  logLevel: 'info',
  publicUrl: null,
  bundleTtlSec: BUNDLE_TTL_SEC,
  receiptTtlSec: 30,
  allowInsecureIdentitySources: false,
  trustProxy: false,
  // About a second: long enough for a heartbeat round trip on a loaded database, short enough
  // that a cut-off replica stops deciding on a superseded policy before clients notice.
  maxStalenessMs: 1000,
  maxInflightRequests: 256,
  requestTimeoutMs: 5000,
  trustDomain: 'verity.internal',
  geoipDb: null,
  console: true,
  tenantDeletionAudit: 'keep',
};

/** Check the audit durability options and default the spool folder from the store's location. */
function resolveAuditOptions(resolved: ServerConfig, spoolDir: string | null | undefined): void {
  if (resolved.auditDurability !== 'durable' && resolved.auditDurability !== 'batched') throw new TypeError('auditDurability must be "durable" or "batched"');
  if (!Number.isInteger(resolved.maxAuditLagMs) || resolved.maxAuditLagMs < 1) throw new TypeError('maxAuditLagMs must be a whole number of milliseconds, at least 1');
  if (!Number.isInteger(resolved.shutdownTimeoutMs) || resolved.shutdownTimeoutMs < 0 || resolved.shutdownTimeoutMs > 2 ** 31 - 1) throw new TypeError('shutdownTimeoutMs must be a whole number of milliseconds');
  if (spoolDir !== undefined && spoolDir !== null && (typeof spoolDir !== 'string' || spoolDir === '')) throw new TypeError('auditSpoolDir must be a folder path or null');
  if (spoolDir !== undefined) resolved.auditSpoolDir = spoolDir === null ? null : resolvePath(spoolDir);
  else if (resolved.databaseUrl !== null) resolved.auditSpoolDir = resolvePath('.verity-audit-spool');
  else resolved.auditSpoolDir = resolved.dataDir === null ? null : `${resolvePath(resolved.dataDir)}.audit-spool`;
}

/** Validate and default a partial config. Unknown keys and wrong types are errors. */
export function resolveConfig(input: Partial<ServerConfig> = {}): Readonly<ServerConfig> {
  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(input)) {
    if (!(key in DEFAULTS)) throw new TypeError(`unknown server option "${key}"`);
    if (value === undefined) continue;
    const expected = DEFAULTS[key as keyof ServerConfig];
    const nullable = expected === null || key === 'dataDir';
    if (!(value === null && nullable) && expected !== null && typeof value !== typeof expected) {
      throw new TypeError(`server option "${key}" must be a ${typeof expected}`);
    }
    config[key] = value;
  }
  const resolved = config as unknown as ServerConfig;
  resolveAuditOptions(resolved, input.auditSpoolDir);
  if (resolved.decisionAuth !== 'required' && resolved.decisionAuth !== 'open') throw new TypeError('decisionAuth must be "required" or "open"');
  if (resolved.tenantDeletionAudit !== 'keep' && resolved.tenantDeletionAudit !== 'export') throw new TypeError('tenantDeletionAudit must be "keep" or "export"');
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) throw new TypeError('port must be 0..65535');
  if (!Number.isInteger(resolved.bundleTtlSec) || resolved.bundleTtlSec < 10 || resolved.bundleTtlSec > 86_400) throw new TypeError('bundleTtlSec must be an integer from 10 to 86400');
  if (!Number.isInteger(resolved.receiptTtlSec) || resolved.receiptTtlSec < 1 || resolved.receiptTtlSec > MAX_RECEIPT_TTL_SEC) throw new TypeError(`receiptTtlSec must be an integer from 1 to ${MAX_RECEIPT_TTL_SEC}`);
  // setTimeout holds at most 2^31-1 ms (about 24.8 days); past that it fires at once.
  if (!Number.isInteger(resolved.auditCheckpointIntervalMs) || resolved.auditCheckpointIntervalMs < 0 || resolved.auditCheckpointIntervalMs > 2 ** 31 - 1) {
    throw new TypeError('auditCheckpointIntervalMs must be 0 (off) or a whole number of milliseconds up to 2147483647');
  }
  if (!Number.isInteger(resolved.storeTimeoutMs) || resolved.storeTimeoutMs < 100 || resolved.storeTimeoutMs > 2 ** 31 - 1) {
    throw new TypeError('storeTimeoutMs must be a whole number of milliseconds from 100 to 2147483647');
  }
  if (!Number.isInteger(resolved.maxStalenessMs) || resolved.maxStalenessMs < 100 || resolved.maxStalenessMs > 3_600_000) throw new TypeError('maxStalenessMs must be an integer from 100 to 3600000');
  if (!Number.isInteger(resolved.maxInflightRequests) || resolved.maxInflightRequests < 1 || resolved.maxInflightRequests > 1_000_000) throw new TypeError('maxInflightRequests must be an integer from 1 to 1000000');
  if (!Number.isInteger(resolved.requestTimeoutMs) || resolved.requestTimeoutMs < 10 || resolved.requestTimeoutMs > 2 ** 31 - 1) throw new TypeError('requestTimeoutMs must be an integer from 10 to 2147483647');
  if (!isTenantId(resolved.defaultTenant)) throw new TypeError('defaultTenant is not a valid tenant id');
  // A token no Authorization header could carry would create an admin no one can use.
  // Checked here, not first when the key seals something: a bad key must stop the start before
  // the store is opened (and before a data folder is made).
  if (resolved.masterKey !== null) {
    try {
      parseMasterKey(resolved.masterKey);
    } catch {
      throw new TypeError('masterKey (VERITY_MASTER_KEY) must be 32 bytes, base64url-encoded (verity makes one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64url\'))")');
    }
  }
  if (resolved.adminToken !== null && !isCredentialToken(resolved.adminToken)) {
    throw new TypeError('adminToken (VERITY_ADMIN_TOKEN) must be at most 512 letters, digits or - . _ ~ + /, optionally ending in =');
  }
  if (resolved.adminToken !== null && (resolved.adminToken.length < MIN_ADMIN_TOKEN_LENGTH || estimateTokenBits(resolved.adminToken) < MIN_ADMIN_TOKEN_BITS)) {
    throw new TypeError(
      `adminToken (VERITY_ADMIN_TOKEN) is too weak: it must have at least ${MIN_ADMIN_TOKEN_LENGTH} characters and ${MIN_ADMIN_TOKEN_BITS} bits ` +
        '(log2 of the character classes used × length); generate one with `openssl rand -base64 32`',
    );
  }
  if (!LOG_LEVELS.has(resolved.logLevel)) throw new TypeError(`logLevel must be one of ${[...LOG_LEVELS].join(', ')}`);
  if (resolved.publicUrl !== null) resolved.publicUrl = normalisePublicUrl(resolved.publicUrl);
  if (resolved.geoipDb !== null) {
    if (resolved.geoipDb === '') throw new TypeError('geoipDb (VERITY_GEOIP_DB) must be the path of a MaxMind database or null');
    resolved.geoipDb = resolvePath(resolved.geoipDb);
  }
  if (!isTrustDomain(resolved.trustDomain)) throw new TypeError('trustDomain (VERITY_TRUST_DOMAIN) must be a SPIFFE trust domain name: lower-case letters, digits, ".", "-" and "_", at most 255 characters');
  return Object.freeze(resolved);
}
