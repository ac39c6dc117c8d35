/**
 * Tier 2, the orders service: Fastify with the enforcement SDK. It trusts nothing the tier
 * before it did. Every request is decided again by the PDP with the caller's own token; the
 * tenant is the one whose PDP verified that token (never `x-tenant-id`, which is stripped); the
 * order's tenant is the PDP's stored attribute. To read the database it exchanges the caller's
 * token at its tenant's token service (RFC 8693) for one with audience `orders-db` and only the
 * `orders:read` scope, and the database layer decides again with that token.
 *
 * It listens with strict mTLS: a caller must present an X.509-SVID of the platform's trust
 * domain (from its Workload API), and every decision names that caller (`context.caller`): the
 * policies let only the gateway's SPIFFE id call this tier. There is no trusted proxy in front
 * of it, so an `x-forwarded-client-cert` header is forged whoever sends it: the caller stays the
 * connection's peer and the PDP denies (`context.caller_forged`).
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import {
  bearerToken,
  createChangeFollower,
  createDecisionCache,
  createEnforcer,
  createRemoteDecisionSource,
  refusalBody,
  stripSpoofableHeaders,
  type Change,
  type ChangeFollower,
  type EnforceInput,
  type Enforcer,
} from '@verity/enforce';
import { createMtlsContext, peerFromXfcc, type WorkloadApiSource } from '@verity/workload';
import type { DataTier } from './db.js';
import { DB_AUDIENCE, ORDERS_AUDIENCE, TENANTS, type Tenancy, type Tenant } from './tenancy.js';
import { TRUST_DOMAIN } from './workloads.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export interface StsAnswer {
  status: number;
  body: { access_token?: string; code?: string; error?: string; scope?: string };
}

/**
 * RFC 8693 token exchange at a tenant's token service, as the client `clientId`. The exchange's
 * own Cedar decision is audited under `requestId` with tier `sts`.
 */
export async function exchangeToken(input: { pdpUrl: string; tenant: Tenant; clientId: string; clientSecret: string; subjectToken: string; audience: string; scope: string; requestId: string }): Promise<StsAnswer> {
  const basic = Buffer.from(`${encodeURIComponent(input.clientId)}:${encodeURIComponent(input.clientSecret)}`).toString('base64');
  const response = await fetch(`${input.pdpUrl}/tenants/${input.tenant}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, 'x-request-id': input.requestId, 'x-verity-tier': 'sts' },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: input.subjectToken, subject_token_type: ACCESS_TOKEN, audience: input.audience, scope: input.scope }).toString(),
  });
  return { status: response.status, body: (await response.json()) as StsAnswer['body'] };
}

export interface OrdersServiceOptions {
  pdpUrl: string;
  tenancy: Tenancy;
  /** Each tenant's `pep` credential for this service (decisions and the change stream). */
  credentials: Record<Tenant, string>;
  /** Each tenant's secret of the token-service client `orders`. */
  stsSecrets: Record<Tenant, string>;
  dataTier: DataTier;
  /** The orders workload's Workload API: its SVID (the server certificate) and the trust bundle. */
  source: WorkloadApiSource;
  /** Every change event the PDP sends (policy, entities, identity, revocation). */
  onChange?: (change: Change) => void;
}

export interface OrdersService {
  url: string;
  /** Resolves once the change streams of every tenant are connected. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** What the preHandler proved about the caller, for the handler. */
interface Caller {
  tenant: Tenant;
  token: string;
  requestId: string;
  /** The call chain's Txn-Token (the `Txn-Token` header), passed on to the database tier. */
  txnToken?: string;
}

export async function startOrdersService(options: OrdersServiceOptions): Promise<OrdersService> {
  const { pdpUrl, tenancy, dataTier } = options;
  // Cached decisions are forgotten when the PDP says the tenant changed (a revocation included).
  const cache = createDecisionCache({ maxEntries: 10_000, ttlMs: 30_000 });
  const followers: ChangeFollower[] = [];
  const enforcers = {} as Record<Tenant, Enforcer>;
  for (const tenant of TENANTS) {
    const credential = options.credentials[tenant];
    const source = createRemoteDecisionSource({ url: pdpUrl, credential, timeoutMs: 2000, retries: 1 });
    enforcers[tenant] = createEnforcer({ source, cache, tenant, audience: ORDERS_AUDIENCE, tier: 'orders' });
    followers.push(
      createChangeFollower({
        url: pdpUrl,
        tenant,
        credential,
        onChange: (change) => {
          cache.invalidateTenant(change.tenant);
          options.onChange?.(change);
        },
      }),
    );
  }
  const callers = new WeakMap<FastifyRequest, Caller>();
  // Strict mTLS: no SVID of the bundle, no connection; a peer deny-listed later is cut off.
  const mtls = createMtlsContext({ source: options.source, mode: 'strict' });

  /** The SDK's decision for one route; `rule` builds the question once the tenant is known. */
  function verify(rule: (request: FastifyRequest, tenant: Tenant) => Omit<EnforceInput, 'token' | 'requestId'>) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      const token = bearerToken(request.headers);
      const requestId = typeof request.headers['x-request-id'] === 'string' ? request.headers['x-request-id'] : undefined;
      const tenant = tenancy.tenantToAsk(token);
      if (token === undefined || tenant === undefined) {
        // No token, or none any tenant issued: there is no one to ask, and nothing to believe.
        const code = token === undefined ? 'ERR_TOKEN_MISSING' : 'ERR_TOKEN_ISSUER';
        return reply.code(401).header('www-authenticate', 'Bearer').send({ code, message: 'a valid bearer token is required' });
      }
      // The calling workload, as the handshake proved it. No proxy is trusted to name another
      // one, so an x-forwarded-client-cert header is reported as forged (the PDP then denies).
      const caller = peerFromXfcc(request.headers['x-forwarded-client-cert'], { immediatePeer: mtls.peerOf(request.raw), trustedProxies: [], trustDomain: TRUST_DOMAIN });
      // The Txn-Token the gateway got for this user: the PDP verifies it (signature, aud = the
      // tenant's trust domain, exp) and puts its claims in context.txn; the policies require it.
      const header = request.headers['txn-token'];
      const txnToken = typeof header === 'string' && header !== '' ? header : undefined;
      const result = await enforcers[tenant].enforce({ ...rule(request, tenant), token, caller, ...(txnToken === undefined ? {} : { txnToken }), ...(requestId === undefined ? {} : { requestId }) });
      reply.header('x-request-id', result.requestId);
      if (!result.allowed) {
        if (result.status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
        return reply.code(result.status).send({ ...refusalBody(result), decisionId: result.decision?.decisionId ?? null });
      }
      // Whatever the tier before claimed about the caller is gone before the handler runs.
      request.raw.headers = stripSpoofableHeaders(request.raw.headers);
      callers.set(request, { tenant, token, requestId: result.requestId, ...(txnToken === undefined ? {} : { txnToken }) });
      return undefined;
    };
  }

  /** The delegated read: exchange, then the database layer decides again and applies RLS. */
  async function readOrders(caller: Caller, orderId?: string) {
    const exchanged = await exchangeToken({
      pdpUrl,
      tenant: caller.tenant,
      clientId: 'orders',
      clientSecret: options.stsSecrets[caller.tenant],
      subjectToken: caller.token,
      audience: DB_AUDIENCE,
      scope: 'orders:read',
      requestId: caller.requestId,
    });
    if (exchanged.status !== 200 || exchanged.body.access_token === undefined) return { status: 502 as const, body: { code: 'ERR_DELEGATION', message: `the token service refused: ${exchanged.body.code ?? exchanged.status}` } };
    const answer = await dataTier.select({ token: exchanged.body.access_token, requestId: caller.requestId, ...(orderId === undefined ? {} : { orderId }), ...(caller.txnToken === undefined ? {} : { txnToken: caller.txnToken }) });
    if (answer.status !== 200) return { status: answer.status, body: { code: answer.code, message: 'the database layer refused' } };
    return { status: 200 as const, body: { tenant: answer.tenant, orders: answer.rows } };
  }

  const app = Fastify({ logger: false, https: mtls.serverOptions() });
  // SVID rotation and bundle changes: new handshakes get the new certificate and roots.
  mtls.attach(app.server);

  app.get<{ Params: { orderId: string } }>(
    '/orders/:orderId',
    { preHandler: verify((request) => ({ action: 'read', resource: { type: 'Order', id: (request.params as { orderId: string }).orderId } })) },
    async (request, reply) => {
      const caller = callers.get(request) as Caller;
      const answer = await readOrders(caller, request.params.orderId);
      if (answer.status === 200 && answer.body.orders.length === 0) return reply.code(404).send({ code: 'ERR_NOT_FOUND', message: 'no such order' });
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.get(
    '/orders',
    // The resource is the caller's tenant, as verified: "may alice list acme's orders?"
    { preHandler: verify((_request, tenant) => ({ action: 'list', resource: { type: 'Tenant', id: tenant, properties: { name: tenant } } })) },
    async (request, reply) => {
      const answer = await readOrders(callers.get(request) as Caller);
      return reply.code(answer.status).send(answer.body);
    },
  );

  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    ready: Promise.all(followers.map((follower) => follower.ready)).then(() => undefined),
    async close() {
      for (const follower of followers) follower.close();
      await app.close();
    },
  };
}
