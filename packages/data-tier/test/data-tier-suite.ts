/**
 * The data-tier suite both backends pass (PGlite in src/pglite.test.ts, PostgreSQL in
 * src/postgres.pg.test.ts): receipt verification, binding, and row-level security as the app
 * role. Every refusal asserts zero rows or an SQL error, never another tenant's row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDataTier, syncReceiptKeys } from '../src/install.js';
import type { SqlClient } from '../src/sql-client.js';
import { CLAIM_CHANGES, makeKey, mintReceipt, tamperClaims, unsignedReceipt } from './receipts.js';

export interface DataTierHarness {
  /** The database owner's connection (installs, owns the tables, runs enable_rls). */
  owner: SqlClient;
  /** A superuser connection to the same database (statistics settings). */
  superuser: SqlClient;
  /** Name of the app role, already installed with installDataTier's appRoles. */
  appRole: string;
  /** `fn` in one transaction as the app role, bound to `receipt` by the SDK helper when given. */
  asApp<T>(receipt: string | null, fn: (client: SqlClient) => Promise<T>): Promise<T>;
  /** One connection as the app role, kept across transactions; close() ends it. */
  appSession(): Promise<{ client: SqlClient; close(): Promise<void> }>;
  close(): Promise<void>;
}

const REJECTED = (reason: string) => ({ code: '28000', message: `verity: receipt rejected: ${reason}` });
const RLS_VIOLATION = { code: '42501' };

export function describeDataTier(name: string, makeHarness: () => Promise<DataTierHarness>): void {
  describe(`data tier (${name})`, () => {
    let h: DataTierHarness;
    const keyA = makeKey('tenant-a');
    const keyB = makeKey('tenant-b');
    const selectIds = (client: SqlClient, where = 'true') => client.query(`SELECT id FROM orders WHERE ${where} ORDER BY id`).then((r) => r.rows.map((row) => row.id as string));
    // As the superuser, whom row-level security does not bind: what is really in the table.
    const tenantRows = async (tenant: string) => (await h.superuser.query('SELECT id, item FROM orders WHERE tenant_id = $1 ORDER BY id', [tenant])).rows;

    beforeAll(async () => {
      h = await makeHarness();
      await h.owner.query('CREATE TABLE orders (id text PRIMARY KEY, tenant_id text NOT NULL, item text NOT NULL)');
      await h.owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO "${h.appRole}"`);
      // Seeded first: forced row-level security binds the owner too.
      await h.owner.query("INSERT INTO orders VALUES ('a1', 'tenant-a', 'apple'), ('a2', 'tenant-a', 'apricot'), ('b1', 'tenant-b', 'banana')");
      // Reads by read/list receipts; writes by write receipts only.
      await h.owner.query("SELECT verity.enable_rls('orders', 'tenant_id', ARRAY['read', 'list'], ARRAY['write'])");
      await syncReceiptKeys(h.owner, 'tenant-a', [keyA.material]);
      await syncReceiptKeys(h.owner, 'tenant-b', [keyB.material]);
    });
    afterAll(async () => h?.close());

    describe('positive', () => {
      it("a read receipt sees its tenant's rows, and only them", async () => {
        expect(await h.asApp(await mintReceipt(keyA), (c) => selectIds(c))).toEqual(['a1', 'a2']);
        expect(await h.asApp(await mintReceipt(keyB, { action: 'list' }), (c) => selectIds(c))).toEqual(['b1']);
      });

      it('current_tenant, current_principal, current_action, current_decision and current_receipt come from the bound receipt', async () => {
        const receipt = await mintReceipt(keyA, { principal: 'User::"bob"' });
        const row = await h.asApp(receipt, async (c) =>
          (await c.query('SELECT verity.current_tenant() AS t, verity.current_principal() AS p, verity.current_action() AS a, verity.current_decision() AS d, verity.current_receipt() AS r')).rows[0]);
        expect(row).toMatchObject({ t: 'tenant-a', p: 'User::"bob"', a: 'read' });
        expect(row.d).toBe(row.r.decision_id);
        expect(row.r).toMatchObject({ tenant: 'tenant-a', resource_type: 'Table', resource_id: 'orders', policy_version: 3 });
      });

      it('a write receipt inserts, updates and deletes rows of its tenant', async () => {
        const write = await mintReceipt(keyA, { action: 'write' });
        await h.asApp(write, (c) => c.query("INSERT INTO orders VALUES ('a-new', 'tenant-a', 'avocado')"));
        await h.asApp(write, (c) => c.query("UPDATE orders SET item = 'acai' WHERE id = 'a-new'"));
        expect(await tenantRows('tenant-a')).toContainEqual({ id: 'a-new', item: 'acai' });
        await h.asApp(write, (c) => c.query("DELETE FROM orders WHERE id = 'a-new'"));
        expect((await tenantRows('tenant-a')).map((r) => r.id)).toEqual(['a1', 'a2']);
      });

      it('the policies verify once per statement: an InitPlan, tenant_for called once for many rows', async () => {
        const plan = await h.asApp(await mintReceipt(keyA), async (c) => (await c.query('EXPLAIN SELECT id FROM orders')).rows.map((r) => r['QUERY PLAN'] as string).join('\n'));
        expect(plan).toMatch(/InitPlan 1/);
        expect(plan).toMatch(/tenant_id = \(InitPlan 1\)|tenant_id = \$0/);

        const receipt = await mintReceipt(keyA);
        const calls = await transaction(h.superuser, async () => {
          await h.superuser.query("INSERT INTO orders SELECT 'bulk-' || i, 'tenant-a', 'x' FROM generate_series(1, 500) i");
          await h.superuser.query("SET LOCAL track_functions = 'all'");
          await h.superuser.query(`SET LOCAL ROLE "${h.appRole}"`);
          await h.superuser.query('SELECT verity.bind($1)', [receipt]);
          const rows = await selectIds(h.superuser);
          expect(rows).toHaveLength(502);
          return (await h.superuser.query("SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'verity' AND funcname = 'tenant_for'")).rows;
        }, 'ROLLBACK');
        expect(calls.map((r) => Number(r.calls))).toEqual([1]);
      });
    });

    describe('no valid receipt: zero rows or an error', () => {
      it('no receipt: zero rows, and the current_* functions are NULL', async () => {
        expect(await h.asApp(null, (c) => selectIds(c))).toEqual([]);
        expect(await h.asApp(null, async (c) => (await c.query('SELECT verity.current_tenant() AS t, verity.current_receipt() AS r')).rows[0])).toEqual({ t: null, r: null });
      });

      it('forged: signed with another key under the right kid', async () => {
        const forged = await mintReceipt({ ...keyA, secret: makeKey('tenant-a').secret });
        await expect(h.asApp(forged, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('bad signature'));
      });

      it.each(CLAIM_CHANGES)('one field changed (%s), signature kept: bad signature', async (claim, change) => {
        const receipt = tamperClaims(await mintReceipt(keyA), (claims) => ({ ...claims, [claim]: change(claims[claim]) }));
        await expect(h.asApp(receipt, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('bad signature'));
      });

      it('the header changed, signature kept', async () => {
        const [, payload, signature] = (await mintReceipt(keyA)).split('.');
        const header = (fields: object) => Buffer.from(JSON.stringify(fields)).toString('base64url');
        await expect(h.asApp(`${header({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: keyB.kid })}.${payload}.${signature}`, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('bad signature'));
        await expect(h.asApp(`${header({ alg: 'none', typ: 'verity-receipt+jwt', kid: keyA.kid })}.${payload}.${signature}`, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('unsupported header'));
      });

      it.each([
        ['another typ', { typ: 'JWT' }],
        ['an extra header field', { jku: 'https://attacker.example/keys' }],
        ['a kid that is not a string', { kid: 7 }],
      ])('a validly signed header with %s: unsupported header', async (_, header) => {
        await expect(h.asApp(await mintReceipt(keyA, { header }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('unsupported header'));
      });

      it('an unknown kid', async () => {
        await expect(h.asApp(await mintReceipt(makeKey('tenant-a')), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('unknown key'));
      });

      it.each([
        ['empty', ''],
        ['two parts', 'eyJhbGciOiJIUzI1NiJ9.e30'],
        ['an empty signature (alg none)', 'eyJhbGciOiJub25lIn0.e30.'],
        ['not base64url', 'ey+hbG.e30.AAAA'],
        ['not JSON', `${Buffer.from('nope').toString('base64url')}.e30.AAAA`],
        ['a JSON array header', `${Buffer.from('[1]').toString('base64url')}.e30.AAAA`],
        ['an impossible base64 length', 'eyJhbGciOiJIUzI1NiJ9x.e30.AAAA'],
      ])('malformed (%s)', async (_, receipt) => {
        await expect(h.asApp(receipt, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('malformed'));
      });

      it('a second encoding of the right signature (stray low bits): malformed', async () => {
        const receipt = await mintReceipt(keyA);
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        // 32 bytes = 42 characters and 4 bits: the last character's 2 low bits are unused.
        const stray = alphabet[alphabet.indexOf(receipt.at(-1) as string) + 1] as string;
        await expect(h.asApp(receipt.slice(0, -1) + stray, (c) => selectIds(c))).rejects.toMatchObject(REJECTED('malformed'));
      });

      it.each(['iss', 'tenant', 'principal', 'action', 'resource_type', 'resource_id', 'decision_id', 'jti'])('validly signed without the string claim %s', async (claim) => {
        await expect(h.asApp(await mintReceipt(keyA, { claims: { [claim]: undefined } }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED(`claim ${claim} missing or not a string`));
      });

      it.each(['policy_version', 'iat', 'exp'])('validly signed with the number claim %s as a string', async (claim) => {
        await expect(h.asApp(await mintReceipt(keyA, { claims: { [claim]: '1' } }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED(`claim ${claim} missing or not a number`));
      });

      it('expired, and issued more than 60 s in the future; 30 s ahead is clock skew, accepted', async () => {
        await expect(h.asApp(await mintReceipt(keyA, { expiresIn: -1 }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('expired'));
        await expect(h.asApp(await mintReceipt(keyA, { issuedIn: 120, expiresIn: 150 }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('issued in the future'));
        expect(await h.asApp(await mintReceipt(keyA, { issuedIn: 30, expiresIn: 60 }), (c) => selectIds(c))).toEqual(['a1', 'a2']);
        // At most an hour from iat to exp, the PDP's own upper bound; more is no receipt of its.
        expect(await h.asApp(await mintReceipt(keyA, { expiresIn: 3600 }), (c) => selectIds(c))).toEqual(['a1', 'a2']);
        await expect(h.asApp(await mintReceipt(keyA, { issuedIn: -10, expiresIn: 3600 }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('lifetime too long'));
      });

      it("claims of tenant A signed with tenant B's key", async () => {
        await expect(h.asApp(await mintReceipt({ ...keyB, tenant: 'tenant-a' }), (c) => selectIds(c))).rejects.toMatchObject(REJECTED('key of another tenant'));
      });

      it("tenant A's receipt on B's rows: zero rows read, none changed", async () => {
        expect(await h.asApp(await mintReceipt(keyA), (c) => selectIds(c, "tenant_id = 'tenant-b' OR id = 'b1'"))).toEqual([]);
        const write = await mintReceipt(keyA, { action: 'write' });
        expect((await h.asApp(write, (c) => c.query("UPDATE orders SET item = 'stolen' WHERE id = 'b1' RETURNING id"))).rows).toEqual([]);
        expect((await h.asApp(write, (c) => c.query("DELETE FROM orders WHERE id = 'b1' RETURNING id"))).rows).toEqual([]);
        expect(await tenantRows('tenant-b')).toEqual([{ id: 'b1', item: 'banana' }]);
      });

      it('a read receipt never writes: INSERT fails, UPDATE and DELETE change nothing', async () => {
        const read = await mintReceipt(keyA);
        await expect(h.asApp(read, (c) => c.query("INSERT INTO orders VALUES ('a-read', 'tenant-a', 'x')"))).rejects.toMatchObject(RLS_VIOLATION);
        expect((await h.asApp(read, (c) => c.query("UPDATE orders SET item = 'changed' WHERE id = 'a1' RETURNING id"))).rows).toEqual([]);
        expect((await h.asApp(read, (c) => c.query("DELETE FROM orders WHERE id = 'a1' RETURNING id"))).rows).toEqual([]);
        expect(await tenantRows('tenant-a')).toEqual([{ id: 'a1', item: 'apple' }, { id: 'a2', item: 'apricot' }]);
      });

      it("a row for another tenant: INSERT fails, UPDATE moving a row to it fails", async () => {
        const write = await mintReceipt(keyA, { action: 'write' });
        await expect(h.asApp(write, (c) => c.query("INSERT INTO orders VALUES ('b-evil', 'tenant-b', 'x')"))).rejects.toMatchObject(RLS_VIOLATION);
        await expect(h.asApp(write, (c) => c.query("UPDATE orders SET tenant_id = 'tenant-b' WHERE id = 'a1'"))).rejects.toMatchObject(RLS_VIOLATION);
        expect(await tenantRows('tenant-b')).toEqual([{ id: 'b1', item: 'banana' }]);
      });

      it('the app setting the receipt, a tenant setting or the binding marker itself: zero rows', async () => {
        const receipt = await mintReceipt(keyA);
        // The marker verity.bind left in an earlier transaction, replayed with the receipt.
        const marker = await h.asApp(receipt, async (c) => (await c.query("SELECT current_setting('verity.receipt_txn') AS m")).rows[0].m as string);
        const attempts = [
          ["SELECT set_config('verity.receipt', $1, true)", [receipt]],
          ["SELECT set_config('verity.tenant', 'tenant-a', true), set_config('verity.current_tenant', 'tenant-a', true)", []],
          ["SELECT set_config('verity.receipt', $1, true), set_config('verity.receipt_txn', $2, true)", [receipt, marker]],
          [
            // The marker recomputed for this transaction, without the MAC only verity.bind can make.
            "SELECT set_config('verity.receipt', $1, true), set_config('verity.receipt_txn', pg_backend_pid()::text || ':' || extract(epoch FROM transaction_timestamp())::text, true)",
            [receipt],
          ],
        ] as const;
        for (const [sql, params] of attempts) {
          expect(await h.asApp(null, async (c) => (await c.query(sql, [...params]), await selectIds(c)))).toEqual([]);
        }
      });

      it('a receipt left session-wide by an earlier transaction on the same connection is not bound', async () => {
        const receipt = await mintReceipt(keyA);
        const session = await h.appSession();
        try {
          await session.client.query('BEGIN');
          await session.client.query('SELECT verity.bind($1)', [receipt]);
          // Copied session-wide (is_local = false): outlives the transaction.
          await session.client.query("SELECT set_config('verity.receipt', $1, false), set_config('verity.receipt_txn', current_setting('verity.receipt_txn'), false)", [receipt]);
          expect(await selectIds(session.client)).toEqual(['a1', 'a2']);
          await session.client.query('COMMIT');
          expect((await session.client.query("SELECT current_setting('verity.receipt') AS r")).rows[0].r).toBe(receipt);
          expect(await selectIds(session.client)).toEqual([]);
          expect((await session.client.query('SELECT verity.current_tenant() AS t')).rows[0].t).toBeNull();
        } finally {
          await session.close();
        }
      });

      // Every setting an app role may change for its own session, and which could change how the
      // verifying functions parse or compare: none may turn a refusal into rows, nor a valid
      // receipt into another tenant's rows. Each in a session of its own, set before the session
      // first calls verity.* (PL/pgSQL compiles a function once per session).
      it.each([
        'standard_conforming_strings = off',
        'backslash_quote = on',
        'escape_string_warning = off',
        'search_path = pg_temp, public',
        "DateStyle = 'SQL, DMY'",
        "TimeZone = 'Pacific/Chatham'",
        "IntervalStyle = 'sql_standard'",
        'extra_float_digits = -15',
        'bytea_output = escape',
        'array_nulls = off',
        'enable_indexscan = off',
      ])('a session with %s: forged, unsigned, tampered and expired receipts stay refused; a valid one reads its tenant only', async (setting) => {
        const session = await h.appSession();
        const { client } = session;
        const inTransaction = async <T>(fn: () => Promise<T>): Promise<T> => {
          await client.query('BEGIN');
          try {
            return await fn();
          } finally {
            await client.query('ROLLBACK');
          }
        };
        try {
          await client.query(`SET ${setting}`);
          const refusals = [
            unsignedReceipt(keyB.kid, 'tenant-b'),
            unsignedReceipt(keyA.kid, 'tenant-a'),
            await mintReceipt({ ...keyB, secret: makeKey('tenant-b').secret }),
            tamperClaims(await mintReceipt(keyA), (claims) => ({ ...claims, tenant: 'tenant-b' })),
            await mintReceipt(keyA, { expiresIn: -5 }),
          ];
          for (const receipt of refusals) {
            await expect(inTransaction(() => client.query('SELECT verity.bind($1)', [receipt])), receipt).rejects.toMatchObject({ code: '28000' });
            // Set without verity.bind: no rows either.
            expect(await inTransaction(async () => (await client.query("SELECT set_config('verity.receipt', $1, true)", [receipt]), await selectIds(client)))).toEqual([]);
          }
          const valid = await mintReceipt(keyA);
          expect(await inTransaction(async () => (await client.query('SELECT verity.bind($1)', [valid]), await selectIds(client)))).toEqual(['a1', 'a2']);
        } finally {
          await client.query(`RESET ${setting.split(' ')[0]}`).catch(() => {});
          await session.close();
        }
      });

      it('the app role reads no key material and calls no internal or owner function', async () => {
        for (const sql of [
          'SELECT * FROM verity_private.receipt_keys',
          'SELECT * FROM verity_private.binding_key',
          "SELECT verity_private.verify_receipt('x')",
          "SELECT verity_private.binding_marker('x')",
          "SELECT verity.enable_rls('orders', 'tenant_id')",
          'ALTER TABLE orders DISABLE ROW LEVEL SECURITY',
          'ALTER TABLE orders NO FORCE ROW LEVEL SECURITY',
          'DROP POLICY verity_select ON orders',
        ]) {
          await expect(h.asApp(await mintReceipt(keyA), (c) => c.query(sql)), sql).rejects.toMatchObject({ code: '42501' });
        }
      });
    });

    describe('keys', () => {
      it('rotation: the old key verifies until its verify_until, the new one at once, a key past verify_until not at all', async () => {
        const old = makeKey('tenant-r');
        const next = makeKey('tenant-r');
        await syncReceiptKeys(h.owner, 'tenant-r', [old.material]);
        const oldReceipt = await mintReceipt(old);
        const soon = new Date(Date.now() + 60_000).toISOString();
        await syncReceiptKeys(h.owner, 'tenant-r', [{ ...old.material, verifyUntil: soon }, next.material]);
        const tenantOf = (receipt: string) => h.asApp(receipt, async (c) => (await c.query('SELECT verity.current_tenant() AS t')).rows[0].t);
        expect(await tenantOf(oldReceipt)).toBe('tenant-r');
        expect(await tenantOf(await mintReceipt(next))).toBe('tenant-r');
        await syncReceiptKeys(h.owner, 'tenant-r', [{ ...old.material, verifyUntil: new Date(Date.now() - 1000).toISOString() }, next.material]);
        await expect(tenantOf(oldReceipt)).rejects.toMatchObject(REJECTED('unknown key'));
        expect(await tenantOf(await mintReceipt(next))).toBe('tenant-r');
        // Dropped from the set: gone.
        await syncReceiptKeys(h.owner, 'tenant-r', [next.material]);
        expect((await h.owner.query("SELECT kid FROM verity_private.receipt_keys WHERE tenant = 'tenant-r'")).rows).toEqual([{ kid: next.kid }]);
      });

      it("syncReceiptKeys refuses another tenant's kid and malformed material", async () => {
        await expect(syncReceiptKeys(h.owner, 'tenant-b', [keyA.material])).rejects.toThrow(/another tenant/);
        await expect(syncReceiptKeys(h.owner, 'tenant-b', [{ ...keyB.material, secret: 'c2hvcnQ' }])).rejects.toThrow(TypeError);
        await expect(syncReceiptKeys(h.owner, 'tenant-b', [{ ...keyB.material, verifyUntil: 'tomorrow' }])).rejects.toThrow(TypeError);
        // Nothing changed: B's key still verifies, A's still belongs to A.
        expect(await h.asApp(await mintReceipt(keyB), (c) => selectIds(c))).toEqual(['b1']);
        expect(await h.asApp(await mintReceipt(keyA), (c) => selectIds(c))).toEqual(['a1', 'a2']);
      });
    });

    describe('install', () => {
      it('is idempotent and reports the versions', async () => {
        expect(await installDataTier(h.owner, { appRoles: [h.appRole] })).toEqual({ fromVersion: 1, toVersion: 1 });
      });

      it('refuses an app role that would bypass row-level security or does not exist', async () => {
        await expect(installDataTier(h.owner, { appRoles: ['no such role'] })).rejects.toThrow(/does not exist/);
        const superuser = (await h.superuser.query('SELECT current_user AS u')).rows[0].u as string;
        await expect(installDataTier(h.owner, { appRoles: [superuser] })).rejects.toThrow(/superuser|owns/);
      });

      it('enable_rls refuses a missing or non-text tenant column', async () => {
        await h.owner.query('CREATE TABLE numbered (id int, tenant_no int)');
        await expect(h.owner.query("SELECT verity.enable_rls('numbered', 'tenant')")).rejects.toMatchObject({ code: '42703' });
        await expect(h.owner.query("SELECT verity.enable_rls('numbered', 'tenant_no')")).rejects.toMatchObject({ code: '42804' });
      });
    });
  });
}

async function transaction<T>(client: SqlClient, fn: () => Promise<T>, end: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query(end);
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
