/**
 * The attack script: each attack under its own request id, what it got, where it was stopped,
 * and what every tier recorded in the PDP's audit under that request id.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { hostOf } from './gateway.js';
import { exchangeToken } from './orders-service.js';
import type { Stack } from './stack.js';
import { createTxnTokenRequester } from '@verity/enforce';
import { DB_AUDIENCE, trustDomainOf, type Tenant } from './tenancy.js';
import { GATEWAY_ID, ORDERS_ID, REPORTS_ID } from './workloads.js';

export type Tier = 'gateway' | 'orders' | 'sts' | 'orders-db';
export const TIERS: readonly Tier[] = ['gateway', 'orders', 'sts', 'orders-db'];

/** One audit record, as the admin API returns it. */
export interface AuditRecord {
  seq: number;
  decisionId: string;
  requestId: string | null;
  tier: string | null;
  decision: 'allow' | 'deny';
  principal: { type: string; id: string };
  action: { type: string; id: string };
  resource: { type: string; id: string };
  /** The determining policies' ids. */
  reasons: string[];
  errors: Array<{ policyId: string; message: string }>;
  /** The risk engine's assessment (the tenants measure devices): its weighted factors. */
  risk?: { score: number; level: string; factors: Array<{ name: string; weight: number; detail?: string }> };
  /** The calling workload's SPIFFE id, as the PEP verified it (absent or null: none). */
  caller?: string | null;
  /** The Txn-Token's transaction id: one id for the call chain across tiers (absent or null: none). */
  txn?: string | null;
}

type Decision = 'allow' | 'deny';

export interface AttackOutcome {
  status: number;
  /** What the caller got back, for the assertions (a body or a summary). */
  body?: unknown;
}

export interface Attack {
  id: string;
  title: string;
  /** Where it is expected to be stopped, for the table. */
  stoppedAt: string;
  /**
   * The answer status (0: no connection) and, per tier, the decision it records, or its decisions
   * when it records several (the token service: the edge's Txn-Token, then the exchange; absent:
   * no record); `caller`: the calling workload every record names.
   */
  expect: { status: number; tiers: Partial<Record<Tier, Decision | readonly Decision[]>>; caller?: string };
  run(context: AttackContext): Promise<AttackOutcome>;
}

export interface AttackContext {
  stack: Stack;
  requestId: string;
}

export interface AttackResult {
  attack: Attack;
  requestId: string;
  outcome: AttackOutcome;
  records: AuditRecord[];
  /** The status and the audit records are exactly as expected. */
  ok: boolean;
}

/**
 * One HTTP request, sent byte for byte (fetch would not let us choose the Host). With a
 * `dispatcher` (an https URL: the orders service), over that dispatcher's (m)TLS connections.
 */
export async function call(baseUrl: string, input: { path: string; tenant?: Tenant; token?: string; requestId: string; headers?: Record<string, string>; dispatcher?: Dispatcher }): Promise<{ status: number; body: unknown }> {
  const url = new URL(baseUrl);
  const headers: Record<string, string> = {
    'x-request-id': input.requestId,
    ...(input.tenant === undefined ? {} : { host: hostOf(input.tenant) }),
    ...(input.token === undefined ? {} : { authorization: `Bearer ${input.token}` }),
    ...input.headers,
  };
  if (input.dispatcher !== undefined) {
    const answer = await undiciRequest(new URL(input.path, url), { method: 'GET', headers, dispatcher: input.dispatcher });
    const text = await answer.body.text();
    return { status: answer.statusCode, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: url.hostname, port: url.port, method: 'GET', path: input.path, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let body: unknown = text;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          // nginx's own error pages are HTML
        }
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const alice = { sub: 'alice', tenant: 'acme', scope: 'orders:read' } as const;
const bob = { sub: 'bob', tenant: 'acme', scope: 'profile' } as const;

/** The decisions expected of one tier, as a sorted list. */
export const expectedOf = (attack: Attack, tier: Tier): Decision[] => {
  const expected = attack.expect.tiers[tier];
  return expected === undefined ? [] : typeof expected === 'string' ? [expected] : [...expected].sort();
};

/** Through the honest gateway: its decision, the edge's Txn-Token and the exchange at the token service, orders, the database. */
const ALL_ALLOW = { gateway: 'allow', sts: ['allow', 'allow'], orders: 'allow', 'orders-db': 'allow' } as const;

/** The script, in order. The first row is not an attack: the legitimate request, for contrast. */
export const ATTACKS: readonly Attack[] = [
  {
    id: 'baseline',
    title: 'alice (acme) reads her own order o-a1 (not an attack)',
    stoppedAt: '— allowed at every tier',
    expect: { status: 200, tiers: ALL_ALLOW },
    run: async ({ stack, requestId }) => call(stack.gateway.url, { tenant: 'acme', path: '/orders/o-a1', token: await stack.idp.mint(alice), requestId }),
  },
  {
    id: 'forged-tenant-header',
    title: 'forged x-tenant-id: globex on alice\'s order list',
    stoppedAt: 'gateway drops the header; orders uses the token\'s tenant: acme rows only',
    expect: { status: 200, tiers: ALL_ALLOW },
    run: async ({ stack, requestId }) => call(stack.gateway.url, { tenant: 'acme', path: '/orders', token: await stack.idp.mint(alice), requestId, headers: { 'x-tenant-id': 'globex' } }),
  },
  {
    id: 'direct-no-token',
    title: 'direct call to the service (from the reports workload), no token, forged x-verity-subject: alice',
    stoppedAt: 'orders (tier 2): 401, no token, nothing to decide; gateway bypassed',
    expect: { status: 401, tiers: {} },
    run: ({ stack, requestId }) => call(stack.orders.url, { path: '/orders/o-a1', requestId, headers: { 'x-verity-subject': 'alice', 'x-tenant-id': 'acme' }, dispatcher: stack.reportsDispatcher }),
  },
  {
    id: 'direct-with-token',
    title: 'direct call to the service (from the reports workload) with bob\'s token (no orders:read)',
    stoppedAt: 'orders (tier 2) decides; no gateway record: bypassed',
    expect: { status: 403, tiers: { orders: 'deny' } },
    run: async ({ stack, requestId }) => call(stack.orders.url, { path: '/orders/o-a1', token: await stack.idp.mint(bob), requestId, dispatcher: stack.reportsDispatcher }),
  },
  {
    id: 'compromised-gateway',
    title: 'compromised gateway forwards a forged token + x-verity-subject: alice',
    stoppedAt: 'orders (tier 2): the PDP refuses the signature; the gateway never asked',
    expect: { status: 401, tiers: { orders: 'deny' } },
    run: async ({ stack, requestId }) =>
      call(stack.compromisedGateway.url, { path: '/orders/o-a1', token: await stack.idp.forge(alice), requestId, headers: { 'x-verity-subject': 'alice', 'x-tenant-id': 'acme' } }),
  },
  {
    id: 'revoked-via-gateway',
    title: 'alice\'s revoked token replayed through the gateway',
    stoppedAt: 'gateway (tier 1): ERR_TOKEN_REVOKED',
    expect: { status: 401, tiers: { gateway: 'deny' } },
    run: async ({ stack, requestId }) => call(stack.gateway.url, { tenant: 'acme', path: '/orders/o-a1', token: (await revokedToken(stack)).token, requestId }),
  },
  {
    id: 'revoked-direct',
    title: 'the same revoked token straight to the service (the compromised gateway forwards it)',
    stoppedAt: 'orders (tier 2): its cached allow was dropped by the change stream',
    expect: { status: 401, tiers: { orders: 'deny' } },
    // Through the compromised gateway with the Txn-Token it had for that token: the same caller
    // (the gateway's SVID), token and Txn-Token as the allow the orders service cached.
    async run({ stack, requestId }) {
      const { token, txnToken } = await revokedToken(stack);
      return call(stack.compromisedGateway.url, { path: '/orders/o-a1', token, requestId, headers: { 'txn-token': txnToken } });
    },
  },
  {
    id: 'other-tenants-order',
    title: 'alice (acme) asks for globex\'s order o-g1',
    stoppedAt: 'orders (tier 2): the order\'s stored tenant is globex',
    expect: { status: 403, tiers: { gateway: 'allow', sts: 'allow', orders: 'deny' } },
    run: async ({ stack, requestId }) => call(stack.gateway.url, { tenant: 'acme', path: '/orders/o-g1', token: await stack.idp.mint(alice), requestId }),
  },
  {
    id: 'other-tenants-order-unchecked',
    title: '…and had the orders service skipped its check (a bug): straight to the database',
    stoppedAt: 'orders-db (tier 3): row-level security as acme returns no row',
    expect: { status: 404, tiers: { sts: 'allow', 'orders-db': 'allow' } },
    async run({ stack, requestId }) {
      // The script stands in for a buggy orders service: a correct delegation, no decision of its own.
      const exchanged = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: await stack.idp.mint(alice), audience: DB_AUDIENCE, scope: 'orders:read', requestId });
      const answer = await stack.dataTier.select({ token: exchanged.body.access_token, requestId, orderId: 'o-g1' });
      return answer.status === 200 ? { status: answer.rows.length === 0 ? 404 : 200, body: { tenant: answer.tenant, rows: answer.rows } } : { status: answer.status, body: answer };
    },
  },
  {
    id: 'over-scoped-exchange',
    title: 'orders asks the token service for orders:write on alice\'s orders:read token',
    stoppedAt: 'token service: invalid_scope, before any policy decision (so no record)',
    expect: { status: 400, tiers: {} },
    run: async ({ stack, requestId }) => {
      const answer = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: await stack.idp.mint(alice), audience: DB_AUDIENCE, scope: 'orders:read orders:write', requestId });
      return { status: answer.status, body: answer.body };
    },
  },
  {
    id: 'wrong-audience',
    title: 'a token alice\'s delegation got for `inventory`, used at the database',
    stoppedAt: 'orders-db (tier 3): ERR_TOKEN_AUDIENCE',
    expect: { status: 401, tiers: { sts: 'allow', 'orders-db': 'deny' } },
    async run({ stack, requestId }) {
      const exchanged = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: await stack.idp.mint(alice), audience: 'inventory', scope: 'orders:read', requestId });
      const answer = await stack.dataTier.select({ token: exchanged.body.access_token, requestId });
      return { status: answer.status, body: answer };
    },
  },
  {
    id: 'compromised-service-sets-tenant',
    title: 'a compromised data-access layer skips its check and sets verity.tenant = globex itself',
    stoppedAt: 'database: no receipt bound, so row-level security admits no row',
    expect: { status: 404, tiers: {} },
    async run({ stack }) {
      const rows = await stack.database.asAppRole(async (query) => {
        await query("SELECT set_config('verity.tenant', 'globex', true), set_config('verity.receipt', 'globex', true)");
        return query<{ id: string }>('SELECT id FROM orders');
      });
      return { status: rows.length === 0 ? 404 : 200, body: { rows } };
    },
  },
  {
    id: 'compromised-service-replays-receipt',
    title: '…with a valid receipt of alice\'s (acme) decision, asking for globex\'s rows',
    stoppedAt: 'database: the receipt says acme; globex rows stay invisible',
    expect: { status: 404, tiers: { sts: 'allow', 'orders-db': 'allow' } },
    async run({ stack, requestId }) {
      const receipt = await acmeReceipt(stack, requestId);
      const rows = await stack.database.asAppRole(async (query) => {
        await query('SELECT verity.bind($1)', [receipt]);
        await query("SELECT set_config('verity.tenant', 'globex', true)");
        return query<{ id: string; tenant_id: string }>("SELECT id, tenant_id FROM orders WHERE tenant_id = 'globex'");
      });
      return { status: rows.length === 0 ? 404 : 200, body: { rows } };
    },
  },
  {
    id: 'compromised-service-forges-receipt',
    title: '…minting its own receipt for globex (it holds no receipt key)',
    stoppedAt: 'database: verity.bind refuses the signature (SQLSTATE 28000)',
    expect: { status: 403, tiers: {} },
    async run({ stack, requestId }) {
      // The kid of a real receipt, so the check reaches the signature: only the key is missing.
      const { kid } = decodeProtectedHeader(await acmeReceipt(stack, `${requestId}-setup`));
      const now = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({ tenant: 'globex', principal: 'User::"alice"', action: 'select', resource_type: 'Table', resource_id: 'orders', decision_id: 'forged', policy_version: 1, iss: 'attacker' })
        .setProtectedHeader({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: String(kid) })
        .setJti('forged')
        .setIssuedAt(now)
        .setExpirationTime(now + 30)
        .sign(randomBytes(32));
      try {
        const rows = await stack.database.asAppRole(async (query) => {
          await query('SELECT verity.bind($1)', [forged]);
          return query<{ id: string }>('SELECT id FROM orders');
        });
        return { status: 200, body: { rows } };
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        return { status: 403, body: { sqlstate: code, message } };
      }
    },
  },
  {
    id: 'compromised-service-writes-with-read-receipt',
    title: '…deleting acme\'s orders with alice\'s select receipt',
    stoppedAt: 'database: a select receipt never writes (no row deleted)',
    expect: { status: 404, tiers: { sts: 'allow', 'orders-db': 'allow' } },
    async run({ stack, requestId }) {
      const receipt = await acmeReceipt(stack, requestId);
      const deleted = await stack.database.asAppRole(async (query) => {
        await query('SELECT verity.bind($1)', [receipt]);
        return query<{ id: string }>('DELETE FROM orders RETURNING id');
      });
      return { status: deleted.length === 0 ? 404 : 200, body: { deleted } };
    },
  },
  {
    id: 'workload-not-allowed',
    title: 'the reports workload (its own valid SVID) reads alice\'s order with her valid token',
    stoppedAt: 'orders (tier 2): the policy admits only the gateway as caller (audit: caller reports)',
    expect: { status: 403, tiers: { orders: 'deny' }, caller: REPORTS_ID },
    run: async ({ stack, requestId }) => call(stack.orders.url, { path: '/orders/o-a1', token: await stack.idp.mint(alice), requestId, dispatcher: stack.reportsDispatcher }),
  },
  {
    id: 'forged-caller-header',
    title: '…claiming to be the gateway with a forged x-forwarded-client-cert',
    stoppedAt: 'orders (tier 2): no trusted proxy, so the header is forged; the PDP denies (verity:workload)',
    expect: { status: 403, tiers: { orders: 'deny' }, caller: REPORTS_ID },
    run: async ({ stack, requestId }) =>
      call(stack.orders.url, {
        path: '/orders/o-a1',
        token: await stack.idp.mint(alice),
        requestId,
        headers: { 'x-forwarded-client-cert': `By=${ORDERS_ID};URI=${GATEWAY_ID}` },
        dispatcher: stack.reportsDispatcher,
      }),
  },
  {
    id: 'no-txn-token',
    title: 'the compromised gateway forwards alice\'s valid token without asking, so without a Txn-Token',
    stoppedAt: 'orders (tier 2): the policy requires the Txn-Token the gateway gets for an allowed request',
    expect: { status: 403, tiers: { orders: 'deny' }, caller: GATEWAY_ID },
    run: async ({ stack, requestId }) => call(stack.compromisedGateway.url, { path: '/orders/o-a1', token: await stack.idp.mint(alice), requestId }),
  },
  {
    id: 'other-subjects-txn-token',
    title: '…with a Txn-Token it got for bob (it holds the gateway\'s Workload API) beside alice\'s token',
    stoppedAt: 'orders (tier 2): the Txn-Token is another subject\'s; the PDP denies (verity:txn)',
    expect: { status: 403, tiers: { sts: 'allow', orders: 'deny' } },
    async run({ stack, requestId }) {
      const bobs = await gatewayTxnToken(stack, await stack.idp.mint(bob), requestId);
      return call(stack.compromisedGateway.url, { path: '/orders/o-a1', token: await stack.idp.mint(alice), requestId, headers: { 'txn-token': bobs } });
    },
  },
  {
    id: 'no-client-certificate',
    title: 'a caller without an SVID (plain TLS, no client certificate) calls the orders service',
    stoppedAt: 'orders (tier 2): strict mTLS refuses the connection; nothing reaches a decision',
    expect: { status: 0, tiers: {} },
    async run({ stack, requestId }) {
      // It does not even check the server: it has nothing to present either way.
      const plain = new Agent({ connect: { rejectUnauthorized: false } });
      try {
        return await call(stack.orders.url, { path: '/orders/o-a1', token: await stack.idp.mint(alice), requestId, dispatcher: plain });
      } catch (error) {
        const { code, message } = error as { code?: string; message?: string };
        return { status: 0, body: { error: code ?? 'ERR_CONNECTION', message: message ?? String(error) } };
      } finally {
        await plain.destroy();
      }
    },
  },
  {
    id: 'noncompliant-device-via-gateway',
    title: 'alice\'s laptop falls out of compliance mid-session (MDM: disk encryption off); her next request',
    stoppedAt: 'gateway (tier 1): the device\'s new posture, within the change feed\'s delay',
    expect: { status: 403, tiers: { gateway: 'deny' } },
    run: async ({ stack, requestId }) => call(stack.gateway.url, { tenant: 'acme', path: '/orders/o-a1', token: (await noncompliantSession(stack)).token, requestId }),
  },
  {
    id: 'noncompliant-device-direct',
    title: '…the same session straight to the service (the compromised gateway forwards it, with its Txn-Token)',
    stoppedAt: 'orders (tier 2): its cached allow was dropped by the device change',
    expect: { status: 403, tiers: { orders: 'deny' } },
    async run({ stack, requestId }) {
      const { token, txnToken } = await noncompliantSession(stack);
      return call(stack.compromisedGateway.url, { path: '/orders/o-a1', token, requestId, headers: { 'txn-token': txnToken } });
    },
  },
  {
    id: 'noncompliant-device-database',
    title: '…and the database token the orders service had already exchanged for that session',
    stoppedAt: 'orders-db (tier 3): the delegated token carries the device; its posture denies',
    expect: { status: 403, tiers: { 'orders-db': 'deny' } },
    async run({ stack, requestId }) {
      const answer = await stack.dataTier.select({ token: (await noncompliantSession(stack)).dbToken, requestId });
      return { status: answer.status, body: answer };
    },
  },
];

/**
 * A receipt of an allow at the database tier for alice (acme): what the data-access layer legitimately
 * holds after serving her, and what a compromised one would try to misuse. Its decisions (the exchange
 * and the orders-db decision) are recorded under `requestId`.
 */
async function acmeReceipt(stack: Stack, requestId: string): Promise<string> {
  const exchanged = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: await stack.idp.mint(alice), audience: DB_AUDIENCE, scope: 'orders:read', requestId });
  const token = exchanged.body.access_token;
  if (token === undefined) throw new Error(`the exchange failed: ${exchanged.status}`);
  const result = await stack.dbEnforcers.acme.enforce({ token, requestId, action: 'select', resource: { type: 'Table', id: 'orders' } });
  if (!result.allowed || result.receipt === undefined) throw new Error(`no receipt for alice: ${result.status}`);
  return result.receipt;
}

/**
 * A Txn-Token of acme for `subjectToken`, asked with the gateway's JWT-SVID: what the gateway
 * does for every allowed request, and what an attacker holding its Workload API can do for any
 * user token it sees. Its issuance is audited under `requestId`.
 */
function gatewayTxnToken(stack: Stack, subjectToken: string, requestId: string): Promise<string> {
  const requester = createTxnTokenRequester({ url: stack.pdp.url, tenant: 'acme', trustDomain: trustDomainOf('acme'), tier: 'sts', jwtSvid: async (audience) => (await stack.workloads.sources.gateway.jwtSvid([audience])).token });
  return requester.request(subjectToken, { requestId });
}

/**
 * A token of alice's, with a Txn-Token for it, that was used through the compromised gateway
 * (its allow cached by the orders service), then revoked by its id; resolves once the orders
 * service heard of the revocation. Made once per stack.
 */
const revoked = new WeakMap<Stack, Promise<{ token: string; txnToken: string }>>();
function revokedToken(stack: Stack): Promise<{ token: string; txnToken: string }> {
  let held = revoked.get(stack);
  if (!held) {
    held = (async () => {
      const token = await stack.idp.mint(alice);
      const requestId = `setup-${randomBytes(4).toString('hex')}`;
      const txnToken = await gatewayTxnToken(stack, token, requestId);
      const used = await call(stack.compromisedGateway.url, { path: '/orders/o-a1', token, requestId, headers: { 'txn-token': txnToken } });
      if (used.status !== 200) throw new Error(`the token to revoke did not work first: ${used.status}`);
      const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { jti: string; exp: number };
      const heard = stack.nextChange('acme', 'revocation');
      const answer = await stack.admin('POST', '/admin/v1/tenants/acme/revocations', { jti: claims.jti, exp: claims.exp });
      if (answer.status !== 201) throw new Error(`revocation failed: ${answer.status}`);
      await heard;
      return { token, txnToken };
    })();
    revoked.set(stack, held);
  }
  return held;
}

/** The device alice signs in on: registered with acme's device registry, its posture pushed as an MDM would. */
export const ALICE_DEVICE = 'alice-laptop';

/**
 * A session of alice's on her laptop that worked at every tier while the laptop was compliant (the
 * orders service cached its allow; the orders service exchanged a database token for it), and
 * then the laptop's MDM reported it out of compliance; resolves once the orders service heard of
 * the change. Made once per stack.
 */
const noncompliant = new WeakMap<Stack, Promise<{ token: string; txnToken: string; dbToken: string }>>();
function noncompliantSession(stack: Stack): Promise<{ token: string; txnToken: string; dbToken: string }> {
  let held = noncompliant.get(stack);
  if (!held) {
    held = (async () => {
      const device = `/admin/v1/tenants/acme/devices/${ALICE_DEVICE}`;
      const registered = await stack.admin('PUT', device);
      if (registered.status !== 200 && registered.status !== 201) throw new Error(`device registration failed: ${registered.status}`);
      const today = new Date().toISOString().slice(0, 10);
      const posture = (compliant: boolean) => stack.admin('POST', `${device}/posture`, { patch_level: today, disk_encryption: compliant, screen_lock: true });
      if ((await posture(true)).status !== 200) throw new Error('the compliant posture was refused');
      const token = await stack.idp.mint({ ...alice, device_id: ALICE_DEVICE });
      const requestId = `setup-${randomBytes(4).toString('hex')}`;
      const txnToken = await gatewayTxnToken(stack, token, requestId);
      const used = await call(stack.compromisedGateway.url, { path: '/orders/o-a1', token, requestId, headers: { 'txn-token': txnToken } });
      if (used.status !== 200) throw new Error(`the session did not work while compliant: ${used.status}`);
      const exchanged = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: token, audience: DB_AUDIENCE, scope: 'orders:read', requestId });
      const dbToken = exchanged.body.access_token;
      if (dbToken === undefined) throw new Error(`the exchange failed: ${exchanged.status}`);
      const selected = await stack.dataTier.select({ token: dbToken, requestId });
      if (selected.status !== 200) throw new Error(`the database refused the session while compliant: ${selected.status}`);
      const heard = stack.nextChange('acme', 'device');
      if ((await posture(false)).status !== 200) throw new Error('the non-compliant posture was refused');
      await heard;
      return { token, txnToken, dbToken };
    })();
    noncompliant.set(stack, held);
  }
  return held;
}

/** The tenant's audit records of one request id. */
export async function auditOf(stack: Stack, tenant: Tenant, requestId: string): Promise<AuditRecord[]> {
  const answer = await stack.admin<{ events: AuditRecord[] }>('GET', `/admin/v1/tenants/${tenant}/audit?requestId=${encodeURIComponent(requestId)}&limit=100`);
  return answer.body.events;
}

function matches(attack: Attack, outcome: AttackOutcome, records: AuditRecord[]): boolean {
  if (outcome.status !== attack.expect.status) return false;
  const expected = TIERS.flatMap((tier) => expectedOf(attack, tier).map((decision) => `${tier} ${decision}`));
  const got = TIERS.flatMap((tier) => records.filter((record) => record.tier === tier).map((record) => record.decision).sort().map((decision) => `${tier} ${decision}`));
  if (records.some((record) => !TIERS.includes(record.tier as Tier))) return false;
  if (attack.expect.caller !== undefined && records.some((record) => record.caller !== attack.expect.caller)) return false;
  return JSON.stringify(got) === JSON.stringify(expected);
}

/** Run every attack (each with its own request id), then read the audit for each. */
export async function runAttacks(stack: Stack, attacks: readonly Attack[] = ATTACKS): Promise<AttackResult[]> {
  const run = randomBytes(3).toString('hex');
  const done: Array<{ attack: Attack; requestId: string; outcome: AttackOutcome }> = [];
  for (const [index, attack] of attacks.entries()) {
    const requestId = `${run}-${index}-${attack.id}`;
    done.push({ attack, requestId, outcome: await attack.run({ stack, requestId }) });
  }
  // The audit writer batches; wait until every record of every attack is stored.
  const results: AttackResult[] = [];
  for (const { attack, requestId, outcome } of done) {
    let records = await auditOf(stack, 'acme', requestId);
    for (let tries = 0; tries < 50 && !matches(attack, outcome, records); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      records = await auditOf(stack, 'acme', requestId);
    }
    results.push({ attack, requestId, outcome, records, ok: matches(attack, outcome, records) });
  }
  return results;
}

/** The audit chain verification of each tenant. */
export async function verifyAudit(stack: Stack): Promise<Record<Tenant, { ok: boolean; checked: number }>> {
  const result = {} as Record<Tenant, { ok: boolean; checked: number }>;
  for (const tenant of ['acme', 'globex'] as const) result[tenant] = (await stack.admin<{ ok: boolean; checked: number }>('GET', `/admin/v1/tenants/${tenant}/audit/verify`)).body;
  return result;
}

/** The printed table: attack | stopped at | status | decision ids (one line per audit record). */
export function formatTable(results: readonly AttackResult[]): string {
  const rows = results.map((result, index) => ({
    attack: `${index}. ${result.attack.title}`,
    stopped: result.attack.stoppedAt,
    status: `${result.outcome.status === 0 ? 'no TLS' : result.outcome.status}${result.ok ? '' : ' (!)'}`,
    decisions:
      result.records.length === 0
        ? ['— none: nothing reached a decision']
        : // In the order they were decided.
          [...result.records]
            .sort((a, b) => a.seq - b.seq)
            .map((record) => `${(record.tier ?? '').padEnd(9)} ${record.decision.padEnd(5)} ${record.decisionId}${record.txn ? ` txn ${record.txn}` : ''}${record.caller ? ` caller ${record.caller}` : ''}${record.errors[0] ? ` ${record.errors[0].message}` : ''}`),
  }));
  const widths = {
    attack: Math.max(6, ...rows.map((row) => row.attack.length)),
    stopped: Math.max(10, ...rows.map((row) => row.stopped.length)),
    status: 6,
  };
  const line = (a: string, s: string, st: string, d: string) => `${a.padEnd(widths.attack)} | ${s.padEnd(widths.stopped)} | ${st.padEnd(widths.status)} | ${d}`.trimEnd();
  const out = [line('attack', 'stopped at', 'status', 'decision ids (tier, decision, id)'), `${'-'.repeat(widths.attack)}-|-${'-'.repeat(widths.stopped)}-|-${'-'.repeat(widths.status)}-|-${'-'.repeat(60)}`];
  for (const row of rows) {
    row.decisions.forEach((decision, index) => out.push(index === 0 ? line(row.attack, row.stopped, row.status, decision) : line('', '', '', decision)));
  }
  return out.join('\n');
}
