/**
 * Which tenant a token belongs to. Every tenant has its own issuers: its users' identity
 * provider (`https://idp.three-tier.example/<tenant>`) and its Verity token service
 * (`<pdp>/tenants/<tenant>`), and each tenant's PDP trusts only its own. So the token's `iss`
 * says which PDP to ask, and only that PDP's answer proves it: a token whose `iss` names
 * another tenant than the one whose key signed it is refused there (401).
 *
 * Nothing else names a tenant: not `x-tenant-id`, not the Host, not the URL.
 */
import { Buffer } from 'node:buffer';

export const TENANTS = ['acme', 'globex'] as const;
export type Tenant = (typeof TENANTS)[number];

/** The users' identity provider: one issuer per tenant (as Entra or Auth0 organisations). */
export const IDP_ISSUER_BASE = 'https://idp.three-tier.example';
export const idpIssuer = (tenant: Tenant): string => `${IDP_ISSUER_BASE}/${tenant}`;

/** The audience of user tokens (the public orders API) and of delegated database tokens. */
export const ORDERS_AUDIENCE = 'orders-api';
export const DB_AUDIENCE = 'orders-db';
/**
 * A tenant's SPIFFE trust domain (the PDP's default, `<tenant>.<--trust-domain>`): the audience
 * of its Txn-Tokens. Its services' identities are the platform's (workloads.ts), which each
 * tenant federates with (`settings.federated_tenants`).
 */
export const trustDomainOf = (tenant: Tenant): string => `${tenant}.verity.internal`;

/**
 * Maps trusted issuers to tenants. `pdpUrl` is the Verity PDP, whose token service issues
 * `<pdpUrl>/tenants/<tenant>` tokens.
 */
export function createTenancy(pdpUrl: string) {
  const issuers = new Map<string, Tenant>();
  for (const tenant of TENANTS) {
    issuers.set(idpIssuer(tenant), tenant);
    issuers.set(`${pdpUrl.replace(/\/$/, '')}/tenants/${tenant}`, tenant);
  }
  return {
    /**
     * The tenant whose PDP must verify this token, from its (not yet verified) `iss`, or
     * undefined for a missing, malformed or foreign token, or one whose `tenant` claim names
     * another tenant than its issuer. Use the answer only to choose whom
     * to ask; the tenant is established once that tenant's PDP allows.
     */
    tenantToAsk(token: string | undefined): Tenant | undefined {
      const payload = token?.split('.')[1];
      if (payload === undefined) return undefined;
      try {
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown; tenant?: unknown };
        const tenant = typeof claims.iss === 'string' ? issuers.get(claims.iss) : undefined;
        // A `tenant` claim (user tokens carry one; the policies compare it with the order's
        // tenant) must name the issuer's own tenant: an issuer speaks for its tenant only.
        return claims.tenant === undefined || claims.tenant === tenant ? tenant : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export type Tenancy = ReturnType<typeof createTenancy>;
