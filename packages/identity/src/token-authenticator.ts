/**
 * Every use of a user token, at the PDP and in the SDK's local mode: verify it against the
 * tenant's identity sources, then check it against the tenant's revocations — on every use,
 * since a verification may come from the verifier's cache.
 */
import { VerityError } from '@verity/core';
import type { RevocationCheck, RevocationList } from './revocation-list.js';
import type { TokenVerifier } from './token-verifier.js';
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
}

/**
 * What revocation compares: the principal id the source mapped (a subject revocation names the
 * principal, whichever claim it comes from) and the `iat` the verifier bounded by the tolerance.
 */
export function revocationCheck(tenant: string, verified: VerifiedToken): RevocationCheck {
  const { tokenId, clientId, issuedAt, clockToleranceSec } = verified;
  return { tenant, tokenId, subject: verified.principal.uid.id, clientId, issuedAt, clockToleranceSec };
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
  });
}
