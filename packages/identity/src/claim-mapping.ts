/** Maps a verified token's claims to a Cedar principal, its group parents, context, scopes and actors. */
import { isPlainObject, setEntry, toCedarValue, type CedarValue, type Entity } from '@verity/core';
import { tokenError } from './jwt-errors.js';
import type { ClaimMapping } from './types.js';

/** Claims as decoded from a verified JWT. */
export type Claims = Record<string, unknown>;

/** What {@link mapClaims} derives from claims. */
export interface MappedClaims {
  principal: Entity;
  parents: Entity[];
  context: Record<string, CedarValue>;
  scopes: string[];
  actors: string[];
}

/** Deeper `act` chains than this are refused rather than walked. */
const MAX_ACTOR_DEPTH = 16;
/** More groups than this in one token is a misconfiguration or an attack on entity slicing. */
const MAX_GROUPS = 256;
const SCOPE_CLAIMS = new Set(['scope', 'scp']);

function invalidClaims(message: string) {
  return tokenError('ERR_TOKEN_CLAIMS', message);
}

function splitScopes(value: string): string[] {
  return value.split(' ').filter((scope) => scope !== '');
}

/**
 * Scopes from `scope` (RFC 8693 §4.2 / RFC 9068: space-separated) or `scp` (an array, or a
 * space-separated string as some issuers send it). Duplicates are dropped.
 */
export function readScopes(claims: Claims): string[] {
  const { scope, scp } = claims;
  let scopes: string[];
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw invalidClaims('the "scope" claim must be a string');
    scopes = splitScopes(scope);
  } else if (typeof scp === 'string') {
    scopes = splitScopes(scp);
  } else if (Array.isArray(scp)) {
    if (!scp.every((item) => typeof item === 'string')) throw invalidClaims('the "scp" claim must be an array of strings');
    scopes = scp as string[];
  } else if (scp !== undefined) {
    throw invalidClaims('the "scp" claim must be an array of strings');
  } else {
    scopes = [];
  }
  return [...new Set(scopes)];
}

/** RFC 8693 §4.1: the outermost `act` is the current actor, nested ones are prior actors. */
export function readActors(claims: Claims): string[] {
  const actors: string[] = [];
  let act = claims.act;
  while (act !== undefined) {
    if (!isPlainObject(act)) throw invalidClaims('the "act" claim must be an object');
    const { sub, act: prior } = act as Claims;
    if (typeof sub !== 'string' || sub === '') throw invalidClaims('every "act" claim must have a "sub"');
    if (actors.length === MAX_ACTOR_DEPTH) throw invalidClaims(`the "act" chain is deeper than ${MAX_ACTOR_DEPTH}`);
    actors.push(sub);
    act = prior;
  }
  return actors;
}

/** True when a claim value contains Cedar's `__entity`/`__extn` escapes anywhere. */
function hasCedarEscape(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasCedarEscape);
  if (typeof value !== 'object' || value === null) return false;
  return '__entity' in value || '__extn' in value || Object.values(value).some(hasCedarEscape);
}

/**
 * A claim as a Cedar value. Unlike request JSON, a claim may not use Cedar's escapes: a claim a
 * user can edit at the issuer must not become an entity reference in a policy.
 */
function claimValue(value: unknown, claim: string): CedarValue | undefined {
  if (hasCedarEscape(value)) throw invalidClaims(`the "${claim}" claim cannot be a Cedar value`);
  try {
    return toCedarValue(value, claim);
  } catch {
    throw invalidClaims(`the "${claim}" claim cannot be a Cedar value`);
  }
}

function readGroups(claims: Claims, claim: string | undefined): string[] {
  if (claim === undefined) return [];
  const value = claims[claim];
  if (value === undefined) return [];
  const groups = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string' && group !== '')) {
    throw invalidClaims(`the "${claim}" claim must be a list of group names`);
  }
  if (groups.length > MAX_GROUPS) throw invalidClaims(`the "${claim}" claim lists more than ${MAX_GROUPS} groups`);
  return [...new Set(groups as string[])];
}

const ENTITY_TYPE = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * The principal's Cedar type: the type claim when the source names one and the token has it,
 * else the client type for a client's own token (`sub` is its `client_id`, RFC 9068 §2.2),
 * else the user type.
 */
export function principalTypeOf(claims: Claims, mapping: ClaimMapping): string {
  if (mapping.principalTypeClaim !== undefined && claims[mapping.principalTypeClaim] !== undefined) {
    const type = claims[mapping.principalTypeClaim];
    if (typeof type !== 'string' || !ENTITY_TYPE.test(type)) throw invalidClaims(`the "${mapping.principalTypeClaim}" claim must be a Cedar entity type`);
    return type;
  }
  const clientId = claims.client_id ?? claims.azp;
  if (typeof clientId === 'string' && clientId === claims.sub) return mapping.clientPrincipalType;
  return mapping.principalType;
}

/**
 * Map verified claims to Cedar following a source's {@link ClaimMapping}. Missing attribute and
 * context claims are left out (Cedar's `has` then answers false). A context entry mapped from
 * `scope` or `scp` receives the parsed scope set rather than the raw claim.
 *
 * @throws VerityError `ERR_TOKEN_CLAIMS` when the id claim is missing or a claim has the wrong shape.
 */
export function mapClaims(claims: Claims, mapping: ClaimMapping): MappedClaims {
  const id = claims[mapping.idClaim];
  if (typeof id !== 'string' || id === '') throw invalidClaims(`the "${mapping.idClaim}" claim must be a non-empty string`);
  const scopes = readScopes(claims);
  const parents = readGroups(claims, mapping.groupsClaim).map(
    (group): Entity => ({ uid: { type: mapping.groupType, id: group }, attrs: {}, parents: [] }),
  );
  const attrs: Record<string, CedarValue> = {};
  for (const [name, claim] of Object.entries(mapping.attributes)) {
    const value = claimValue(claims[claim], claim);
    if (value !== undefined) setEntry(attrs, name, value);
  }
  const context: Record<string, CedarValue> = {};
  for (const [key, claim] of Object.entries(mapping.context)) {
    const value = SCOPE_CLAIMS.has(claim) ? (claims[claim] === undefined ? undefined : scopes) : claimValue(claims[claim], claim);
    if (value !== undefined) setEntry(context, key, value);
  }
  return {
    principal: { uid: { type: principalTypeOf(claims, mapping), id }, attrs, parents: parents.map((parent) => parent.uid) },
    parents,
    context,
    scopes,
    actors: readActors(claims),
  };
}
