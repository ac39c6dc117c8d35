/**
 * Tier 3, the orders database: PGlite (PostgreSQL in WebAssembly, in memory) with Verity's data
 * tier installed (`@verity/data-tier`: receipt verification in SQL, forced row-level security by
 * `tenant_id`), behind a small data-access layer that is a PEP of its own. It accepts only a
 * delegated token for its audience (`orders-db`, exchanged by the orders service), asks the PDP
 * (tier `orders-db`) for a decision *and a receipt*, and runs the query in a transaction bound to
 * that receipt, as a role that owns nothing. The database itself checks the PDP's signature: the
 * tenant the rows come from is the receipt's, never a setting the service chose.
 */
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { installDataTier, syncReceiptKeys, withPGliteReceipt, type ReceiptKeyMaterial } from '@verity/data-tier';
import { refusalBody, type Enforcer } from '@verity/enforce';
import type { Tenancy, Tenant } from './tenancy.js';

export interface OrderRow {
  id: string;
  tenant_id: string;
  item: string;
  amount_cents: number;
}

/** An order from the policy folder's entities.json (the seed of both the PDP and the table). */
export interface OrderEntity {
  uid: { type: string; id: string };
  attrs: { tenant?: unknown; item?: unknown; amountCents?: unknown };
}

/** The role queries run as: it owns nothing, and row-level security binds it. */
export const APP_ROLE = 'orders_app';

const SCHEMA = `
  CREATE TABLE orders (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    item         text NOT NULL,
    amount_cents integer NOT NULL
  );
  -- PGlite runs as the superuser "postgres", which RLS does not bind: queries run as orders_app.
  CREATE ROLE ${APP_ROLE} NOLOGIN;
  GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${APP_ROLE};
`;

/** A query the app role runs in an open transaction (the compromised service gets the same). */
export type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface OrdersDatabase {
  /** Rows the receipt admits (its tenant's, RLS); `orderId` narrows to one. */
  selectWith(receipt: string, orderId?: string): Promise<{ rows: OrderRow[]; tenant: string | null; decisionId: string | null }>;
  /** Install a tenant's verifying receipt keys (the owner's job: `verity db install` on PostgreSQL). */
  installKeys(tenant: Tenant, keys: readonly ReceiptKeyMaterial[]): Promise<void>;
  /**
   * What a compromised data-access layer can do: any SQL as the app role, in a transaction, with
   * no receipt bound unless it binds one itself (`SELECT verity.bind($1)`).
   */
  asAppRole<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** An in-memory orders table with the data tier installed, seeded with `orders`. */
export async function createOrdersDatabase(orders: readonly OrderEntity[]): Promise<OrdersDatabase> {
  const db = new PGlite({ extensions: { pgcrypto } });
  await db.exec(SCHEMA);
  await installDataTier(db, { appRoles: [APP_ROLE] });
  // select receipts read; nothing the policies grant may write (an empty write list).
  await db.query("SELECT verity.enable_rls('orders', 'tenant_id', read_actions => ARRAY['select'], write_actions => ARRAY[]::text[])");
  for (const { uid, attrs } of orders.filter((entity) => entity.uid.type === 'Order')) {
    await db.query('INSERT INTO orders (id, tenant_id, item, amount_cents) VALUES ($1, $2, $3, $4)', [uid.id, String(attrs.tenant), String(attrs.item), Number(attrs.amountCents)]);
  }
  return {
    selectWith: (receipt, orderId) =>
      withPGliteReceipt(
        db,
        receipt,
        async (tx) => {
          const result =
            orderId === undefined
              ? await tx.query<OrderRow>('SELECT id, tenant_id, item, amount_cents FROM orders ORDER BY id')
              : await tx.query<OrderRow>('SELECT id, tenant_id, item, amount_cents FROM orders WHERE id = $1', [orderId]);
          // What the database itself took from the receipt: the tenant and the decision.
          const bound = await tx.query<{ tenant: string | null; id: string | null }>('SELECT verity.current_tenant() AS tenant, verity.current_decision() AS id');
          return { rows: result.rows, tenant: bound.rows[0]?.tenant ?? null, decisionId: bound.rows[0]?.id ?? null };
        },
        { role: APP_ROLE },
      ),
    installKeys: (tenant, keys) => syncReceiptKeys(db, tenant, keys),
    asAppRole: (fn) =>
      db.transaction(async (tx) => {
        await tx.exec(`SET LOCAL ROLE ${APP_ROLE}`);
        return fn(async <T>(sql: string, params?: unknown[]) => (await tx.query<T>(sql, params)).rows);
      }),
    close: () => db.close(),
  };
}

export type DataTierAnswer =
  | { status: 200; tenant: Tenant; rows: OrderRow[]; decisionId: string | null; receiptDecisionId: string | null }
  | { status: 401 | 403 | 503; code: string };

export interface DataTier {
  /** Select orders with a delegated token (audience `orders-db`), under RLS bound to the decision's receipt. */
  /** `txnToken`: the call chain's Txn-Token, verified by the PDP with the decision (its `txn` joins the audit records). */
  select(input: { token: string | undefined; requestId: string; orderId?: string; txnToken?: string }): Promise<DataTierAnswer>;
}

/**
 * The data-access layer: the PEP in front of the database. `enforcers` holds one enforcer per
 * tenant with tier `orders-db`, audience `orders-db` and `receipts: true`.
 */
export function createDataTier(options: { database: OrdersDatabase; enforcers: Record<Tenant, Enforcer>; tenancy: Tenancy }): DataTier {
  const { database, enforcers, tenancy } = options;
  return {
    async select({ token, requestId, orderId, txnToken }) {
      const tenant = tenancy.tenantToAsk(token);
      if (token === undefined || tenant === undefined) return { status: 401, code: 'ERR_TOKEN_MISSING' };
      const result = await enforcers[tenant].enforce({ token, requestId, action: 'select', resource: { type: 'Table', id: 'orders' }, ...(txnToken === undefined ? {} : { txnToken }) });
      if (!result.allowed) return { status: result.status as 401 | 403 | 503, code: refusalBody(result).code };
      if (result.receipt === undefined) return { status: 503, code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE' };
      // The database is told nothing but the receipt: it verifies the PDP's signature and takes
      // the tenant from it. `tenant` above only chose which PDP to ask.
      const bound = await database.selectWith(result.receipt, orderId);
      return { status: 200, tenant: bound.tenant as Tenant, rows: bound.rows, decisionId: result.decision?.decisionId ?? null, receiptDecisionId: bound.decisionId };
    },
  };
}
