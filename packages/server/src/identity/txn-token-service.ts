/**
 * Txn-Tokens at the tenant's token service (draft-ietf-oauth-transaction-tokens): issued to a
 * workload that authenticates with its JWT-SVID (RFC 7523 client assertion), for a user token it
 * holds or a Txn-Token it replaces, as the tenant's Cedar policy permits; and verified for the
 * PDP's decisions. Refused credentials are audited as security events.
 */
import { policyAllows } from './policy-allows.js';
import { isVerityError, VerityError, type DecisionMeta } from '@verity/core';
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  issueTxnTokenForRequest,
  isTxnTokenRequest,
  parseTxnTokenRequest,
  readFormParam,
  stsIdentitySource,
  txnTokenRefusalReason,
  type IdentitySource,
  type KeyResolver,
  type StsForm,
  type TxnTokenAuthorizationRequest,
  type TxnTokenResponse,
  type VerifiedToken,
  type VerifiedTxnToken,
} from '@verity/identity';
import type { AuditWriter } from '../audit-writer.js';
import type { DecisionService } from '../decision-service.js';
import { recordSecurityEvent } from '../security-event.js';
import type { IdentityService } from './identity-service.js';
import type { TokenRequest } from './token-endpoint.js';
import type { TokenServices } from './token-services.js';

/**
 * Verifies a workload's JWT-SVID for `audience` (the token endpoint URL) against the bundle of
 * the tenant's trust domain or of one it federates with, and returns its SPIFFE id and that
 * trust domain; rejects (`ERR_SVID_*`) otherwise.
 */
export type VerifyWorkloadAssertion = (tenant: string, assertion: string, audience: string) => Promise<{ spiffeId: string; trustDomain: string }>;

export interface TxnTokenServiceOptions {
  tokens: TokenServices;
  identity: IdentityService;
  decisions: DecisionService;
  audit: AuditWriter;
  /** Resolves the token service's published keys (through `tokens.fetch`, so from the store). */
  keys: KeyResolver;
  trustDomainOf: (tenant: string) => Promise<string>;
  verifyWorkloadAssertion?: VerifyWorkloadAssertion;
  now?: () => number;
}

export interface TxnTokenService {
  /** Whether a token-endpoint form asks for a Txn-Token. */
  isRequest(form: StsForm): boolean;
  /** The Txn-Token Response for an authenticated workload's request (RFC 6749 §5.2 errors otherwise). */
  issue(tenant: string, request: TokenRequest, meta: DecisionMeta): Promise<TxnTokenResponse>;
  /**
   * A Txn-Token for a request a gateway endpoint has just allowed (draft §7, issued at the edge):
   * the gateway workload authenticates with a JWT-SVID for this token endpoint (`assertion`, as
   * in the token-endpoint profile), the subject is the user's token the gateway verified, scope
   * all of its scopes, `tctx` the gateway's decision id and policy version. The issuance is the
   * tenant's Cedar decision as at the token endpoint. Throws as {@link TxnTokenService.issue}.
   */
  issueForGateway(tenant: string, input: { assertion: string; subject: VerifiedToken; decisionId: string; policyVersion: number }, meta: DecisionMeta): Promise<TxnTokenResponse>;
  verify(tenant: string, token: unknown, meta: DecisionMeta): Promise<VerifiedTxnToken>;
}

/** A JWT-SVID is a few hundred bytes; anything far larger is not one. */
const MAX_ASSERTION_LENGTH = 16 * 1024;
/** The clock skew tolerated on a Txn-Token's `exp` and `iat` (the token service's own tokens). */
const CLOCK_TOLERANCE_SEC = 30;

export function createTxnTokenService(options: TxnTokenServiceOptions): TxnTokenService {
  const { tokens, identity, decisions, audit } = options;
  const now = options.now ?? Date.now;
  // One source object per tenant, issuer and trust domain, so the key resolver's cache holds.
  const sources = new Map<string, IdentitySource>();

  const securityEvent = (tenant: string, code: string, check: 'workload' | 'txn_token', meta: DecisionMeta) =>
    recordSecurityEvent(audit, {
      tenant,
      principal: check === 'workload' ? { type: 'Verity::Workload', id: 'unauthenticated' } : { type: 'Verity::Token', id: 'rejected' },
      action: { type: 'Verity::Action', id: check === 'workload' ? 'txn_token' : 'authenticate' },
      resource: { type: 'Verity::Tenant', id: tenant },
      code,
      check,
      meta,
      now: now(),
    });

  const refusal = async (tenant: string, meta: DecisionMeta, reason: string, code = 'ERR_STS_INVALID_CLIENT'): Promise<never> => {
    await securityEvent(tenant, code, 'workload', meta);
    throw new VerityError('ERR_STS_INVALID_CLIENT', 'Client authentication failed', { cause: { reason } });
  };

  /**
   * The SPIFFE id a JWT-SVID client assertion proves (RFC 7523 §2.2) for this tenant's token
   * endpoint: of the tenant's trust domain or one it federates with; refused and audited otherwise.
   */
  async function authenticateAssertion(tenant: string, assertion: string, clientId: string | undefined, meta: DecisionMeta): Promise<string> {
    if (assertion.length > MAX_ASSERTION_LENGTH) return refusal(tenant, meta, 'malformed');
    if (options.verifyWorkloadAssertion === undefined) return refusal(tenant, meta, 'workload_authentication_unavailable');
    let verified: { spiffeId: string; trustDomain: string };
    try {
      verified = await options.verifyWorkloadAssertion(tenant, assertion, `${tokens.issuerUrl(tenant)}/oauth2/token`);
    } catch (error) {
      if (!isVerityError(error) || error.status >= 500) throw error;
      return refusal(tenant, meta, 'assertion_invalid', error.code);
    }
    // The verifier checked `sub` against the bundle it used; checked again, cheaply.
    if (typeof verified.spiffeId !== 'string' || !verified.spiffeId.startsWith(`spiffe://${verified.trustDomain}/`)) return refusal(tenant, meta, 'other_trust_domain');
    if (clientId !== undefined && clientId !== verified.spiffeId) return refusal(tenant, meta, 'malformed');
    return verified.spiffeId;
  }

  /** The requesting workload's SPIFFE id, proven by its JWT-SVID for this token endpoint (draft §7.5). */
  async function authenticateWorkload(tenant: string, request: TokenRequest, meta: DecisionMeta): Promise<string> {
    let assertion: string | undefined;
    let assertionType: string | undefined;
    let clientId: string | undefined;
    let secret: string | undefined;
    try {
      assertion = readFormParam(request.form, 'client_assertion');
      assertionType = readFormParam(request.form, 'client_assertion_type');
      clientId = readFormParam(request.form, 'client_id');
      secret = readFormParam(request.form, 'client_secret');
    } catch {
      return refusal(tenant, meta, 'malformed');
    }
    // Exactly one method (RFC 6749 §2.3): a client secret alongside the SVID is refused, not ignored.
    const hasAuthorization = Object.keys(request.headers).some((name) => name.toLowerCase() === 'authorization');
    if (hasAuthorization || secret !== undefined) return refusal(tenant, meta, 'not_a_workload');
    if (assertion === undefined || assertionType !== CLIENT_ASSERTION_TYPE_JWT_BEARER) return refusal(tenant, meta, 'no_credentials');
    return authenticateAssertion(tenant, assertion, clientId, meta);
  }

  /** May this workload have this Txn-Token? The tenant's own Cedar policy says. */
  function authorize(tenant: string, meta: DecisionMeta) {
    return (ask: TxnTokenAuthorizationRequest) =>
      policyAllows(
        decisions,
        tenant,
        { principal: ask.principal, action: { type: 'Action', id: ask.action }, resource: { type: 'TrustDomain', id: ask.resource.trustDomain }, context: { ...ask.context } },
        // Audited under the transaction it opens (or continues): one id for the whole call chain.
        { ...meta, txn: ask.txn },
      );
  }

  async function verify(tenant: string, token: unknown, meta: DecisionMeta): Promise<VerifiedTxnToken> {
    const trustDomain = await options.trustDomainOf(tenant);
    const issuer = tokens.issuerUrl(tenant);
    const key = `${tenant}\u0000${issuer}\u0000${trustDomain}`;
    let source = sources.get(key);
    if (source === undefined) {
      source = stsIdentitySource({ tenant, issuer, audiences: [trustDomain] });
      sources.set(key, source);
    }
    try {
      // Verified, and refused when its subject was revoked after it was issued (the sessions ended).
      return await identity.verifyTxnToken(tenant, token, { keys: options.keys.keysFor(source), issuer, trustDomain, clockToleranceSec: CLOCK_TOLERANCE_SEC });
    } catch (error) {
      const reason = txnTokenRefusalReason(error);
      // Our own keys could not be read: a failure of this server, not a refused token.
      if (reason === 'ERR_IDENTITY_SOURCE_UNAVAILABLE') throw new VerityError('ERR_IDENTITY_SOURCE_UNAVAILABLE', 'the token service keys could not be read', { cause: error });
      if (isVerityError(error) && error.code === 'ERR_TXN_TOKEN_INVALID') await securityEvent(tenant, reason, 'txn_token', meta);
      throw error;
    }
  }

  return {
    isRequest: isTxnTokenRequest,
    verify,

    async issueForGateway(tenant, input, meta) {
      const trustDomain = await options.trustDomainOf(tenant);
      const requester = await authenticateAssertion(tenant, input.assertion, undefined, meta);
      try {
        return await issueTxnTokenForRequest({
          request: { subject: 'token', details: { decision_id: input.decisionId, policy_version: input.policyVersion } },
          requester,
          subject: { token: input.subject },
          keyRing: tokens.ring(tenant),
          issuer: tokens.issuerUrl(tenant),
          trustDomain,
          authorize: authorize(tenant, { ...meta, caller: requester }),
          now,
        });
      } catch (error) {
        // The gateway's allow now answers 403: every reason is in the audit. A policy deny is its
        // own decision record; a refusal before it (no scope, an expired token) is recorded here.
        if (isVerityError(error) && error.status < 500 && error.code !== 'ERR_STS_EXCHANGE_DENIED') {
          await recordSecurityEvent(audit, {
            tenant,
            principal: { type: 'Verity::Workload', id: requester },
            action: { type: 'Verity::Action', id: 'txn_token' },
            resource: { type: 'Verity::Tenant', id: tenant },
            code: error.code,
            check: 'txn_token',
            meta: { ...meta, caller: requester },
            now: now(),
          });
        }
        throw error;
      }
    },

    async issue(tenant, request, meta) {
      const trustDomain = await options.trustDomainOf(tenant);
      const requester = await authenticateWorkload(tenant, request, meta);
      const parsed = parseTxnTokenRequest(request.form, trustDomain);
      const subjectToken = readFormParam(request.form, 'subject_token');
      const workloadMeta: DecisionMeta = { ...meta, caller: requester };
      let subject: Parameters<typeof issueTxnTokenForRequest>[0]['subject'];
      try {
        subject = parsed.subject === 'txn_token' ? { txnToken: await verify(tenant, subjectToken, workloadMeta) } : { token: await identity.verifySubjectToken(tenant, subjectToken, workloadMeta) };
      } catch (error) {
        // RFC 8693 §2.2.2: a subject token invalid for any reason is invalid_request; the refusal was audited.
        if (isVerityError(error) && (error.code.startsWith('ERR_TOKEN_') || error.code === 'ERR_TXN_TOKEN_INVALID')) {
          throw new VerityError('ERR_STS_INVALID_SUBJECT_TOKEN', `The subject token is not acceptable: it was refused (${txnTokenRefusalReason(error)})`);
        }
        throw error;
      }
      const decisionMeta: DecisionMeta = 'txnToken' in subject ? { ...workloadMeta, txn: subject.txnToken.txn, actors: [...subject.txnToken.callChain].reverse() } : workloadMeta;
      return issueTxnTokenForRequest({
        request: parsed,
        requester,
        subject,
        keyRing: tokens.ring(tenant),
        issuer: tokens.issuerUrl(tenant),
        trustDomain,
        authorize: authorize(tenant, decisionMeta),
        now,
      });
    },
  };
}
