/**
 * Tier 3, the orders database: PGlite (PostgreSQL in WebAssembly, in memory) with row-level
 * security, behind a small data-access layer that is a PEP of its own. It accepts only a
 * delegated token for its audience (`orders-db`, exchanged by the orders service), asks the
 * PDP (tier `orders-db`), and runs the query in a transaction as a non-owner role with
 * `verity.tenant` set from the tenant that verified token belongs to — never from a parameter
 * a caller chose.
 */
import { PGlite } from '@electric-sql/pglite';
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

const SCHEMA = `
  CREATE TABLE orders (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    item         text NOT NULL,
    amount_cents integer NOT NULL
  );
  -- RLS does not bind a table's owner or a superuser (PGlite runs as the superuser "postgres"),
  -- so queries run as orders_app, which owns nothing. FORCE binds the owner too, for good measure.
  ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
  ALTER TABLE orders FORCE ROW LEVEL SECURITY;
  -- current_setting(…, true) is NULL when unset, and tenant_id = NULL matches no row.
  CREATE POLICY tenant_isolation ON orders USING (tenant_id = current_setting('verity.tenant', true));
  CREATE ROLE orders_app NOLOGIN;
  GRANT SELECT ON orders TO orders_app;
`;

export interface OrdersDatabase {
  /** Rows of `tenant` only (RLS); `orderId` narrows to one. */
  selectAs(tenant: Tenant, orderId?: string): Promise<OrderRow[]>;
  close(): Promise<void>;
}

/** An in-memory orders table with row-level security, seeded with `orders`. */
export async function createOrdersDatabase(orders: readonly OrderEntity[]): Promise<OrdersDatabase> {
  const db = new PGlite();
  await db.exec(SCHEMA);
  for (const { uid, attrs } of orders.filter((entity) => entity.uid.type === 'Order')) {
    await db.query('INSERT INTO orders (id, tenant_id, item, amount_cents) VALUES ($1, $2, $3, $4)', [uid.id, String(attrs.tenant), String(attrs.item), Number(attrs.amountCents)]);
  }
  return {
    selectAs: (tenant, orderId) =>
      db.transaction(async (tx) => {
        await tx.exec('SET LOCAL ROLE orders_app');
        // SET LOCAL verity.tenant = … cannot take a bind parameter; set_config(…, true) is the
        // same transaction-local setting, with the value bound rather than spliced into SQL.
        await tx.query("SELECT set_config('verity.tenant', $1, true)", [tenant]);
        const result =
          orderId === undefined
            ? await tx.query<OrderRow>('SELECT id, tenant_id, item, amount_cents FROM orders ORDER BY id')
            : await tx.query<OrderRow>('SELECT id, tenant_id, item, amount_cents FROM orders WHERE id = $1', [orderId]);
        return result.rows;
      }),
    close: () => db.close(),
  };
}

export type DataTierAnswer = { status: 200; tenant: Tenant; rows: OrderRow[]; decisionId: string | null } | { status: 401 | 403 | 503; code: string };

export interface DataTier {
  /** Select orders with a delegated token (audience `orders-db`), as its tenant, under RLS. */
  select(input: { token: string | undefined; requestId: string; orderId?: string }): Promise<DataTierAnswer>;
}

/**
 * The data-access layer: the PEP in front of the database. `enforcers` holds one enforcer per
 * tenant with tier `orders-db` and audience `orders-db`.
 */
export function createDataTier(options: { database: OrdersDatabase; enforcers: Record<Tenant, Enforcer>; tenancy: Tenancy }): DataTier {
  const { database, enforcers, tenancy } = options;
  return {
    async select({ token, requestId, orderId }) {
      const tenant = tenancy.tenantToAsk(token);
      if (token === undefined || tenant === undefined) return { status: 401, code: 'ERR_TOKEN_MISSING' };
      const result = await enforcers[tenant].enforce({ token, requestId, action: 'select', resource: { type: 'Table', id: 'orders' } });
      if (!result.allowed) return { status: result.status as 401 | 403 | 503, code: refusalBody(result).code };
      // `tenant`'s PDP verified the token, and only `tenant`'s token service issues tokens with
      // this issuer: the tenant is proven, and it is the only thing RLS is told.
      return { status: 200, tenant, rows: await database.selectAs(tenant, orderId), decisionId: result.decision?.decisionId ?? null };
    },
  };
}
