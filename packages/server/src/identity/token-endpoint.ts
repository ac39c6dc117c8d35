/**
 * The work behind each tenant's token service endpoints: OIDC discovery, the JWKS, the token
 * endpoint (client_credentials, RFC 8693 token exchange, and Txn-Tokens for workloads, each
 * permitted by the tenant's own Cedar decision), RFC 7009 revocation, and the verification of
 * the Txn-Tokens it issued. The HTTP layer only reads forms and writes OAuth error bodies.
 */
import { policyAllows } from './policy-allows.js';
import { isVerityError, sha256Hex, VerityError, type DecisionMeta } from '@verity/core';
import {
  authenticateClient,
  createKeyResolver,
  exchangeToken,
  issueForClient,
  readFormParam,
  GRANT_TYPE_CLIENT_CREDENTIALS,
  GRANT_TYPE_TOKEN_EXCHANGE,
  type DiscoveryMetadata,
  type ExchangeAuthorizationRequest,
  type StsClient,
} from '@verity/identity';
import type { Store } from '@verity/store';
import type { AuditWriter } from '../audit-writer.js';
import type { DecisionService } from '../decision-service.js';
import { requireTenant } from '../require-tenant.js';
import type { IdentityService } from './identity-service.js';
import type { TokenServices } from './token-services.js';
import { createTxnTokenService, type TxnTokenService, type VerifyWorkloadAssertion } from './txn-token-service.js';
import { defaultTrustDomainOf } from '../workload/trust-domains.js';

/** A token-endpoint request: its headers (client authentication) and its form fields. */
export interface TokenRequest {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  form: Record<string, string>;
}

export interface TokenEndpoint {
  discovery(tenant: string): Promise<DiscoveryMetadata>;
  jwks(tenant: string): Promise<{ keys: unknown[] }>;
  /** `POST /oauth2/token`: an authenticated client's grant, answered as RFC 6749 §5.1 (a token response). */
  token(tenant: string, request: TokenRequest, meta: DecisionMeta): Promise<unknown>;
  /**
   * `POST /oauth2/revoke` (RFC 7009): revokes the token if this service issued it to this client.
   * An invalid or unknown token is not an error (§2.2); a valid one issued to another client is
   * refused with `ERR_STS_UNAUTHORIZED_CLIENT` and stays valid (§2.1, §2.2.1).
   */
  revoke(tenant: string, request: TokenRequest): Promise<void>;
  /**
   * A Txn-Token this tenant's token service issued, verified for the tenant's trust domain and
   * its subject checked against revocation; a refusal is audited (a security event) and thrown
   * as 401 `ERR_TXN_TOKEN_INVALID`.
   */
  verifyTxnToken: TxnTokenService['verify'];
  /** A Txn-Token for a request the tenant's gateway endpoint allowed (the edge's request, draft §7). */
  issueTxnTokenForGateway: TxnTokenService['issueForGateway'];
}

export interface TokenEndpointOptions {
  store: Store;
  tokens: TokenServices;
  identity: IdentityService;
  decisions: DecisionService;
  /** Where refused workload assertions and Txn-Tokens are recorded (security events). */
  audit: AuditWriter;
  /**
   * Verifies the JWT-SVID a workload authenticates with when it asks for a Txn-Token (RFC 7523
   * client assertion, `aud` the token endpoint URL) and returns its SPIFFE id. Without it no
   * Txn-Token is issued (`invalid_client`).
   */
  verifyWorkloadAssertion?: VerifyWorkloadAssertion;
  /** The tenant's trust domain (default: its `trust_domain` setting, else `<tenant>.verity.internal`; the composition root passes the workload service's). */
  trustDomainOf?: (tenant: string) => Promise<string>;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
}

export function createTokenEndpoint(options: TokenEndpointOptions): TokenEndpoint {
  const { store, tokens, identity, decisions } = options;
  const txnTokens: TxnTokenService = createTxnTokenService({
    tokens,
    identity,
    decisions,
    audit: options.audit,
    keys: createKeyResolver({ fetch: tokens.fetch, ...(options.now === undefined ? {} : { now: options.now }) }),
    // The composition root passes the workload service's (cached, with the server's --trust-domain).
    trustDomainOf: options.trustDomainOf ?? (async (tenant) => (await requireTenant(store, tenant)).settings.trust_domain ?? defaultTrustDomainOf(tenant, DEFAULT_TRUST_DOMAIN)),
    ...(options.verifyWorkloadAssertion === undefined ? {} : { verifyWorkloadAssertion: options.verifyWorkloadAssertion }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  // Replay protection for private_key_jwt assertions, in the store: an assertion used on one
  // replica or worker is a replay on every other. Expired ids are forgotten at most once a minute.
  const now = options.now ?? Date.now;
  let nextSweepMs = 0;
  const seenJti = {
    addIfAbsent(tenant: string, key: string, expSec: number): Promise<boolean> {
      const at = now();
      if (at >= nextSweepMs) {
        nextSweepMs = at + 60_000;
        // Housekeeping only: an expired assertion is refused by its exp before its id is looked at.
        store.identity.forgetExpiredAssertionJtis(Math.floor(at / 1000)).catch(() => {});
      }
      return store.identity.useAssertionJti(tenant, sha256Hex(key), expSec);
    },
  };

  async function authenticate(tenant: string, request: TokenRequest): Promise<StsClient> {
    const result = await authenticateClient({ headers: request.headers as Record<string, string>, form: request.form }, (id) => tokens.client(tenant, id), {
      tokenEndpointUrl: `${tokens.issuerUrl(tenant)}/oauth2/token`,
      seenJti: { addIfAbsent: (key, exp) => seenJti.addIfAbsent(tenant, key, exp) },
    });
    return result.client;
  }

  /** Whether this client may exchange at all is the tenant's own Cedar policy. */
  function authorizeExchange(tenant: string, meta: DecisionMeta) {
    return (ask: ExchangeAuthorizationRequest) =>
      policyAllows(
        decisions,
        tenant,
        {
          principal: ask.principal,
          action: { type: 'Action', id: 'exchange' },
          resource: { type: 'Audience', id: ask.resource.audience },
          context: { subject: ask.context.subject, scopes: ask.context.scopes, actors: ask.context.actors },
        },
        meta,
      );
  }

  async function exchange(tenant: string, client: StsClient, form: Record<string, string>, meta: DecisionMeta) {
    // RFC 8693 §2.2.2: a subject or actor token that is invalid for any reason is invalid_request;
    // the refusal is audited by verifySubjectToken, and its ERR_TOKEN_* code named in the message.
    const verifyGrant = async (token: string | undefined, code: 'ERR_STS_INVALID_SUBJECT_TOKEN' | 'ERR_STS_INVALID_ACTOR_TOKEN') => {
      try {
        return await identity.verifySubjectToken(tenant, token, meta);
      } catch (error) {
        if (isVerityError(error) && error.code.startsWith('ERR_TOKEN_')) throw new VerityError(code, `the ${code === 'ERR_STS_INVALID_SUBJECT_TOKEN' ? 'subject' : 'actor'} token was refused (${error.code})`);
        throw error;
      }
    };
    const subjectToken = readFormParam(form, 'subject_token');
    const actorToken = readFormParam(form, 'actor_token');
    if (actorToken !== undefined && actorToken === subjectToken) throw new VerityError('ERR_STS_INVALID_ACTOR_TOKEN', 'the actor token may not be the subject token');
    const verifiedSubject = await verifyGrant(subjectToken, 'ERR_STS_INVALID_SUBJECT_TOKEN');
    const verifiedActor = actorToken === undefined ? undefined : await verifyGrant(actorToken, 'ERR_STS_INVALID_ACTOR_TOKEN');
    // A delegated token stays bound to the user's device (the tenant's device claim), so every tier weighs it.
    const deviceClaim = (await store.tenants.get(tenant))?.settings.risk?.devices?.claim;
    return exchangeToken({
      form,
      client,
      verifiedSubject,
      ...(verifiedActor ? { verifiedActor } : {}),
      issuer: await tokens.issuer(tenant),
      authorize: authorizeExchange(tenant, meta),
      ...(deviceClaim === undefined ? {} : { carryClaims: [deviceClaim] }),
    });
  }

  return {
    async discovery(tenant) {
      await requireTenant(store, tenant);
      return (await tokens.issuer(tenant)).discoveryMetadata(tokens.issuerUrl(tenant));
    },

    async jwks(tenant) {
      await requireTenant(store, tenant);
      return tokens.jwks(tenant);
    },

    async token(tenant, request, meta) {
      await requireTenant(store, tenant);
      // A Txn-Token is only for a workload that proves itself with its JWT-SVID, never a client.
      if (txnTokens.isRequest(request.form)) return txnTokens.issue(tenant, request, meta);
      const client = await authenticate(tenant, request);
      const grantType = readFormParam(request.form, 'grant_type');
      if (grantType === GRANT_TYPE_CLIENT_CREDENTIALS) {
        const scope = readFormParam(request.form, 'scope');
        const audience = readFormParam(request.form, 'audience');
        return issueForClient({ client, issuer: await tokens.issuer(tenant), ...(scope === undefined ? {} : { scope }), ...(audience === undefined ? {} : { audience }) });
      }
      if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
        throw new VerityError(grantType === undefined ? 'ERR_STS_INVALID_REQUEST' : 'ERR_STS_UNSUPPORTED_GRANT_TYPE', 'grant_type must be client_credentials or token exchange');
      }
      return exchange(tenant, client, request.form, meta);
    },

    async revoke(tenant, request) {
      await requireTenant(store, tenant);
      const client = await authenticate(tenant, request);
      const token = readFormParam(request.form, 'token');
      if (token === undefined) throw new VerityError('ERR_STS_INVALID_REQUEST', 'token is required');
      const verified = await identity.verifyOwnToken(tenant, token);
      // RFC 7009 §2.2: a token that is invalid (or not ours) needs no revoking and is no error.
      if (verified === null || verified.tokenId === null) return;
      // RFC 7009 §2.1: only the client the token was issued to may revoke it; any other is refused.
      if (verified.clientId !== client.id) throw new VerityError('ERR_STS_UNAUTHORIZED_CLIENT', 'the token was not issued to this client');
      await identity.revoke(tenant, { jti: verified.tokenId, exp: verified.expiresAt });
    },

    verifyTxnToken: (tenant, token, meta) => txnTokens.verify(tenant, token, meta),
    issueTxnTokenForGateway: (tenant, input, meta) => txnTokens.issueForGateway(tenant, input, meta),
  };
}

/** The deployment's trust domain when no resolver is given (a tenant without a `trust_domain` setting is `<tenant>.verity.internal`). */
const DEFAULT_TRUST_DOMAIN = 'verity.internal';
