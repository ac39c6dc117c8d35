/**
 * `verity db install` and `verity db rotate`: the operator's commands for the data tier. They
 * hold two connections the PDP never holds together: the application database's owner
 * connection (`--database-url`) and the PDP's admin API (VERITY_ADMIN_TOKEN). The PDP makes and
 * keeps the tenants' receipt keys; these commands carry each tenant's verifying set into the
 * database's `verity_private.receipt_keys`, where only SECURITY DEFINER functions read it.
 * See docs/data-tier.md.
 */
import { holdDataTierLock, installDataTier, syncReceiptKeys, type ReceiptKeyMaterial } from '@verity/data-tier';
import type pg from 'pg';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions, type VerityClient } from '../client.js';
import { cliError, EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

/** A receipt key as the admin API lists it (no secret). */
interface ListedKey {
  kid: string;
  state: 'pending' | 'active' | 'retired';
  verify_until: string | null;
}

/** A receipt key as the admin API exports it (with its secret, base64url). */
interface ExportedKey extends ListedKey {
  secret: string;
}

const databaseOptions = {
  'database-url': {
    type: 'string',
    valueName: 'URL',
    multiple: true,
    description: 'an application database, as its owner (repeatable: every database that verifies the tenants; env VERITY_APP_DATABASE_URL); never sent to Verity',
  },
} as const;

const DATABASE_DETAILS = [
  'The database URL is a PostgreSQL connection string (postgres://owner@host/db) for the role that',
  'owns the application tables. Prefer the VERITY_APP_DATABASE_URL environment variable to the flag, so',
  'the password stays out of shell history. It is never printed and never sent to the PDP.',
].join('\n');

function databaseUrls(args: ParsedArgs, io: CommandIo): string[] {
  const given = listOf(args, 'database-url');
  const env = io.env['VERITY_APP_DATABASE_URL'];
  const urls = given.length > 0 ? given : env === undefined || env === '' ? [] : [env];
  if (urls.length === 0) throw usageError('--database-url (or VERITY_APP_DATABASE_URL) is required');
  for (const url of urls) if (!/^postgres(ql)?:\/\//.test(url)) throw usageError('--database-url must be a postgres:// connection string');
  return urls;
}

function listOf(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
}

async function connect(driver: typeof pg, url: string, index: number): Promise<pg.Client> {
  const db = new driver.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A connection dropped while idle emits 'error'; the next query reports it.
  db.on('error', () => {});
  try {
    await db.connect();
  } catch (error) {
    // The driver's message names host and port, never the password.
    throw cliError('ERR_CLI_DATABASE', `cannot connect to application database #${index + 1} (${(error as Error).message})`);
  }
  return db;
}

/**
 * Runs `fn` with an owner connection to each application database, holding each one's data-tier
 * lock (in the order given) so two runs never interleave their key syncs; closes them whatever
 * happens (which lets go of the locks).
 */
async function withDatabases<T>(urls: readonly string[], fn: (dbs: pg.Client[]) => Promise<T>): Promise<T> {
  const { default: driver } = await import('pg'); // pg loads here, not at start-up.
  const dbs: pg.Client[] = [];
  try {
    for (const [index, url] of urls.entries()) {
      const db = await connect(driver, url, index);
      dbs.push(db);
      await holdDataTierLock(db).catch((error: unknown) => {
        throw cliError('ERR_CLI_DATABASE', `application database #${index + 1}: ${(error as Error).message}`);
      });
    }
    return await fn(dbs);
  } catch (error) {
    if (error instanceof driver.DatabaseError) throw cliError('ERR_CLI_DATABASE', `an application database refused: ${error.message}`);
    throw error;
  } finally {
    for (const db of dbs) await db.end().catch(() => {});
  }
}

/**
 * The PDP client, over TLS unless the PDP is on this machine: these commands carry the
 * platform-admin credential out and receipt-key secrets back, and a key a man in the middle
 * swapped in would let him mint receipts.
 */
function pdpClient(args: ParsedArgs, io: CommandIo): VerityClient {
  const client = clientFromArgs(args, io);
  const { protocol, hostname } = new URL(client.url);
  const loopback = hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
  if (protocol !== 'https:' && !loopback) throw usageError(`the PDP must be reached over https (receipt keys travel on this link); ${client.url} is not`);
  return client;
}

const keysPath = (tenant: string) => `/admin/v1/tenants/${encodeURIComponent(tenant)}/receipt-keys`;

/** The tenant's verifying set from the PDP, written into every database (exactly that set). */
async function syncTenant(client: VerityClient, dbs: readonly pg.Client[], tenant: string): Promise<ExportedKey[]> {
  const { keys } = await client.request<{ keys: ExportedKey[] }>('POST', `${keysPath(tenant)}/export`);
  if (!Array.isArray(keys)) throw cliError('ERR_CLI_BAD_ANSWER', 'the PDP answered the key export without a key list');
  const material: ReceiptKeyMaterial[] = keys.map((key) => ({ kid: key.kid, secret: key.secret, verifyUntil: key.verify_until }));
  for (const db of dbs) await syncReceiptKeys(db, tenant, material);
  return keys;
}

/** A pending key: the one an earlier, unfinished run left, or a new one. */
async function pendingKey(client: VerityClient, tenant: string, listed: ListedKey[]): Promise<ListedKey> {
  return listed.find((key) => key.state === 'pending') ?? (await client.request<ListedKey>('POST', keysPath(tenant)));
}

/** Install a pending key in every database given, then let the PDP sign with it. */
async function installThenActivate(client: VerityClient, dbs: readonly pg.Client[], tenant: string, listed: ListedKey[]): Promise<string> {
  const pending = await pendingKey(client, tenant, listed);
  // Every database must verify the new key before the PDP signs a single receipt with it.
  await syncTenant(client, dbs, tenant);
  await client.request('POST', `${keysPath(tenant)}/${encodeURIComponent(pending.kid)}/activate`);
  return pending.kid;
}

interface TenantOutcome {
  tenant: string;
  active: string;
  keys: Array<{ kid: string; state: string; verify_until: string | null }>;
}

function summarise(tenant: string, keys: ExportedKey[]): TenantOutcome {
  return { tenant, active: keys.find((key) => key.state === 'active')?.kid ?? '', keys: keys.map(({ kid, state, verify_until }) => ({ kid, state, verify_until })) };
}

function writeOutcomes(io: CommandIo, outcomes: TenantOutcome[]): void {
  for (const outcome of outcomes) {
    writeLines(io.stdout, `tenant ${outcome.tenant}: signing with ${outcome.active || '(no active key)'}`);
    for (const key of outcome.keys) writeLines(io.stdout, `  ${key.kid} ${key.state}${key.verify_until ? ` (verifies until ${key.verify_until})` : ''}`);
  }
}

export const dbInstall: Command = {
  name: 'db install',
  summary: "Install or upgrade the data tier's verity schema in an application database, with the tenants' receipt keys",
  usage: '--database-url URL [--database-url URL ...] [--tenant T ...] [--app-role ROLE ...]',
  arguments: [],
  options: {
    ...databaseOptions,
    tenant: { type: 'string', short: 't', valueName: 'T', multiple: true, description: "a tenant whose receipts this database verifies (repeatable)" },
    'app-role': { type: 'string', valueName: 'ROLE', multiple: true, description: 'the application role that may call the verity functions (repeatable)' },
    ...remoteOptions,
  },
  details: [
    'Runs the pending migrations of the verity schema (one transaction, versioned; running it again',
    'is harmless), grants each --app-role the public verity functions (refusing a role that is or',
    'can become one row-level security does not bind, that could read the keys, or that may create',
    'or owns anything: docs/data-tier.md), and for each --tenant copies the verifying',
    "receipt keys from the PDP into verity_private. A tenant without an active key gets one: it is",
    'installed in the database first and only then activated at the PDP, so no receipt is ever',
    'signed with a key the database does not know. Needs a platform-admin credential.',
    '',
    DATABASE_DETAILS,
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const urls = databaseUrls(args, io);
    const tenants = listOf(args, 'tenant');
    const appRoles = listOf(args, 'app-role');
    const client = pdpClient(args, io);
    const result = await withDatabases(urls, async (dbs) => {
      const schemas: Array<{ fromVersion: number; toVersion: number }> = [];
      for (const db of dbs) schemas.push(await installDataTier(db, { appRoles }));
      const outcomes: TenantOutcome[] = [];
      for (const tenant of tenants) {
        const { keys: listed } = await client.request<{ keys: ListedKey[] }>('GET', keysPath(tenant));
        if (!listed.some((key) => key.state === 'active')) await installThenActivate(client, dbs, tenant, listed);
        outcomes.push(summarise(tenant, await syncTenant(client, dbs, tenant)));
      }
      return { schema: { from: Math.min(...schemas.map((schema) => schema.fromVersion)), to: Math.max(...schemas.map((schema) => schema.toVersion)) }, appRoles, tenants: outcomes };
    });
    writeResult(args, io, result, () => {
      writeLines(io.stdout, result.schema.from === result.schema.to ? `verity schema up to date (version ${result.schema.to})` : `verity schema migrated from version ${result.schema.from} to ${result.schema.to}`);
      if (appRoles.length > 0) writeLines(io.stdout, `granted to: ${appRoles.join(', ')}`);
      writeOutcomes(io, result.tenants);
    });
    return EXIT.OK;
  },
};

export const dbRotate: Command = {
  name: 'db rotate',
  summary: "Rotate a tenant's receipt key: install the new key in the databases, then have the PDP sign with it",
  usage: '--database-url URL [--database-url URL ...] --tenant T [--tenant T ...] [--prepare]',
  arguments: [],
  options: {
    ...databaseOptions,
    tenant: { type: 'string', short: 't', valueName: 'T', multiple: true, description: 'the tenant whose key to rotate (repeatable; at least one)' },
    prepare: { type: 'boolean', description: 'only make the new key and install it in these databases; a later db rotate activates it' },
    ...remoteOptions,
  },
  details: [
    'For each tenant: the PDP makes a new key (pending); it is written into every database given;',
    'the PDP activates it; the databases then receive the retired key with its end date. Receipts',
    'signed with the old key keep verifying until they expire (the old key verifies for the longest',
    'receipt lifetime plus a minute after the switch, then is dropped by the next install or rotate).',
    '',
    'Give every database that verifies the tenant (repeat --database-url): one left out does not',
    'know the new key, so it refuses new receipts until `verity db install` runs against it, and it',
    'keeps trusting the old key with no end date until then. Databases one run cannot reach: run',
    '`db rotate --prepare` (the pending key goes into the databases given), then `db install`',
    'against each other database (it installs pending keys too), then `db rotate` to activate, then',
    "`db install` against the others again (the old key's end date). Needs a platform-admin",
    'credential.',
    '',
    DATABASE_DETAILS,
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const urls = databaseUrls(args, io);
    const tenants = listOf(args, 'tenant');
    if (tenants.length === 0) throw usageError('--tenant is required');
    const prepare = args.values['prepare'] === true;
    const client = pdpClient(args, io);
    const outcomes = await withDatabases(urls, async (dbs) => {
      const done: TenantOutcome[] = [];
      for (const tenant of tenants) {
        const { keys: listed } = await client.request<{ keys: ListedKey[] }>('GET', keysPath(tenant));
        // A pending key left by --prepare or by an interrupted rotation is the one to finish with.
        if (prepare) await pendingKey(client, tenant, listed);
        else await installThenActivate(client, dbs, tenant, listed);
        done.push(summarise(tenant, await syncTenant(client, dbs, tenant)));
      }
      return done;
    });
    writeResult(args, io, { tenants: outcomes }, () => writeOutcomes(io, outcomes));
    return EXIT.OK;
  },
};
