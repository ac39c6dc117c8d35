/**
 * The data tier end to end on PostgreSQL: a Verity PDP, an application database with an owner
 * and an application role, `verity db install` and `verity db rotate` run as the operator (the
 * PDP never sees the database URL), receipts asked for over AuthZEN, and queries run as the
 * application role with `withReceipt`. Old receipts keep working after a rotation until they
 * expire; new ones verify at once; nothing of another tenant ever comes back.
 */
import { randomBytes } from 'node:crypto';
import { withReceipt } from '@verity/data-tier';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../packages/cli/src/test-helpers.js';
import { createScratchDatabase, testDatabaseUrl } from './helpers/postgres.js';
import { eventually } from './helpers/eventually.js';
import { ADMIN_TOKEN, startTestServer } from './helpers/verity.js';

const suffix = randomBytes(4).toString('hex');
const OWNER = `dt_owner_${suffix}`;
const APP = `dt_app_${suffix}`;

let database: Awaited<ReturnType<typeof createScratchDatabase>>;
let server: Awaited<ReturnType<typeof startTestServer>>;
let superuser: pg.Client;
let appPool: pg.Pool;
let ownerUrl: string;

const POLICY = `
permit(principal, action == Action::"read", resource is Table) when { principal.tenant == context.tenant };
permit(principal, action == Action::"write", resource is Table) when { principal.tenant == context.tenant && principal.writer };
`;

function urlFor(role: string): string {
  const url = new URL(database.url);
  url.username = role;
  url.password = '';
  return url.toString();
}

const verity = (...argv: string[]) => run([...argv, '--url', server.url], { env: { VERITY_ADMIN_TOKEN: ADMIN_TOKEN } });

async function receiptFor(tenant: string, user: string, action: string, ttl?: number): Promise<string> {
  const answer = await server.admin.post(`/tenants/${tenant}/access/v1/evaluation`, {
    subject: { type: 'User', id: user, properties: { tenant, writer: user.startsWith('w') } },
    action: { name: action },
    resource: { type: 'Table', id: 'orders' },
    context: { tenant },
    options: { verity_receipt: ttl === undefined ? true : { ttl } },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body.decision).toBe(true);
  return answer.body.context.verity_receipt as string;
}

const selectAll = (receipt: string) => withReceipt(appPool, receipt, async (client: pg.PoolClient) => (await client.query<{ id: string; tenant_id: string }>('SELECT id, tenant_id FROM orders ORDER BY id')).rows);

beforeAll(async () => {
  database = await createScratchDatabase();
  superuser = new pg.Client({ connectionString: database.url });
  await superuser.connect();
  // The roles of docs/data-tier.md §Setup, exactly.
  await superuser.query(`CREATE ROLE ${OWNER} LOGIN`);
  await superuser.query(`CREATE ROLE ${APP} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`);
  const dbName = new URL(database.url).pathname.slice(1);
  await superuser.query(`GRANT CONNECT, CREATE ON DATABASE ${dbName} TO ${OWNER}`);
  await superuser.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${APP}`);
  await superuser.query(`GRANT CREATE, USAGE ON SCHEMA public TO ${OWNER}`);
  ownerUrl = urlFor(OWNER);
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  await owner.query('CREATE TABLE orders (id text PRIMARY KEY, tenant_id text NOT NULL, item text NOT NULL)');
  await owner.query("INSERT INTO orders VALUES ('o-a1', 'acme', 'anvil'), ('o-a2', 'acme', 'rocket'), ('o-g1', 'globex', 'laser')");
  await owner.query(`GRANT USAGE ON SCHEMA public TO ${APP}`);
  await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${APP}`);
  await owner.end();

  server = await startTestServer();
  for (const tenant of ['acme', 'globex']) {
    expect((await server.admin.post('/admin/v1/tenants', { id: tenant })).status).toBe(201);
    expect((await server.admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'policy.cedar': POLICY } })).status).toBe(201);
  }
  appPool = new pg.Pool({ connectionString: urlFor(APP), max: 2 });
});

afterAll(async () => {
  await appPool?.end();
  await server?.close();
  await superuser?.end();
  await database?.drop();
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${APP}`);
  await admin.query(`DROP ROLE IF EXISTS ${OWNER}`);
  await admin.end();
});

describe('verity db install and db rotate', () => {
  it('a receipt is refused with 409 before any key is installed', async () => {
    const answer = await server.admin.post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'alice', properties: { tenant: 'acme' } }, action: { name: 'read' }, resource: { type: 'Table', id: 'orders' }, context: { tenant: 'acme' }, options: { verity_receipt: true } });
    expect(answer.status).toBe(409);
    expect(answer.body.code).toBe('ERR_RECEIPT_KEY_MISSING');
  });

  it('installs the schema and the keys; the application role then sees its tenant only', async () => {
    const installed = await verity('db', 'install', '--database-url', ownerUrl, '--tenant', 'acme', '--tenant', 'globex', '--app-role', APP, '--json');
    expect(installed.code, installed.err).toBe(0);
    expect(JSON.parse(installed.out)).toMatchObject({ schema: { from: 0 }, appRoles: [APP] });
    expect(installed.out + installed.err).not.toContain(ownerUrl);
    // Again: nothing to migrate, the same keys.
    const again = await verity('db', 'install', '--database-url', ownerUrl, '--tenant', 'acme', '--tenant', 'globex', '--app-role', APP, '--json');
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).schema.from).toBe(JSON.parse(again.out).schema.to);

    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    await owner.query("SELECT verity.enable_rls('orders', 'tenant_id', read_actions => ARRAY['read', 'write'], write_actions => ARRAY['write'])");
    await owner.end();

    expect((await selectAll(await receiptFor('acme', 'alice', 'read'))).map((r) => r.id)).toEqual(['o-a1', 'o-a2']);
    expect((await selectAll(await receiptFor('globex', 'gina', 'read'))).map((r) => r.id)).toEqual(['o-g1']);
    // Without a receipt: nothing.
    expect((await appPool.query('SELECT id FROM orders')).rows).toEqual([]);
  });

  it('the receipt names the decision the PDP audited', async () => {
    const receipt = await receiptFor('acme', 'alice', 'read');
    const claims = decodeJwt(receipt);
    const decision = await withReceipt(appPool, receipt, async (client: pg.PoolClient) => (await client.query<{ d: string }>('SELECT verity.current_decision() AS d')).rows[0]?.d);
    expect(decision).toBe(claims.decision_id);
    await server.components.audit.flush();
    const audit = await server.admin.get(`/admin/v1/tenants/acme/audit?limit=50`);
    expect(JSON.stringify(audit.body)).toContain(String(claims.decision_id));
  });

  it('a read receipt cannot write; a write receipt writes its own tenant only', async () => {
    const read = await receiptFor('acme', 'alice', 'read');
    await expect(withReceipt(appPool, read, (client: pg.PoolClient) => client.query("INSERT INTO orders VALUES ('o-a3', 'acme', 'x')"))).rejects.toThrow(/row-level security/);
    const write = await receiptFor('acme', 'walt', 'write');
    await withReceipt(appPool, write, (client: pg.PoolClient) => client.query("INSERT INTO orders VALUES ('o-a3', 'acme', 'x')"));
    await expect(withReceipt(appPool, write, (client: pg.PoolClient) => client.query("INSERT INTO orders VALUES ('o-g2', 'globex', 'x')"))).rejects.toThrow(/row-level security/);
    const moved = await withReceipt(appPool, write, (client: pg.PoolClient) => client.query("UPDATE orders SET item = 'y' WHERE id = 'o-g1'"));
    expect(moved.rowCount).toBe(0);
  });

  it('after a rotation, receipts of the old key keep working until they expire and new ones verify', async () => {
    const before = await receiptFor('acme', 'alice', 'read');
    // A short-lived one too, to watch it run out after the rotation.
    const shortLived = await receiptFor('acme', 'alice', 'read', 3);
    const oldKid = decodeProtectedHeader(before).kid;
    const rotated = await verity('db', 'rotate', '--database-url', ownerUrl, '--tenant', 'acme', '--json');
    expect(rotated.code, rotated.err).toBe(0);
    const after = await receiptFor('acme', 'alice', 'read');
    const newKid = decodeProtectedHeader(after).kid;
    expect(newKid).not.toBe(oldKid);
    expect((await selectAll(before)).map((r) => r.id)).toEqual(['o-a1', 'o-a2', 'o-a3']);
    expect((await selectAll(after)).map((r) => r.id)).toEqual(['o-a1', 'o-a2', 'o-a3']);
    // The old key's end date in the database covers the longest receipt signed before the switch.
    const keys = await superuser.query<{ kid: string; verify_until: Date | null }>('SELECT kid, verify_until FROM verity_private.receipt_keys WHERE tenant = $1', ['acme']);
    const old = keys.rows.find((row) => row.kid === oldKid);
    expect(old?.verify_until?.getTime()).toBeGreaterThanOrEqual(Number(decodeJwt(before).exp) * 1000);
    expect(keys.rows.find((row) => row.kid === newKid)?.verify_until).toBeNull();
    // The old key's receipts work until they expire, then not (the key itself still verifies).
    expect(decodeProtectedHeader(shortLived).kid).toBe(oldKid);
    await eventually(async () => expect(selectAll(shortLived)).rejects.toMatchObject({ code: '28000', message: 'verity: receipt rejected: expired' }), 15_000, 250);
    expect((await selectAll(before)).map((r) => r.id)).toEqual(['o-a1', 'o-a2', 'o-a3']);
    // globex was not rotated and still verifies.
    expect((await selectAll(await receiptFor('globex', 'gina', 'read'))).map((r) => r.id)).toEqual(['o-g1']);
  });

  it('refuses an application role that can bypass row-level security', async () => {
    const bypass = `dt_bypass_${suffix}`;
    await superuser.query(`CREATE ROLE ${bypass} LOGIN BYPASSRLS`);
    try {
      const refused = await verity('db', 'install', '--database-url', ownerUrl, '--app-role', bypass);
      expect(refused.code).not.toBe(0);
      expect(refused.err).toMatch(/BYPASSRLS/i);
    } finally {
      await superuser.query(`DROP OWNED BY ${bypass}`).catch(() => {});
      await superuser.query(`DROP ROLE ${bypass}`);
    }
  });
});

describe('two databases verifying one tenant (second attack F3)', () => {
  let second: Awaited<ReturnType<typeof createScratchDatabase>>;
  let secondUrl: string;
  let secondPool: pg.Pool;

  beforeAll(async () => {
    second = await createScratchDatabase();
    const admin = new pg.Client({ connectionString: second.url });
    await admin.connect();
    const dbName = new URL(second.url).pathname.slice(1);
    await admin.query(`GRANT CONNECT, CREATE ON DATABASE ${dbName} TO ${OWNER}`);
    await admin.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${APP}`);
    await admin.query(`GRANT CREATE, USAGE ON SCHEMA public TO ${OWNER}`);
    await admin.end();
    const url = new URL(second.url);
    url.username = OWNER;
    secondUrl = url.toString();
    const owner = new pg.Client({ connectionString: secondUrl });
    await owner.connect();
    await owner.query('CREATE TABLE orders (id text PRIMARY KEY, tenant_id text NOT NULL, item text NOT NULL)');
    await owner.query("INSERT INTO orders VALUES ('o-a9', 'acme', 'anvil two'), ('o-g9', 'globex', 'laser two')");
    await owner.query(`GRANT USAGE ON SCHEMA public TO ${APP}`);
    await owner.query(`GRANT SELECT ON orders TO ${APP}`);
    await owner.end();
    const installed = await verity('db', 'install', '--database-url', secondUrl, '--tenant', 'acme', '--app-role', APP);
    expect(installed.code, installed.err).toBe(0);
    const again = new pg.Client({ connectionString: secondUrl });
    await again.connect();
    await again.query("SELECT verity.enable_rls('orders', 'tenant_id')");
    await again.end();
    const app = new URL(second.url);
    app.username = APP;
    secondPool = new pg.Pool({ connectionString: app.toString(), max: 1 });
  });

  afterAll(async () => {
    await secondPool?.end();
    await second?.drop();
  });

  const selectSecond = (receipt: string) => withReceipt(secondPool, receipt, async (client: pg.PoolClient) => (await client.query<{ id: string }>('SELECT id FROM orders ORDER BY id')).rows.map((r) => r.id));

  it('db rotate with both databases: each verifies the new key from the first receipt on', async () => {
    const rotated = await verity('db', 'rotate', '--database-url', ownerUrl, '--database-url', secondUrl, '--tenant', 'acme');
    expect(rotated.code, rotated.err).toBe(0);
    const receipt = await receiptFor('acme', 'alice', 'read');
    expect(await selectSecond(receipt)).toEqual(['o-a9']);
    expect((await selectAll(receipt)).map((r) => r.id)).toEqual(['o-a1', 'o-a2', 'o-a3']);
  });

  it('db rotate --prepare, db install on the other database, then db rotate: no database ever refuses a new receipt', async () => {
    const prepared = await verity('db', 'rotate', '--database-url', ownerUrl, '--tenant', 'acme', '--prepare', '--json');
    expect(prepared.code, prepared.err).toBe(0);
    const pending = (JSON.parse(prepared.out).tenants[0].keys as Array<{ kid: string; state: string }>).find((key) => key.state === 'pending');
    expect(pending).toBeDefined();
    // Still signed with the active key; the pending one is not used yet.
    expect(decodeProtectedHeader(await receiptFor('acme', 'alice', 'read')).kid).not.toBe(pending?.kid);
    expect((await verity('db', 'install', '--database-url', secondUrl, '--tenant', 'acme')).code).toBe(0);
    const activated = await verity('db', 'rotate', '--database-url', ownerUrl, '--tenant', 'acme');
    expect(activated.code, activated.err).toBe(0);
    const receipt = await receiptFor('acme', 'alice', 'read');
    expect(decodeProtectedHeader(receipt).kid).toBe(pending?.kid);
    expect(await selectSecond(receipt)).toEqual(['o-a9']);
    expect((await selectAll(receipt)).map((r) => r.id)).toEqual(['o-a1', 'o-a2', 'o-a3']);
  });
});

