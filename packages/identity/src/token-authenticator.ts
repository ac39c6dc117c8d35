/**
 * Every use of a user token (or of a Txn-Token), at the PDP and in the SDK's local mode: verify
 * it against the tenant's identity sources, then check it against the tenant's revocations — on
 * every use, since a verification may come from the verifier's cache.
 */
import { VerityError, type VerifiedPrincipal } from '@verity/core';
import type { RevocationCheck, RevocationList } from './revocation-list.js';
import type { TokenVerifier } from './token-verifier.js';
import { txnTokenError, verifyTxnToken, type VerifiedTxnToken, type VerifyTxnTokenOptions } from './txn-token.js';
import type { IdentitySource, VerifiedToken } from './types.js';

/** Options for {@link createTokenAuthenticator}. */
export interface TokenAuthenticatorOptions {
  verifier: TokenVerifier;
  revocations: RevocationList;
}

/** One token's check: whose it is, what it must be issued for. */
export interface AuthenticateTokenOptions {
  tenant: string;
  /** The tenant's identity sources (its own token service's included). */
  sources: readonly IdentitySource[];
  /** The audience the caller is; the token must be issued for it. Default: any of the source's. */
  audience?: string;
}

/** Verifies tokens and refuses revoked ones; see {@link createTokenAuthenticator}. */
export interface TokenAuthenticator {
  /**
   * The verified token, or a rejection: `ERR_TOKEN_MISSING` (not a non-empty string), any
   * other `ERR_TOKEN_*` (including `ERR_TOKEN_REVOKED`), or `ERR_IDENTITY_SOURCE_UNAVAILABLE`.
   */
  authenticate(token: unknown, options: AuthenticateTokenOptions): Promise<VerifiedToken>;
  /**
   * A Txn-Token, verified ({@link verifyTxnToken}) and its subject checked against the tenant's
   * revocations: a subject revoked after the Txn-Token was issued ends the transaction too.
   * Rejects with `ERR_TXN_TOKEN_INVALID` (reason `ERR_TOKEN_REVOKED` on `cause`).
   */
  authenticateTxnToken(token: unknown, options: VerifyTxnTokenOptions & { tenant: string }): Promise<VerifiedTxnToken>;
}

/**
 * What revocation compares: the principal id the source mapped (a subject revocation names the
 * principal, whichever claim it comes from), the token's job, and the `iat` the verifier bounded
 * by the tolerance.
 */
export function revocationCheck(tenant: string, verified: VerifiedToken): RevocationCheck {
  const { tokenId, clientId, issuedAt, clockToleranceSec, job } = verified;
  return { tenant, tokenId, subject: verified.principal.uid.id, clientId, issuedAt, clockToleranceSec, ...(job === undefined ? {} : { job }) };
}

/**
 * What a decision takes from a verified token: the principal, the claim-mapped context, the
 * login (`auth_time`/`acr`/`amr`) and the claims for the risk engine's signals. The PDP and a PEP
 * deciding from its bundle pass the same.
 */
export function verifiedPrincipalOf(verified: VerifiedToken): VerifiedPrincipal {
  return { principal: verified.principal, context: verified.context, claims: verified.claims, ...(verified.authentication === undefined ? {} : { authentication: verified.authentication }) };
}

/**
 * Create the one verify-then-revocation check.
 *
 * @example
 * const tokens = createTokenAuthenticator({ verifier: createTokenVerifier(), revocations: createRevocationList() });
 * const verified = await tokens.authenticate(parseBearerToken(headers.authorization), { tenant: 'acme', sources });
 */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { verifier, revocations } = options;
  return Object.freeze({
    async authenticate(token: unknown, { tenant, sources, audience }: AuthenticateTokenOptions) {
      if (typeof token !== 'string' || token === '') throw new VerityError('ERR_TOKEN_MISSING', 'a subject token is required');
      const verified = await verifier.verify(token, sources, audience === undefined ? {} : { audience });
      if (revocations.isRevoked(revocationCheck(tenant, verified))) throw new VerityError('ERR_TOKEN_REVOKED', 'the token has been revoked');
      return verified;
    },
    async authenticateTxnToken(token: unknown, { tenant, ...options }: VerifyTxnTokenOptions & { tenant: string }) {
      const verified = await verifyTxnToken(token, options);
      // A Txn-Token has no jti or client of its own: its subject (the principal id) and `iat` are what a revocation can name.
      const check = { tenant, tokenId: null, subject: verified.sub, clientId: null, issuedAt: verified.iat, clockToleranceSec: options.clockToleranceSec ?? 30 };
      if (revocations.isRevoked(check)) throw txnTokenError('ERR_TOKEN_REVOKED');
      return verified;
    },
  });
}
