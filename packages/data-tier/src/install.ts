/**
 * Installing and upgrading the `verity` schemas in an application database, and keeping a
 * tenant's receipt verification keys there in step with the PDP. Both run with the database
 * owner's connection (the operator's, via `verity db install` / `verity db rotate`).
 */
import { APP_FUNCTIONS, MIGRATIONS, PGCRYPTO_SCHEMA } from './migrations.js';
import { quoteIdentifier, type SqlClient } from './sql-client.js';

export interface InstallDataTierOptions {
  /**
   * Roles the application connects as: granted USAGE on `verity` and EXECUTE on its reading
   * functions (not `verity.enable_rls`). Each must exist and must not be, nor be able to become
   * (role membership, transitively): a superuser, a BYPASSRLS role, pg_read_all_data or
   * pg_write_all_data, pg_execute_server_program, pg_read_server_files or
   * pg_write_server_files, the installing owner or the owner of the verity schemas, the owner of
   * a table with a Verity policy; nor may it hold TRUNCATE, TRIGGER or REFERENCES (a column's
   * too) on such a table, use verity_private, create schemas or objects in any schema, or own
   * any schema, table or function. Checked again on every install: run it after changing role grants.
   */
  appRoles?: readonly string[];
  /** How long to wait for a concurrent install (the data tier's advisory lock), ms; default 30 000. */
  lockWaitMs?: number;
}

export interface InstallDataTierResult {
  /** The schema version before (0: not installed). */
  fromVersion: number;
  /** The schema version now installed. */
  toVersion: number;
}

/** A tenant's receipt verification key, as the PDP's export gives it. */
export interface ReceiptKeyMaterial {
  /** Key id, the receipt header's `kid`: unique across tenants. */
  kid: string;
  /** The 32-byte HMAC key, base64url (RFC 4648 §5), no padding. */
  secret: string;
  /** ISO 8601 instant after which receipts signed with this key no longer verify; null: no end. */
  verifyUntil: string | null;
}

// Advisory lock key of the install ("verity" in ASCII): concurrent installs and key syncs (two
// operators, two replicas of a deploy job) take turns instead of interleaving.
const INSTALL_LOCK = 0x766572697479;
/** How long an install waits for that lock by default, ms. */
const LOCK_WAIT_MS = 30_000;

/**
 * Take the data tier's advisory lock with `fn` (`pg_try_advisory_xact_lock` or
 * `pg_try_advisory_lock`), retrying for `waitMs`. Any role may take an advisory lock, the
 * application's too: a holder that never lets go gets a clear error, not a wait without end.
 */
async function acquire(owner: SqlClient, fn: 'pg_try_advisory_xact_lock' | 'pg_try_advisory_lock', waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await owner.query(`SELECT pg_catalog.${fn}($1) AS locked`, [INSTALL_LOCK]);
    if (rows[0]?.locked === true) return;
    if (Date.now() >= deadline) throw new Error(`verity data tier: another session has held the data tier's advisory lock (${INSTALL_LOCK}) for ${waitMs} ms: another install or rotation, or a role holding pg_advisory_lock(${INSTALL_LOCK}); find it in pg_locks`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Hold the data tier's advisory lock for the session of `owner` until the returned function is
 * called: `verity db install` and `verity db rotate` hold it for their whole run, so two of them
 * against one database never interleave their key syncs. Installs under it do not wait for it.
 *
 * @throws Error when it cannot be had within `waitMs` (default 30 s).
 */
export async function holdDataTierLock(owner: SqlClient, waitMs = LOCK_WAIT_MS): Promise<() => Promise<void>> {
  await acquire(owner, 'pg_try_advisory_lock', waitMs);
  return async () => {
    await owner.query('SELECT pg_catalog.pg_advisory_unlock($1)', [INSTALL_LOCK]);
  };
}

/**
 * Install or upgrade the Verity data tier in the database `owner` is connected to, in one
 * transaction under an advisory lock, then grant `options.appRoles`. Idempotent.
 *
 * `owner` must be able to create schemas in the database and to create the pgcrypto extension
 * (PostgreSQL ≥ 13: the database owner may; it is a trusted extension). On PGlite, construct the
 * instance with the extension: `new PGlite({ extensions: { pgcrypto } })`, `pgcrypto` from
 * `@electric-sql/pglite/contrib/pgcrypto`.
 *
 * @throws Error when pgcrypto is unavailable, when the database has a newer schema than this
 *   package knows, or when an app role does not exist or could bypass row-level security.
 */
export async function installDataTier(owner: SqlClient, options: InstallDataTierOptions = {}): Promise<InstallDataTierResult> {
  const appRoles = [...(options.appRoles ?? [])];
  for (const role of appRoles) quoteIdentifier(role);
  return transaction(owner, async () => {
    await acquire(owner, 'pg_try_advisory_xact_lock', options.lockWaitMs ?? LOCK_WAIT_MS);
    const fromVersion = await installedVersion(owner);
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    if (fromVersion > latest) throw new Error(`verity data tier: the database has schema version ${fromVersion}, newer than this Verity (${latest}); upgrade Verity`);
    const pending = MIGRATIONS.filter((migration) => migration.version > fromVersion);
    if (pending.length > 0) {
      const pgcrypto = quoteIdentifier(await ensurePgcrypto(owner));
      for (const migration of pending) {
        for (const statement of migration.statements) await owner.query(statement.replaceAll(PGCRYPTO_SCHEMA, pgcrypto));
        await owner.query('INSERT INTO verity_private.migrations (version, applied_at) VALUES ($1, pg_catalog.now())', [migration.version]);
      }
    }
    for (const role of appRoles) await grantAppRole(owner, role);
    return { fromVersion, toVersion: Math.max(fromVersion, latest) };
  });
}

/**
 * Make `tenant`'s verification keys in the database exactly `keys`: insert or update each,
 * delete the tenant's others. One transaction.
 *
 * @throws TypeError for a malformed key (empty kid, secret not 32 bytes of base64url, bad date);
 *   Error when a kid is already installed for another tenant.
 */
export async function syncReceiptKeys(owner: SqlClient, tenant: string, keys: readonly ReceiptKeyMaterial[]): Promise<void> {
  if (typeof tenant !== 'string' || tenant === '') throw new TypeError('syncReceiptKeys: tenant must be a non-empty string');
  const rows = keys.map(checkKey);
  await transaction(owner, async () => {
    await owner.query(
      'DELETE FROM verity_private.receipt_keys WHERE tenant = $1 AND NOT (kid = ANY (SELECT pg_catalog.jsonb_array_elements_text($2::jsonb)))',
      [tenant, JSON.stringify(rows.map((row) => row.kid))],
    );
    for (const row of rows) {
      const result = await owner.query(
        `INSERT INTO verity_private.receipt_keys AS k (kid, tenant, secret, verify_until)
         VALUES ($1, $2, pg_catalog.decode($3, 'hex'), $4::timestamptz)
         ON CONFLICT (kid) DO UPDATE SET secret = EXCLUDED.secret, verify_until = EXCLUDED.verify_until
         WHERE k.tenant = EXCLUDED.tenant
         RETURNING kid`,
        [row.kid, tenant, row.secretHex, row.verifyUntil],
      );
      if (result.rows.length === 0) throw new Error('syncReceiptKeys: a key id is already installed for another tenant');
    }
  });
}

function checkKey(key: ReceiptKeyMaterial): { kid: string; secretHex: string; verifyUntil: string | null } {
  if (typeof key.kid !== 'string' || key.kid === '') throw new TypeError('syncReceiptKeys: kid must be a non-empty string');
  const secret = typeof key.secret === 'string' && /^[A-Za-z0-9_-]+$/.test(key.secret) ? Buffer.from(key.secret, 'base64url') : undefined;
  // The message names neither the secret nor its length.
  if (secret === undefined || secret.length !== 32) throw new TypeError('syncReceiptKeys: secret must be 32 bytes, base64url');
  if (key.verifyUntil !== null && Number.isNaN(Date.parse(key.verifyUntil))) throw new TypeError('syncReceiptKeys: verifyUntil must be an ISO 8601 instant or null');
  return { kid: key.kid, secretHex: secret.toString('hex'), verifyUntil: key.verifyUntil === null ? null : new Date(key.verifyUntil).toISOString() };
}

async function transaction<T>(client: SqlClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function installedVersion(client: SqlClient): Promise<number> {
  const { rows } = await client.query("SELECT pg_catalog.to_regclass('verity_private.migrations') IS NOT NULL AS installed");
  if (rows[0]?.installed !== true) return 0;
  const max = await client.query('SELECT COALESCE(max(version), 0) AS version FROM verity_private.migrations');
  return Number(max.rows[0]?.version ?? 0);
}

/** pgcrypto's schema, creating the extension in verity_private when it is not installed. */
async function ensurePgcrypto(client: SqlClient): Promise<string> {
  const schemaOf = async () =>
    (await client.query("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'")).rows[0]?.nspname as string | undefined;
  const existing = await schemaOf();
  if (existing !== undefined) return existing;
  await client.query('CREATE SCHEMA IF NOT EXISTS verity_private');
  await client.query('SAVEPOINT verity_pgcrypto');
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA verity_private');
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT verity_pgcrypto');
    throw new Error(
      'verity data tier: the pgcrypto extension is not available (PostgreSQL: install the contrib package; PGlite: construct it with `extensions: { pgcrypto }` from @electric-sql/pglite/contrib/pgcrypto)',
      { cause: error },
    );
  }
  return (await schemaOf()) as string;
}

/**
 * Why `role` must not be an app role, or null. Membership counts transitively and whatever its
 * INHERIT flag (a member can SET ROLE): a role that is, or can become, one that row-level
 * security does not bind, one that can read the keys, or one that can plant functions next to
 * pgcrypto's (whose overloads would make every verification fail) is refused.
 */
async function appRoleProblem(client: SqlClient, role: string): Promise<string | null> {
  const { rows } = await client.query(
    `WITH app AS (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1),
          -- Every role the app role is or can become (SET ROLE works through NOINHERIT too).
          reachable AS (SELECT x.* FROM pg_catalog.pg_roles x, app WHERE pg_catalog.pg_has_role(app.oid, x.oid, 'MEMBER')),
          protected AS (SELECT DISTINCT p.polrelid AS oid FROM pg_catalog.pg_policy p
                         WHERE p.polname IN ('verity_select', 'verity_insert', 'verity_update', 'verity_delete'))
     SELECT (SELECT count(*) FROM app) AS found,
            EXISTS (SELECT 1 FROM reachable WHERE rolsuper) AS superuser,
            EXISTS (SELECT 1 FROM reachable WHERE rolbypassrls) AS bypassrls,
            EXISTS (SELECT 1 FROM reachable WHERE rolname IN ('pg_read_all_data', 'pg_write_all_data')) AS all_data,
            -- Predefined roles PostgreSQL documents as equal to superuser in effect (files, programs).
            EXISTS (SELECT 1 FROM reachable WHERE rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files')) AS server_files,
            EXISTS (SELECT 1 FROM reachable x JOIN pg_catalog.pg_namespace n ON n.nspowner = x.oid
                     WHERE n.nspname IN ('verity', 'verity_private')) AS owns_verity,
            EXISTS (SELECT 1 FROM reachable x WHERE x.rolname = current_user) AS installer,
            EXISTS (SELECT 1 FROM protected t JOIN pg_catalog.pg_class c ON c.oid = t.oid JOIN reachable x ON x.oid = c.relowner) AS owns_protected,
            EXISTS (SELECT 1 FROM protected t, reachable x
                     WHERE pg_catalog.has_table_privilege(x.oid, t.oid, 'TRUNCATE')
                        OR pg_catalog.has_table_privilege(x.oid, t.oid, 'TRIGGER')
                        OR pg_catalog.has_any_column_privilege(x.oid, t.oid, 'REFERENCES')) AS ungoverned,
            (SELECT pg_catalog.has_schema_privilege(app.oid, 'verity_private', 'USAGE') FROM app) AS reads_private,
            -- Creating or owning anything lets it stand in for what other requests' queries name
            -- (a schema first on the search_path, a view, an overload): an app role does neither.
            EXISTS (SELECT 1 FROM reachable x WHERE pg_catalog.has_database_privilege(x.oid, pg_catalog.current_database(), 'CREATE')) AS creates_schemas,
            (SELECT pg_catalog.string_agg(DISTINCT n.nspname, ', ') FROM reachable x, pg_catalog.pg_namespace n
              WHERE n.nspname !~ '^pg_(toast_)?temp_' AND pg_catalog.has_schema_privilege(x.oid, n.oid, 'CREATE')) AS creates_in,
            EXISTS (SELECT 1 FROM reachable x
                     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspowner = x.oid AND n.nspname !~ '^pg_(toast_)?temp_')
                        OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relowner = x.oid AND c.relpersistence <> 't')
                        OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc f WHERE f.proowner = x.oid)) AS owns_objects`,
    [role],
  );
  const found = rows[0] as Record<string, unknown> | undefined;
  if (found === undefined || Number(found.found) === 0) return 'does not exist';
  // Row-level security binds neither a superuser, nor a BYPASSRLS role, nor a table's owner.
  if (found.superuser === true) return 'is, or can become, a superuser (row-level security does not apply to it)';
  if (found.bypassrls === true) return 'has BYPASSRLS, or can become a role that has it';
  if (found.all_data === true) return 'is a member of pg_read_all_data or pg_write_all_data (it could read the receipt keys)';
  if (found.server_files === true) return 'is a member of pg_execute_server_program, pg_read_server_files or pg_write_server_files (superuser in effect: it could read the receipt keys from disk)';
  if (found.owns_verity === true || found.installer === true || found.reads_private === true) return 'is, or can become, the role that owns the verity schemas, or may use verity_private (it could read the receipt keys)';
  if (found.owns_protected === true) return 'owns, or is a member of a role that owns, a table with Verity row-level security';
  if (found.ungoverned === true) return 'holds (or can become a role holding) TRUNCATE, TRIGGER or REFERENCES on a table with Verity row-level security (row-level security does not govern them): REVOKE them';
  if (found.creates_schemas === true) return 'may create schemas in this database (REVOKE CREATE ON DATABASE): an app role creates nothing';
  if (typeof found.creates_in === 'string') return `may create objects in schema(s) ${found.creates_in} (REVOKE CREATE ON SCHEMA …): an app role creates nothing`;
  if (found.owns_objects === true) return 'owns, or can become a role that owns, schemas, tables or functions: an app role owns nothing';
  return null;
}

async function grantAppRole(client: SqlClient, role: string): Promise<void> {
  const problem = await appRoleProblem(client, role);
  if (problem !== null) throw new Error(`verity data tier: app role ${JSON.stringify(role)} ${problem}`);
  const quoted = quoteIdentifier(role);
  await client.query(`GRANT USAGE ON SCHEMA verity TO ${quoted}`);
  await client.query(`GRANT EXECUTE ON FUNCTION ${APP_FUNCTIONS.join(', ')} TO ${quoted}`);
}
