/** The identity source through which Verity verifies the tokens a tenant's own token service issued. */
import { PRINCIPAL_TYPE_CLAIM } from './token-issuer.js';
import type { IdentitySource } from './types.js';

/** The reserved id of a tenant's own token-service source. */
export const STS_SOURCE_ID = 'verity-sts';

export interface StsSourceOptions {
  tenant: string;
  /** The tenant's issuer URL, `{base}/tenants/{tenant}`. */
  issuer: string;
  /** Audiences accepted: the tenant's STS clients' (at the PDP), or the PEP's own (in a bundle). */
  audiences: string[];
  /** The principal type of tokens that carry no `principal_type` claim (the tenant's `stsPrincipalType`, default `User`). */
  principalType?: string;
}

/**
 * The `verity-sts` identity source: ES256 keys at `{issuer}/.well-known/jwks.json`, `sub` as
 * the principal id, the principal type from the `principal_type` claim the token service sets
 * (so a client's registered principal keeps its type), scopes in `context.scopes`. The PDP and
 * the SDK's local mode build it here, so both verify the token service's tokens alike.
 */
export function stsIdentitySource(options: StsSourceOptions): IdentitySource {
  const principalType = options.principalType ?? 'User';
  return Object.freeze({
    id: STS_SOURCE_ID,
    tenant: options.tenant,
    issuer: options.issuer,
    keys: { kind: 'jwks', jwksUri: `${options.issuer}/.well-known/jwks.json` },
    audiences: options.audiences.length > 0 ? [...options.audiences] : [options.issuer],
    algorithms: ['ES256'],
    clockToleranceSec: 30,
    claims: {
      principalType,
      // Every token the service issues names its type; one that does not is a user's.
      clientPrincipalType: principalType,
      principalTypeClaim: PRINCIPAL_TYPE_CLAIM,
      idClaim: 'sub',
      groupType: 'Group',
      attributes: {},
      context: { scopes: 'scope' },
    },
  } satisfies IdentitySource);
}
