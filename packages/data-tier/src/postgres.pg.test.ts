/**
 * The data-tier suite on PostgreSQL, in a throwaway database owned by a throwaway non-superuser
 * owner role, with the app as a LOGIN role connecting as itself; then what only real roles and
 * real pools show: SET ROLE, role refusals at install, and a pooled connection's next user.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDataTier, syncReceiptKeys } from './install.js';
import type { SqlClient } from './sql-client.js';
import { withReceipt } from './with-receipt.js';
import { describeDataTier, type DataTierHarness } from '../test/data-tier-suite.js';
import { makeKey, mintReceipt } from '../test/receipts.js';

const adminUrl = process.env.VERITY_TEST_DATABASE_URL;
if (adminUrl === undefined || adminUrl === '') {
  throw new Error('VERITY_TEST_DATABASE_URL is not set: point it at a PostgreSQL database whose user may CREATE DATABASE and CREATE ROLE (e.g. postgres://postgres@127.0.0.1:5432/test)');
}

interface Scratch {
  database: string;
  ownerRole: string;
  appRole: string;
  /** A URL of the scratch database as `user`. */
  url(user?: string): string;
  /** Roles created besides the owner and app roles, dropped with them. */
  extraRoles: string[];
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A database owned by a new owner role, and a new app role; drop() removes all three. */
async function createScratch(): Promise<Scratch> {
  const suffix = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const scratch: Scratch = {
    database: `verity_dt_${suffix}`,
    ownerRole: `verity_dt_owner_${suffix}`,
    appRole: `verity_dt_app_${suffix}`,
    extraRoles: [],
    url(user) {
      const url = new URL(adminUrl as string);
      url.pathname = `/${this.database}`;
      if (user !== undefined) url.username = user;
      return url.toString();
    },
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
      for (const role of [this.appRole, ...this.extraRoles, this.ownerRole]) await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    },
  };
  await adminQuery(`CREATE ROLE ${scratch.ownerRole} LOGIN NOSUPERUSER NOBYPASSRLS`);
  await adminQuery(`CREATE ROLE ${scratch.appRole} LOGIN NOSUPERUSER NOBYPASSRLS`);
  await adminQuery(`CREATE DATABASE ${scratch.database} OWNER ${scratch.ownerRole}`);
  return scratch;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

let scratch: Scratch;
let owner: pg.Client;
let superuser: pg.Client;
let appPool: pg.Pool;

beforeAll(async () => {
  scratch = await createScratch();
  owner = await connect(scratch.url(scratch.ownerRole));
  superuser = await connect(scratch.url());
  appPool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 4 });
});

afterAll(async () => {
  await appPool?.end();
  await owner?.end();
  await superuser?.end();
  await scratch?.drop();
}, 60_000);

describeDataTier('PostgreSQL', async (): Promise<DataTierHarness> => {
  // The database owner, not a superuser, installs (pgcrypto is a trusted extension).
  expect(await installDataTier(owner, { appRoles: [scratch.appRole] })).toEqual({ fromVersion: 0, toVersion: 1 });
  return {
    owner,
    superuser,
    appRole: scratch.appRole,
    async asApp(receipt, fn) {
      if (receipt !== null) return withReceipt(appPool, receipt, fn);
      const client = await appPool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    async appSession() {
      const client = await connect(scratch.url(scratch.appRole));
      return { client, close: () => client.end() };
    },
    close: async () => {},
  };
});

describe('data tier (PostgreSQL roles and pools)', () => {
  const key = makeKey('tenant-p');
  const ids = async (client: SqlClient) => (await client.query("SELECT id FROM pool_orders ORDER BY id")).rows.map((row) => row.id as string);

  beforeAll(async () => {
    await owner.query('CREATE TABLE pool_orders (id text PRIMARY KEY, tenant_id text NOT NULL)');
    await owner.query(`GRANT SELECT ON pool_orders TO ${scratch.appRole}`);
    await owner.query("INSERT INTO pool_orders VALUES ('p1', 'tenant-p'), ('q1', 'tenant-q')");
    await owner.query("SELECT verity.enable_rls('pool_orders', 'tenant_id')");
    await syncReceiptKeys(owner, 'tenant-p', [key.material]);
  });

  it("a pooled connection's next user gets none of the previous transaction's receipt", async () => {
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    try {
      const [bound, firstPid] = await withReceipt(pool, await mintReceipt(key), async (client) => [await ids(client), (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid]);
      expect(bound).toEqual(['p1']);
      expect((await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(firstPid);
      expect(await ids(pool)).toEqual([]);
      expect((await pool.query('SELECT verity.current_tenant() AS t')).rows[0].t).toBeNull();
    } finally {
      await pool.end();
    }
  });

  it('a receipt bound session-wide (set_config(…, false)) in an earlier transaction is treated as none', async () => {
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    try {
      const receipt = await mintReceipt(key);
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT verity.bind($1)', [receipt]);
      await client.query("SELECT set_config('verity.receipt', $1, false), set_config('verity.receipt_txn', current_setting('verity.receipt_txn'), false)", [receipt]);
      await client.query('COMMIT');
      client.release();
      expect((await pool.query("SELECT current_setting('verity.receipt') AS r")).rows[0].r).toBe(receipt);
      expect(await ids(pool)).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('the app role cannot become the owner or a superuser, nor change the verity schema', async () => {
    for (const sql of [
      `SET ROLE ${scratch.ownerRole}`,
      'SET ROLE postgres',
      `SET SESSION AUTHORIZATION ${scratch.ownerRole}`,
      'CREATE FUNCTION verity.shadow() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
      'ALTER FUNCTION verity.tenant_for(text[]) SECURITY INVOKER',
      "SELECT verity_private.base64url_decode('AA')",
    ]) {
      await expect(appPool.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('installDataTier refuses a BYPASSRLS role and a member of the protected table owner', async () => {
    const bypass = `${scratch.appRole}_bypass`;
    const member = `${scratch.appRole}_member`;
    scratch.extraRoles.push(bypass, member);
    await superuser.query(`CREATE ROLE ${bypass} NOLOGIN BYPASSRLS`);
    await superuser.query(`CREATE ROLE ${member} NOLOGIN IN ROLE ${scratch.ownerRole}`);
    await expect(installDataTier(owner, { appRoles: [bypass] })).rejects.toThrow(/BYPASSRLS/);
    await expect(installDataTier(owner, { appRoles: [member] })).rejects.toThrow(/can become, the role that owns the verity schemas/);
    // Refused before any grant.
    expect((await superuser.query(`SELECT has_schema_privilege('${bypass}', 'verity', 'USAGE') AS u`)).rows[0].u).toBe(false);
  });

  it('installDataTier refuses a role that can become one RLS does not bind or that can reach the keys (outsider attack F2)', async () => {
    const via = `${scratch.appRole}_via`;
    const viaBypass = `${scratch.appRole}_vbyp`;
    const reader = `${scratch.appRole}_reader`;
    const creator = `${scratch.appRole}_creator`;
    scratch.extraRoles.push(via, viaBypass, reader, creator);
    // Membership of a NOLOGIN BYPASSRLS role: SET ROLE would bypass row-level security.
    await superuser.query(`CREATE ROLE ${viaBypass} NOLOGIN BYPASSRLS`);
    await superuser.query(`CREATE ROLE ${via} LOGIN IN ROLE ${viaBypass}`);
    await expect(installDataTier(owner, { appRoles: [via] })).rejects.toThrow(/BYPASSRLS/);
    // pg_read_all_data reads verity_private.receipt_keys whatever its grants.
    await superuser.query(`CREATE ROLE ${reader} LOGIN IN ROLE pg_read_all_data`);
    await expect(installDataTier(owner, { appRoles: [reader] })).rejects.toThrow(/pg_read_all_data/);
    // CREATE in pgcrypto's schema: an overload of hmac there breaks every verification.
    await superuser.query(`CREATE ROLE ${creator} LOGIN`);
    const { rows } = await superuser.query("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'");
    await superuser.query(`GRANT CREATE ON SCHEMA "${rows[0].nspname}" TO ${creator}`);
    await expect(installDataTier(owner, { appRoles: [creator] })).rejects.toThrow(/may create objects in schema/);
    await superuser.query(`REVOKE CREATE ON SCHEMA "${rows[0].nspname}" FROM ${creator}`);
    // Refused before any grant.
    for (const role of [via, reader, creator]) expect((await superuser.query(`SELECT has_function_privilege('${role}', 'verity.bind(text)', 'EXECUTE') AS x`)).rows[0].x, role).toBe(false);
  });

  it('enable_rls refuses a table that grants TRUNCATE, TRIGGER or REFERENCES, and install refuses an app role holding them (second attack F2)', async () => {
    await owner.query('CREATE TABLE ungoverned (id text, tenant_id text NOT NULL)');
    for (const privilege of ['TRUNCATE', 'TRIGGER', 'REFERENCES']) {
      await owner.query(`GRANT ${privilege} ON ungoverned TO ${scratch.appRole}`);
      await expect(owner.query("SELECT verity.enable_rls('ungoverned', 'tenant_id')")).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(privilege) });
      await owner.query(`REVOKE ${privilege} ON ungoverned FROM ${scratch.appRole}`);
    }
    await owner.query("SELECT verity.enable_rls('ungoverned', 'tenant_id')");
    // Granted after the table was protected: the next install refuses the role.
    await owner.query(`GRANT TRIGGER ON ungoverned TO ${scratch.appRole}`);
    await expect(installDataTier(owner, { appRoles: [scratch.appRole] })).rejects.toThrow(/TRUNCATE, TRIGGER or REFERENCES/);
    await owner.query(`REVOKE TRIGGER ON ungoverned FROM ${scratch.appRole}`);
    await installDataTier(owner, { appRoles: [scratch.appRole] });
    await owner.query('DROP TABLE ungoverned');
  });

  it('enable_rls warns of an index that does not lead with the tenant column; with one that does, EXPLAIN ANALYZE counts no other tenant\'s rows (second attack F1)', async () => {
    await owner.query('CREATE TABLE indexed (tenant_id text NOT NULL, id text NOT NULL, amount int NOT NULL, PRIMARY KEY (tenant_id, id))');
    await owner.query(`GRANT SELECT ON indexed TO ${scratch.appRole}`);
    await owner.query("INSERT INTO indexed SELECT CASE WHEN i % 2 = 0 THEN 'tenant-p' ELSE 'tenant-q' END, 'r' || i, i FROM generate_series(1, 2000) i");
    await owner.query('CREATE INDEX indexed_amount ON indexed (amount)');
    const notices: string[] = [];
    const listen = (notice: { message?: string | undefined }) => void notices.push(notice.message ?? '');
    owner.on('notice', listen);
    await owner.query("SELECT verity.enable_rls('indexed', 'tenant_id')");
    owner.off('notice', listen);
    expect(notices.join('\n')).toMatch(/index (public\.)?indexed_amount of (public\.)?indexed does not lead with tenant_id/);
    expect(notices.join('\n')).not.toMatch(/indexed_pkey/);
    await owner.query('ANALYZE indexed');
    const removed = async () => {
      const client = await connect(scratch.url(scratch.appRole));
      try {
        await client.query('SET enable_seqscan = off');
        await client.query('SET enable_bitmapscan = off');
        const plan = (await client.query('EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM indexed WHERE amount = 1001')).rows[0]['QUERY PLAN'];
        return JSON.stringify(plan).match(/"Rows Removed by (Filter|Index Recheck)":\s*[1-9]/) !== null;
      } finally {
        await client.end();
      }
    };
    // With the index on amount alone, another tenant's matching row is counted (PostgreSQL's side channel).
    expect(await removed()).toBe(true);
    await owner.query('DROP INDEX indexed_amount');
    await owner.query('CREATE INDEX indexed_amount ON indexed (tenant_id, amount)');
    expect(await removed()).toBe(false);
    await owner.query('DROP TABLE indexed');
  });

  it('an app role holding the data tier\'s advisory lock makes install fail with a clear error, not wait for ever (second attack F6)', async () => {
    const app = await connect(scratch.url(scratch.appRole));
    try {
      await app.query('SELECT pg_advisory_lock($1)', [0x766572697479]);
      await expect(installDataTier(owner, { lockWaitMs: 300 })).rejects.toThrow(/held the data tier's advisory lock/);
    } finally {
      await app.end();
    }
    await installDataTier(owner);
  });

  it('installDataTier refuses an app role that can create or own anything, or run server programs (third attack F1, F2, F5)', async () => {
    const dbName = new URL(scratch.url()).pathname.slice(1);
    const cases: Array<{ role: string; setup: string[]; undo: string[]; refusal: RegExp }> = [];
    const add = (name: string, setup: (role: string) => string[], undo: (role: string) => string[], refusal: RegExp) => {
      const role = `${scratch.appRole}_${name}`;
      scratch.extraRoles.push(role);
      cases.push({ role, setup: [`CREATE ROLE ${role} LOGIN`, ...setup(role)], undo: undo(role), refusal });
    };
    add('cdb', (r) => [`GRANT CREATE ON DATABASE ${dbName} TO ${r}`], (r) => [`REVOKE CREATE ON DATABASE ${dbName} FROM ${r}`], /may create schemas/);
    add('cpub', (r) => [`GRANT CREATE ON SCHEMA public TO ${r}`], (r) => [`REVOKE CREATE ON SCHEMA public FROM ${r}`], /may create objects in schema\(s\) public/);
    add('own', (r) => [`CREATE SCHEMA ${r}_s AUTHORIZATION ${r}`], (r) => [`DROP SCHEMA ${r}_s`], /owns nothing|may create objects in schema/);
    add('prog', (r) => [`GRANT pg_execute_server_program TO ${r}`], (r) => [`REVOKE pg_execute_server_program FROM ${r}`], /pg_execute_server_program/);
    // TRUNCATE held through a NOINHERIT membership: SET ROLE reaches it all the same.
    add('noinh', (r) => [`ALTER ROLE ${r} NOINHERIT`, `CREATE ROLE ${r}_g NOLOGIN`, `GRANT TRUNCATE ON pool_orders TO ${r}_g`, `GRANT ${r}_g TO ${r}`], (r) => [`REVOKE TRUNCATE ON pool_orders FROM ${r}_g`, `DROP ROLE ${r}_g`], /TRUNCATE, TRIGGER or REFERENCES/);
    // REFERENCES on a column: a foreign key would probe other tenants' keys.
    add('colref', (r) => [`GRANT REFERENCES (id) ON pool_orders TO ${r}`], (r) => [`REVOKE REFERENCES (id) ON pool_orders FROM ${r}`], /TRUNCATE, TRIGGER or REFERENCES/);
    for (const { role, setup, undo, refusal } of cases) {
      for (const sql of setup) await (sql.includes('pool_orders') ? owner : superuser).query(sql);
      try {
        await expect(installDataTier(owner, { appRoles: [role] }), role).rejects.toThrow(refusal);
        expect((await superuser.query(`SELECT has_function_privilege('${role}', 'verity.bind(text)', 'EXECUTE') AS x`)).rows[0].x, role).toBe(false);
      } finally {
        for (const sql of undo) await (sql.includes('pool_orders') ? owner : superuser).query(sql);
      }
    }
  });

  it('enable_rls refuses a column-level REFERENCES grant (third attack F7)', async () => {
    await owner.query(`GRANT REFERENCES (tenant_id) ON pool_orders TO ${scratch.appRole}`);
    try {
      await expect(owner.query("SELECT verity.enable_rls('pool_orders', 'tenant_id')")).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('REFERENCES (tenant_id)') });
    } finally {
      await owner.query(`REVOKE REFERENCES (tenant_id) ON pool_orders FROM ${scratch.appRole}`);
    }
    await owner.query("SELECT verity.enable_rls('pool_orders', 'tenant_id')");
  });

  it('withReceipt: a SET ROLE or a re-prepared statement left by the previous borrower does not carry over; the lent client cannot be changed (third attack F3, F4, F6)', async () => {
    const other = makeKey('tenant-q');
    await syncReceiptKeys(owner, 'tenant-q', [other.material]);
    const group = `${scratch.appRole}_grp`;
    scratch.extraRoles.push(group);
    await superuser.query(`CREATE ROLE ${group} NOLOGIN`);
    await superuser.query(`GRANT ${group} TO ${scratch.appRole}`);
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    const named = { name: 'pool-orders-by-id', text: 'SELECT id FROM pool_orders WHERE id = $1', values: ['q1'] };
    try {
      // The application's own named statement, prepared once on the connection.
      expect((await withReceipt(pool, await mintReceipt(other), (client: pg.PoolClient) => client.query(named))).rows).toEqual([{ id: 'q1' }]);
      await withReceipt(pool, await mintReceipt(key), async (client: pg.PoolClient) => {
        // (withReceipt deallocated it already at BEGIN; an attacker would drop it first otherwise.)
        if ((await client.query("SELECT 1 FROM pg_prepared_statements WHERE name = 'pool-orders-by-id'")).rows.length > 0) await client.query('DEALLOCATE "pool-orders-by-id"');
        await client.query(`PREPARE "pool-orders-by-id"(text) AS SELECT 'planted'::text AS id WHERE $1 IS NOT NULL`);
        await client.query(`SET ROLE ${group}`);
        expect(() => Object.assign(client, { query: () => Promise.resolve({ rows: [] }) })).toThrow(/cannot be changed/);
      });
      const next = await withReceipt(pool, await mintReceipt(other), async (client: pg.PoolClient) => ({
        rows: (await client.query(named)).rows,
        user: (await client.query('SELECT current_user AS u')).rows[0].u as string,
      }));
      expect(next.rows).toEqual([{ id: 'q1' }]);
      expect(next.user).toBe(scratch.appRole);
    } finally {
      await pool.end();
      await superuser.query(`REVOKE ${group} FROM ${scratch.appRole}`);
    }
  });

  it('a receipt runs out inside one long DO block too, and so does a key retired meanwhile (fourth attack F1)', async () => {
    // Every query in a DO block has the block's start as statement_timestamp(): the check uses the wall clock.
    const shortLived = await mintReceipt(key, { expiresIn: 2 });
    const loop = 'DO $$ DECLARE n int; BEGIN PERFORM pg_sleep(3); SELECT count(*) INTO n FROM pool_orders; END $$';
    await expect(withReceipt(appPool, shortLived, (client: pg.PoolClient) => client.query(loop))).rejects.toMatchObject({ code: '28000', message: 'verity: receipt rejected: expired' });

    const other = makeKey('tenant-r');
    await syncReceiptKeys(owner, 'tenant-r', [other.material]);
    const running = withReceipt(appPool, await mintReceipt(other, { expiresIn: 60 }), (client: pg.PoolClient) => client.query(loop));
    const settled = running.then(() => null, (error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // What db rotate does to the old key: an end date, here now — after the block began, before its query.
    await syncReceiptKeys(owner, 'tenant-r', [{ ...other.material, verifyUntil: new Date().toISOString() }]);
    expect(await settled).toMatchObject({ code: '28000', message: 'verity: receipt rejected: unknown key' });
  });

  it('withReceipt: a client kept past its callback runs nothing, not even inside the next borrower\'s transaction (outsider attack F3)', async () => {
    const other = makeKey('tenant-q');
    await syncReceiptKeys(owner, 'tenant-q', [other.material]);
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    try {
      let kept: pg.PoolClient | undefined;
      await withReceipt(pool, await mintReceipt(key), async (client: pg.PoolClient) => {
        kept = client;
        expect(() => client.release()).toThrow(/released by withReceipt/);
      });
      // The same connection now serves tenant-q's receipt; the kept client asks meanwhile.
      const late = await withReceipt(pool, await mintReceipt(other), async (client: pg.PoolClient) => {
        const leaked = await (kept as pg.PoolClient).query('SELECT id FROM pool_orders').then((r) => r.rows, (error: Error) => error);
        return { leaked, own: (await client.query('SELECT id FROM pool_orders ORDER BY id')).rows.map((row) => row.id as string) };
      });
      expect(late.leaked).toBeInstanceOf(Error);
      expect(String(late.leaked)).toMatch(/callback, which is over/);
      expect(late.own).toEqual(['q1']);

      // The method itself kept (read during the callback, called after it), or the wire connection.
      let keptQuery: pg.PoolClient['query'] | undefined;
      await withReceipt(pool, await mintReceipt(key), async (client: pg.PoolClient) => {
        keptQuery = client.query;
        expect(() => (client as unknown as { connection: unknown }).connection).toThrow(/raw connection/);
      });
      const again = await withReceipt(pool, await mintReceipt(other), async () => (keptQuery as (sql: string) => Promise<unknown>)('SELECT id FROM pool_orders').then(() => 'ran', (error: Error) => error.message));
      expect(again).toMatch(/callback, which is over/);
    } finally {
      await pool.end();
    }
  });

  it('withReceipt: what an earlier borrower left on the connection (a temporary table, a search_path) never stands in for the tables (outsider attack F5)', async () => {
    const other = makeKey('tenant-q');
    await syncReceiptKeys(owner, 'tenant-q', [other.material]);
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    try {
      await withReceipt(pool, await mintReceipt(key), async (client: pg.PoolClient) => {
        await client.query("CREATE TEMP TABLE pool_orders (id text, tenant_id text); INSERT INTO pool_orders VALUES ('planted', 'tenant-q')");
        await client.query('SET search_path = pg_temp, public');
      });
      // The next borrower, another tenant, reads the real table: its own row, not the planted one.
      expect(await withReceipt(pool, await mintReceipt(other), (client: pg.PoolClient) => ids(client))).toEqual(['q1']);
      expect(await withReceipt(pool, await mintReceipt(other), async (client: pg.PoolClient) => (await client.query("SELECT to_regclass('pg_temp.pool_orders') AS t")).rows[0].t)).toBeNull();
    } finally {
      await pool.end();
    }
  });

  it('withReceipt: a failing callback rolls back and the client goes back; a dead connection is destroyed', async () => {
    const pool = new pg.Pool({ connectionString: scratch.url(scratch.appRole), max: 1 });
    try {
      await expect(withReceipt(pool, await mintReceipt(key), async () => Promise.reject(new Error('callback failed')))).rejects.toThrow('callback failed');
      expect(pool.totalCount).toBe(1);
      expect(await ids(pool)).toEqual([]);
      // The connection dies inside the callback: ROLLBACK fails, the client is not reused.
      await expect(withReceipt(pool, await mintReceipt(key), (client) => client.query('SELECT pg_terminate_backend(pg_backend_pid())'))).rejects.toThrow();
      expect(pool.totalCount).toBe(0);
      expect(await withReceipt(pool, await mintReceipt(key), (client) => ids(client))).toEqual(['p1']);
    } finally {
      await pool.end();
    }
  });

  it('withReceipt on a checked-out client binds one transaction and leaves the client to its owner', async () => {
    const client = await appPool.connect();
    try {
      // The callback's parameter annotated: the client type is inferred from it.
      expect(await withReceipt(client, await mintReceipt(key), (c: pg.PoolClient) => ids(c))).toEqual(['p1']);
      expect(await ids(client)).toEqual([]);
    } finally {
      client.release();
    }
  });

  it('an invalid receipt fails verity.bind before the callback runs', async () => {
    let ran = false;
    await expect(
      withReceipt(appPool, 'not.a.receipt', async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ code: '28000', message: 'verity: receipt rejected: malformed' });
    expect(ran).toBe(false);
  });
});
