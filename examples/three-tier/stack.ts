/**
 * Everything the example runs, in one process (nginx, when used, is a child process): the
 * Verity PDP on an in-memory store with the tenants `acme` and `globex` (one shared policy
 * folder), the users' identity provider (a signing key the PDP knows as an inline-keys identity
 * source), the orders database and its data-access layer, the orders service, the gateway, and a
 * compromised gateway for the attacks. The services' own identities belong to the tenant
 * `platform` (trust domain `platform.verity.internal`): one workload agent and Workload API socket
 * each for the gateway, the orders service and a reports service (workloads.ts); the gateway →
 * orders hop is mTLS with those SVIDs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createEnforcer, createRemoteDecisionSource, type Change, type Enforcer } from '@verity/enforce';
import { readPolicyFolder, startServer, type RunningServer } from '@verity/server';
import { createDataTier, createOrdersDatabase, type DataTier, type OrderEntity, type OrdersDatabase } from './db.js';
import { GATEWAY_ROUTES, startCompromisedGateway, startGateway, type RunningGateway } from './gateway.js';
import { startOrdersService, type OrdersService } from './orders-service.js';
import { createTenancy, DB_AUDIENCE, idpIssuer, ORDERS_AUDIENCE, TENANTS, type Tenancy, type Tenant } from './tenancy.js';
import { ordersDispatcher, PLATFORM_TENANT, startWorkloads, type Workloads } from './workloads.js';

export const POLICY_FOLDER = fileURLToPath(new URL('./policy', import.meta.url));

export interface TokenClaims {
  sub: string;
  tenant: Tenant;
  scope: string;
  /** The device the user signed in on, as the identity provider binds it (the tenant's device claim). */
  device_id?: string;
}

/** The users' identity provider: mints ES256 access tokens for `orders-api`. */
export interface IdentityProvider {
  mint(claims: TokenClaims): Promise<string>;
  /** The same token, signed with a key nobody trusts (what an attacker can make). */
  forge(claims: TokenClaims): Promise<string>;
}

async function createIdentityProvider() {
  const trusted = await generateKeyPair('ES256', { extractable: true });
  const attacker = await generateKeyPair('ES256');
  const kid = 'three-tier-idp-1';
  const sign = (key: CryptoKey, { sub, tenant, scope, device_id }: TokenClaims) =>
    new SignJWT({ tenant, scope, ...(device_id === undefined ? {} : { device_id }) })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(idpIssuer(tenant))
      .setAudience(ORDERS_AUDIENCE)
      .setSubject(sub)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);
  const provider: IdentityProvider = {
    mint: (claims) => sign(trusted.privateKey, claims),
    forge: (claims) => sign(attacker.privateKey, claims),
  };
  return { provider, publicJwk: { ...(await exportJWK(trusted.publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

export interface Stack {
  pdp: RunningServer;
  adminToken: string;
  /** A call to the PDP's admin API with the platform-admin credential. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  idp: IdentityProvider;
  tenancy: Tenancy;
  database: OrdersDatabase;
  dataTier: DataTier;
  /** The data-access layer's enforcers (tier `orders-db`, receipts on): what a compromised one would hold too. */
  dbEnforcers: Record<Tenant, Enforcer>;
  orders: OrdersService;
  gateway: RunningGateway;
  compromisedGateway: RunningGateway;
  /** The platform's workloads (gateway, orders, reports): their Workload API sources. */
  workloads: Workloads;
  /**
   * mTLS to the orders service as the `reports` workload: a valid SVID of the platform, but not
   * a caller the policies allow at the orders tier.
   */
  reportsDispatcher: Dispatcher;
  /** Each tenant's secret of the token-service client `orders`. */
  stsSecrets: Record<Tenant, string>;
  /** Resolves on the next change event the orders service receives for `tenant` of `kind`. */
  nextChange(tenant: Tenant, kind: Change['kind']): Promise<void>;
  close(): Promise<void>;
}

export interface StartStackOptions {
  /** `nginx` (default: when installed) or `node` (the SDK gateway). */
  gateway?: 'nginx' | 'node';
}

export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  const adminToken = `vrt_${randomBytes(24).toString('base64url')}`;
  const pdp = await startServer({ port: 0, dataDir: null, adminToken, print: () => {}, auditFlushMs: 10, logLevel: 'warn' });
  const closers: Array<() => Promise<void>> = [async () => void (await pdp.close())];
  try {
    const admin: Stack['admin'] = async (method, path, body) => {
      // A busy server sheds a request before reading it (503 ERR_OVERLOADED, "try again shortly"):
      // asked again after its Retry-After, a bounded number of times, as a client should.
      for (let attempt = 1; ; attempt++) {
        const response = await fetch(pdp.url + path, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        const parsed = (text === '' ? undefined : JSON.parse(text)) as never;
        const shed = response.status === 503 && (parsed as { code?: string } | undefined)?.code === 'ERR_OVERLOADED';
        if (!shed || attempt >= 20) return { status: response.status, body: parsed };
        const after = Number(response.headers.get('retry-after'));
        await new Promise((resolve) => setTimeout(resolve, Number.isFinite(after) && after > 0 ? Math.min(after, 5) * 1000 : 250));
      }
    };
    const must = async <T>(what: string, answer: Promise<{ status: number; body: T }>, status: number): Promise<T> => {
      const { status: got, body } = await answer;
      if (got !== status) throw new Error(`${what}: ${got} ${JSON.stringify(body)}`);
      return body;
    };

    const { provider: idp, publicJwk } = await createIdentityProvider();
    const folder = await readPolicyFolder(POLICY_FOLDER);
    const stsSecrets = {} as Record<Tenant, string>;
    const credentials = { gateway: {}, orders: {}, db: {} } as Record<'gateway' | 'orders' | 'db', Record<Tenant, string>>;
    for (const tenant of TENANTS) {
      // federated_tenants: the platform's workloads (the gateway) may ask this tenant's token service for Txn-Tokens.
      // risk: every decision weighs the device the user's token names (`device_id`), as its MDM last reported it.
      const settings = { gatewayRoutes: GATEWAY_ROUTES, gatewayAudience: ORDERS_AUDIENCE, federated_tenants: [PLATFORM_TENANT], risk: { enabled: true, devices: { claim: 'device_id' } } };
      await must(`create ${tenant}`, admin('POST', '/admin/v1/tenants', { id: tenant, settings }), 201);
      await must(`policies of ${tenant}`, admin('POST', `/admin/v1/tenants/${tenant}/policies`, { files: folder.files, links: folder.links, validationMode: folder.validationMode, message: 'three-tier example' }), 201);
      await must(`entities of ${tenant}`, admin('PUT', `/admin/v1/tenants/${tenant}/entities`, { entities: folder.entities, mode: 'replace' }), 200);
      // The tenant's users: tokens of its own issuer, signed with the provider's key.
      await must(
        `identity source of ${tenant}`,
        admin('PUT', `/admin/v1/tenants/${tenant}/identity-sources/idp`, {
          issuer: idpIssuer(tenant),
          keys: { kind: 'inline', keys: [publicJwk] },
          audiences: [ORDERS_AUDIENCE],
          algorithms: ['ES256'],
          claims: { principalType: 'User', attributes: { tenant: 'tenant' }, context: { scopes: 'scope', tenant: 'tenant' } },
        }),
        200,
      );
      // The orders service as a token-service client: it may ask for these audiences and scopes
      // at most; what it gets is also capped by the user's own scopes and by the policy. It may
      // exchange the users' tokens issued for it (subjectAudiences), no one else's.
      const client = await must<{ clientSecret: string }>(
        `client of ${tenant}`,
        admin('PUT', `/admin/v1/tenants/${tenant}/clients/orders`, { principal: { type: 'Client', id: 'orders' }, audiences: [DB_AUDIENCE, 'inventory'], subjectAudiences: [ORDERS_AUDIENCE], scopes: ['orders:read', 'orders:write'], secret: true }),
        200,
      );
      stsSecrets[tenant] = client.clientSecret;
      // Each tier has its own `pep` credential for the tenant: it may ask for decisions, no more.
      for (const tier of ['gateway', 'orders', 'db'] as const) {
        const credential = await must<{ token: string }>(`credential of ${tier}`, admin('POST', '/admin/v1/credentials', { role: 'pep', tenant, label: `three-tier ${tier}` }), 201);
        credentials[tier][tenant] = credential.token;
      }
    }

    const workloads = await startWorkloads(pdp.url, admin);
    closers.push(() => workloads.close());

    const tenancy = createTenancy(pdp.url);
    const database = await createOrdersDatabase(folder.entities as unknown as OrderEntity[]);
    closers.push(() => database.close());
    // What `verity db install` does against PostgreSQL: each tenant's receipt key is made at the
    // PDP, written into the database, and only then used by the PDP to sign.
    for (const tenant of TENANTS) {
      const keysPath = `/admin/v1/tenants/${tenant}/receipt-keys`;
      const created = await must<{ kid: string }>(`receipt key of ${tenant}`, admin('POST', keysPath), 201);
      const install = async () => {
        const exported = await must<{ keys: Array<{ kid: string; secret: string; verify_until: string | null }> }>(`receipt keys of ${tenant}`, admin('POST', `${keysPath}/export`), 200);
        await database.installKeys(tenant, exported.keys.map((key) => ({ kid: key.kid, secret: key.secret, verifyUntil: key.verify_until })));
      };
      await install();
      await must(`activate the receipt key of ${tenant}`, admin('POST', `${keysPath}/${created.kid}/activate`), 200);
      await install();
    }
    const dbEnforcers = {} as Record<Tenant, Enforcer>;
    for (const tenant of TENANTS) {
      const source = createRemoteDecisionSource({ url: pdp.url, credential: credentials.db[tenant], timeoutMs: 2000 });
      dbEnforcers[tenant] = createEnforcer({ source, tenant, audience: DB_AUDIENCE, tier: 'orders-db', receipts: true });
    }
    const dataTier = createDataTier({ database, enforcers: dbEnforcers, tenancy });

    const waiting = new Set<{ tenant: Tenant; kind: Change['kind']; resolve: () => void }>();
    const orders = await startOrdersService({
      pdpUrl: pdp.url,
      tenancy,
      credentials: credentials.orders,
      stsSecrets,
      dataTier,
      source: workloads.sources.orders,
      onChange: (change) => {
        for (const waiter of waiting) {
          if (waiter.tenant === change.tenant && waiter.kind === change.kind) {
            waiting.delete(waiter);
            waiter.resolve();
          }
        }
      },
    });
    closers.push(() => orders.close());
    await orders.ready;
    const gateway = await startGateway({ pdpUrl: pdp.url, upstreamUrl: orders.url, credentials: credentials.gateway, source: workloads.sources.gateway, ...(options.gateway ? { prefer: options.gateway } : {}) });
    closers.push(() => gateway.close());
    const compromisedGateway = await startCompromisedGateway({ upstreamUrl: orders.url, source: workloads.sources.gateway });
    closers.push(() => compromisedGateway.close());
    const reportsDispatcher = ordersDispatcher(workloads.sources.reports);
    closers.push(() => reportsDispatcher.destroy());

    return {
      pdp,
      adminToken,
      admin,
      idp,
      tenancy,
      database,
      dataTier,
      dbEnforcers,
      orders,
      gateway,
      compromisedGateway,
      workloads,
      reportsDispatcher,
      stsSecrets,
      nextChange: (tenant, kind) => new Promise<void>((resolve) => waiting.add({ tenant, kind, resolve })),
      close: () => closeAll(closers),
    };
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
}

async function closeAll(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers.reverse()) await close().catch(() => {});
}
