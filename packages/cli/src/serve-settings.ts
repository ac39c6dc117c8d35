/**
 * The settings of `verity serve`, one row each. Its flags, their env vars, the config file's
 * JSON Schema (config-file.ts) and the check of docs/configuration.md all come from this table.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { StartServerOptions } from '@verity/server';
import type { OptionSpec, ParsedArgs } from './command.js';
import { usageError } from './errors.js';

/** How a value is written: its JSON type in the config file; on the command line, text of that form. */
export type SettingType = 'integer' | 'string' | 'path' | 'boolean' | 'workers';

/** The flag that sets a setting. */
export interface SettingFlag {
  name: string;
  short?: string;
  valueName?: string;
  /** The help line, without the default and env vars (added from the row). */
  description: string;
  /**
   * A boolean flag that sets the setting to this: a string setting's value (`--open-decisions`:
   * decisionAuth `open`), or `false` for a flag that turns a setting on by default off (`--no-console`).
   */
  sets?: string | boolean;
}

export interface ServeSetting {
  /** The config-file key: the ServerConfig key it sets, except `workers` (the cluster's size). */
  key: string;
  type: SettingType;
  /** As `--help` and docs/configuration.md show it; a test holds it equal to resolveConfig's. */
  default?: string;
  flag?: SettingFlag;
  /** Env vars, the first set one wins; an empty one counts as not set. */
  env?: readonly string[];
  /** May hold a credential: a config file that holds it should be readable only by its owner. */
  secret?: true;
}

export const SERVE_SETTINGS: readonly ServeSetting[] = [
  { key: 'port', type: 'integer', default: '8181', flag: { name: 'port', short: 'p', valueName: 'N', description: 'port to listen on, 0 for any free one' } },
  { key: 'host', type: 'string', default: '127.0.0.1', flag: { name: 'host', valueName: 'H', description: 'address to bind' } },
  { key: 'dataDir', type: 'path', default: '.verity-data', flag: { name: 'data', valueName: 'DIR', description: 'embedded database (PGlite) folder; one server per folder' } },
  {
    key: 'databaseUrl',
    type: 'string',
    secret: true,
    env: ['VERITY_DATABASE_URL', 'DATABASE_URL'],
    flag: { name: 'database-url', valueName: 'URL', description: 'PostgreSQL URL instead of --data, for replicas' },
  },
  { key: 'storeTimeoutMs', type: 'integer', default: '5000', env: ['VERITY_STORE_TIMEOUT_MS'], flag: { name: 'store-timeout', valueName: 'MS', description: 'PostgreSQL connect and per-query timeout, ms' } },
  { key: 'demo', type: 'boolean', default: 'false', flag: { name: 'demo', description: 'load the demo tenant at start when it does not exist' } },
  { key: 'decisionAuth', type: 'string', default: 'required', flag: { name: 'open-decisions', sets: 'open', description: 'let decision endpoints answer without a credential (decisionAuth: open)' } },
  { key: 'defaultTenant', type: 'string', default: 'demo', flag: { name: 'default-tenant', valueName: 'T', description: 'tenant served at the root AuthZEN paths' } },
  {
    key: 'allowInsecureIdentitySources',
    type: 'boolean',
    default: 'false',
    flag: { name: 'allow-insecure-identity-sources', description: 'let identity sources use http and loopback/private addresses (development only)' },
  },
  {
    key: 'publicUrl',
    type: 'string',
    default: 'the listen address',
    env: ['VERITY_PUBLIC_URL'],
    flag: { name: 'public-url', valueName: 'URL', description: 'URL clients reach this server at, e.g. behind a TLS proxy; base of metadata and issuers' },
  },
  { key: 'trustProxy', type: 'boolean', default: 'false', flag: { name: 'trust-proxy', description: 'honour X-Forwarded-Proto/Host/For (only behind a proxy that sets them)' } },
  { key: 'logLevel', type: 'string', default: 'info', env: ['VERITY_LOG_LEVEL'], flag: { name: 'log-level', valueName: 'L', description: 'JSON log level: fatal, error, warn, info, debug, trace, silent' } },
  {
    key: 'auditDurability',
    type: 'string',
    default: 'durable',
    env: ['VERITY_AUDIT_DURABILITY'],
    flag: { name: 'audit-durability', valueName: 'durable|batched', description: 'durable: answer a decision once its audit record is committed; batched: answer first, within --max-audit-lag' },
  },
  { key: 'maxAuditLagMs', type: 'integer', default: '100', env: ['VERITY_MAX_AUDIT_LAG_MS'], flag: { name: 'max-audit-lag', valueName: 'MS', description: 'batched: refuse decisions (503) when the audit is this far behind' } },
  {
    key: 'auditSpoolDir',
    type: 'path',
    default: 'DIR.audit-spool beside --data, .verity-audit-spool with PostgreSQL',
    env: ['VERITY_AUDIT_SPOOL'],
    flag: { name: 'audit-spool', valueName: 'DIR', description: 'where a stop spools audit records it could not write' },
  },
  { key: 'shutdownTimeoutMs', type: 'integer', default: '10000', env: ['VERITY_SHUTDOWN_TIMEOUT_MS'], flag: { name: 'shutdown-timeout', valueName: 'MS', description: 'a stop finishes requests and writes the audit within this' } },
  { key: 'auditCheckpointIntervalMs', type: 'integer', default: '3600000', env: ['VERITY_AUDIT_CHECKPOINT_INTERVAL_MS'] },
  {
    key: 'tenantDeletionAudit',
    type: 'string',
    default: 'keep',
    env: ['VERITY_TENANT_DELETION_AUDIT'],
    flag: { name: 'tenant-deletion-audit', valueName: 'keep|export', description: "keep: a deleted tenant's audit stays in the store for good; export: a platform admin may remove it once exported" },
  },
  {
    key: 'maxStalenessMs',
    type: 'integer',
    default: '1000',
    env: ['VERITY_MAX_STALENESS_MS'],
    flag: { name: 'max-staleness', valueName: 'MS', description: 'PostgreSQL replicas: refuse decisions (503) for a tenant whose view is older than this' },
  },
  { key: 'maxInflightRequests', type: 'integer', default: '256', env: ['VERITY_MAX_INFLIGHT'], flag: { name: 'max-inflight', valueName: 'N', description: 'requests in flight past which new ones get 503 at once' } },
  { key: 'requestTimeoutMs', type: 'integer', default: '5000', env: ['VERITY_REQUEST_TIMEOUT_MS'], flag: { name: 'request-timeout', valueName: 'MS', description: 'answer 503 for a decision not made within this many ms' } },
  {
    key: 'receiptTtlSec',
    type: 'integer',
    default: '30',
    env: ['VERITY_RECEIPT_TTL_SEC'],
    flag: { name: 'receipt-ttl', valueName: 'SEC', description: 'lifetime of a data-tier receipt (options.verity_receipt), seconds: the default and the most a request may ask; at most 3600' },
  },
  {
    key: 'trustDomain',
    type: 'string',
    default: 'verity.internal',
    env: ['VERITY_TRUST_DOMAIN'],
    flag: { name: 'trust-domain', valueName: 'TD', description: 'SPIFFE trust domain of workloads of tenants that set none' },
  },
  {
    key: 'geoipDb',
    type: 'path',
    env: ['VERITY_GEOIP_DB'],
    flag: { name: 'geoip-db', valueName: 'FILE', description: "a MaxMind database (GeoLite2/GeoIP2 City) that locates client IPs for the risk engine, after each tenant's settings.risk.locations" },
  },
  {
    key: 'workers',
    type: 'workers',
    default: 'one process',
    env: ['VERITY_WORKERS'],
    flag: { name: 'workers', valueName: 'N|auto', description: 'worker processes sharing the port, or auto for one per core; the primary holds the store' },
  },
  { key: 'console', type: 'boolean', default: 'true', env: ['VERITY_CONSOLE'], flag: { name: 'no-console', sets: false, description: 'do not serve the web console at /console/ (as VERITY_CONSOLE=false)' } },
  { key: 'adminToken', type: 'string', secret: true, default: 'generated, printed once', env: ['VERITY_ADMIN_TOKEN'] },
  { key: 'masterKey', type: 'string', secret: true, default: 'a key file beside --data', env: ['VERITY_MASTER_KEY'] },
];

/** The `serve` flags of the settings, with their defaults and env vars in the help line. */
export function settingFlags(): Record<string, OptionSpec> {
  const flags: Record<string, OptionSpec> = {};
  for (const { flag, type, default: fallback, env } of SERVE_SETTINGS) {
    if (flag === undefined) continue;
    const boolean = type === 'boolean' || flag.sets !== undefined;
    const notes = [...(boolean || fallback === undefined ? [] : [`default ${fallback}`]), ...(env === undefined ? [] : [`env ${env.join(' or ')}`])];
    const description = notes.length === 0 ? flag.description : `${flag.description} (${notes.join('; ')})`;
    flags[flag.name] = {
      type: boolean ? 'boolean' : 'string',
      description,
      ...(flag.short === undefined ? {} : { short: flag.short }),
      ...(flag.valueName === undefined ? {} : { valueName: flag.valueName }),
    };
  }
  return flags;
}

/** A setting's value and where it came from (`--port`, `VERITY_LOG_LEVEL`, `verity.yaml: port`), for messages. */
export interface GivenSetting {
  value: string | number | boolean;
  from: string;
}

/** The settings one source gives, by key. */
export type GivenSettings = Map<string, GivenSetting>;

/** Text from a flag or env var, as the setting's type; a usage error naming `from` when it is not. */
function parseText(setting: ServeSetting, text: string, from: string, cwd: string): string | number | boolean {
  if (setting.type === 'path') return resolve(cwd, text);
  if (setting.type === 'boolean') {
    if (text !== 'true' && text !== 'false') throw usageError(`${from} must be true or false, got '${text}'`);
    return text === 'true';
  }
  if (setting.type === 'integer' || (setting.type === 'workers' && text !== 'auto')) {
    if (!/^[0-9]{1,10}$/.test(text)) throw usageError(setting.type === 'workers' ? workersMessage(from, text) : `${from} must be a whole number, got '${text}'`);
    return Number(text);
  }
  return text;
}

/** The settings given as flags (an empty value counts as not given, as for env vars); paths are relative to `cwd`. */
export function settingsFromFlags(values: ParsedArgs['values'], cwd: string): GivenSettings {
  const given: GivenSettings = new Map();
  for (const setting of SERVE_SETTINGS) {
    const flag = setting.flag;
    const value = flag === undefined ? undefined : values[flag.name];
    if (flag === undefined || value === undefined) continue;
    const from = `--${flag.name}`;
    if (typeof value === 'boolean') given.set(setting.key, { value: flag.sets ?? value, from });
    else if (typeof value === 'string' && value !== '') given.set(setting.key, { value: parseText(setting, value, from, cwd), from });
  }
  return given;
}

/** The settings given as env vars (an empty one counts as not set); paths are relative to `cwd`. */
export function settingsFromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string): GivenSettings {
  const given: GivenSettings = new Map();
  for (const setting of SERVE_SETTINGS) {
    const name = setting.env?.find((n) => env[n] !== undefined && env[n] !== '');
    const text = name === undefined ? undefined : env[name];
    if (name !== undefined && text !== undefined) given.set(setting.key, { value: parseText(setting, text, name, cwd), from: name });
  }
  return given;
}

/**
 * The settings of a config file's values, already checked against its schema; paths are
 * relative to the file's folder, so the file means the same from wherever it is used.
 */
export function settingsFromFile(values: Readonly<Record<string, string | number | boolean>>, file: string, dir: string): GivenSettings {
  const given: GivenSettings = new Map();
  for (const setting of SERVE_SETTINGS) {
    const value = values[setting.key];
    if (value === undefined) continue;
    given.set(setting.key, { value: setting.type === 'path' ? resolve(dir, String(value)) : value, from: `${file}: ${setting.key}` });
  }
  return given;
}

/** Each setting from the first source that gives it: flags, then env vars, then the file. */
export function mergeSettings(...sources: readonly GivenSettings[]): GivenSettings {
  const merged: GivenSettings = new Map();
  for (const source of sources) for (const [key, given] of source) if (!merged.has(key)) merged.set(key, given);
  return merged;
}

function workersMessage(from: string, value: unknown): string {
  return `${from} must be auto or a whole number from 1 to 1024, got '${String(value)}'`;
}

/** The worker count of `--workers N|auto`, or null for one process. */
function workerCount(given: GivenSetting | undefined): number | null {
  if (given === undefined) return null;
  if (given.value === 'auto') return availableParallelism();
  if (typeof given.value !== 'number' || !Number.isInteger(given.value) || given.value < 1 || given.value > 1024) throw usageError(workersMessage(given.from, given.value));
  return given.value;
}

/**
 * The server options and worker count of the given settings. The store is one choice: both a
 * folder and a URL, from any sources, is a usage error rather than a silent pick of one (an
 * ambient DATABASE_URL must not quietly move a server off its --data folder). Neither: the
 * folder `.verity-data` in `cwd`. Ranges and forms are resolveConfig's to check.
 */
export function serverOptions(given: GivenSettings, cwd: string): { options: StartServerOptions; workers: number | null } {
  const data = given.get('dataDir');
  const url = given.get('databaseUrl');
  if (data !== undefined && url !== undefined) throw usageError(`use either --data or --database-url (dataDir or databaseUrl), not both; given as ${data.from} and ${url.from}`);
  const options: Record<string, unknown> = data === undefined && url === undefined ? { dataDir: resolve(cwd, '.verity-data') } : {};
  for (const [key, { value }] of given) if (key !== 'workers') options[key] = value;
  // Strings where ServerConfig has unions (logLevel, auditDurability, decisionAuth, tenantDeletionAudit): resolveConfig checks them.
  return { options: options as StartServerOptions, workers: workerCount(given.get('workers')) };
}
