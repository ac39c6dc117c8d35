/** The identity data model: identity sources, verified tokens, revocations, token-service clients. */
import type { AuthenticationFacts, CedarValue, Entity, EntityUid } from '@verity/core';

/** Signature algorithms an identity source may allow. `none` and HMAC are never accepted. */
export type AsymmetricAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** How a verified token's claims become a Cedar principal (like Verified Permissions' identity sources). */
export interface ClaimMapping {
  /** Cedar entity type of the principal of a token that names a user, e.g. `User` or `Acme::User`. */
  principalType: string;
  /**
   * Cedar entity type of the principal of a client's own token — one whose `sub` is its
   * `client_id` (RFC 9068 §2.2: a client-credentials grant has no resource owner). Default
   * `Client`: a machine is never decided as a user unless configured so.
   */
  clientPrincipalType: string;
  /**
   * A claim naming the principal's Cedar entity type, which wins over both types above when a
   * token has it. Only for claims the issuer alone controls: Verity's token service sets
   * `principal_type` to the registered principal type of a client, and keeps it on exchange.
   */
  principalTypeClaim?: string;
  /** Claim holding the principal id (default `sub`). */
  idClaim: string;
  /** Claim holding a list of group names that become parent entities, if any. */
  groupsClaim?: string;
  /** Entity type of those parents (default `Group`). */
  groupType: string;
  /** Principal attributes from claims: attribute name → claim name. */
  attributes: Record<string, string>;
  /** Context entries from claims: context key → claim name (e.g. `scopes` → `scope`). */
  context: Record<string, string>;
}

/** Where an identity source's verification keys come from: exactly one of these. */
export type KeySource =
  /** OIDC discovery: `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`. */
  | { kind: 'discovery' }
  | { kind: 'jwks'; jwksUri: string }
  | { kind: 'inline'; keys: Array<Record<string, unknown>> };

/** A trusted token issuer for one tenant. */
export interface IdentitySource {
  id: string;
  tenant: string;
  /** Exact `iss` value expected in tokens. */
  issuer: string;
  keys: KeySource;
  /** Accepted `aud` values; a token must carry at least one. */
  audiences: string[];
  /** Default RS256, ES256, EdDSA. */
  algorithms: AsymmetricAlgorithm[];
  /** Seconds of clock skew tolerated for exp/nbf/iat (default 30). */
  clockToleranceSec: number;
  claims: ClaimMapping;
}

/** What a verified token says, mapped to Cedar. */
export interface VerifiedToken {
  sourceId: string;
  issuer: string;
  subject: string;
  /** `jti`, when the token has one (revocation by id needs it). */
  tokenId: string | null;
  /** `iat` in seconds; never later than verification time plus `clockToleranceSec`. */
  issuedAt: number | null;
  /** The source's clock tolerance: how far `iat` may lie ahead of the verifier's clock. */
  clockToleranceSec: number;
  expiresAt: number;
  /** `client_id` or `azp`, when present (revocation by client). */
  clientId: string | null;
  /**
   * The job the token was exchanged for (the `job` claim), only on tokens of the tenant's own
   * token service (source `verity-sts`): another issuer's `job` claim means something else.
   */
  job?: string;
  scopes: string[];
  /** RFC 8693 `act` chain, outermost actor first. */
  actors: string[];
  /** The principal entity (attributes from claims) and its group parents, ready for the engine. */
  principal: Entity;
  parents: Entity[];
  /** Context entries from claims. */
  context: Record<string, CedarValue>;
  /** `auth_time`, `acr` and `amr` as the token states them (OIDC Core §2); a malformed one counts as absent. */
  authentication?: AuthenticationFacts;
  /** All claims, for callers that need more (never logged). */
  claims: Record<string, unknown>;
}

/** One revocation. */
export type Revocation =
  | { kind: 'token'; tenant: string; tokenId: string; /** seconds; the entry can be forgotten after the token's expiry */ expiresAt: number }
  | {
      kind: 'subject';
      tenant: string;
      /** The principal id the identity source maps (its `idClaim`), not necessarily the raw `sub`. */
      subject: string;
      /** seconds; tokens issued at or before this are revoked */
      issuedBefore: number;
    }
  | { kind: 'client'; tenant: string; clientId: string; issuedBefore: number }
  /** Every token of the job (its `job` claim) issued at or before `issuedBefore` (seconds). */
  | { kind: 'job'; tenant: string; job: string; issuedBefore: number };

/** A token-service client (a service that exchanges tokens or asks for its own). */
export interface StsClient {
  id: string;
  tenant: string;
  /** The Cedar principal the client acts as (for the exchange decision). */
  principal: EntityUid;
  /** sha256 hex of the client secret, for `client_secret_basic`/`client_secret_post`. */
  secretHash: string | null;
  /** Public JWKs for `private_key_jwt` (RFC 7523). */
  jwks: Array<Record<string, unknown>> | null;
  /** Audiences it may ask tokens for. */
  audiences: string[];
  /**
   * Audiences of the subject tokens it may exchange: those it serves as a resource server. Its
   * own id and the token service's issuer are always accepted (RFC 8693 §2.1 leaves this to us).
   */
  subjectAudiences: string[];
  /** Scopes it may ever hold. */
  scopes: string[];
}
