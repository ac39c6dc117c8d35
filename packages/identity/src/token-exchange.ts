/** The token service's grants: RFC 8693 token exchange and the client_credentials grant, both narrowing, never widening. */
import type { EntityUid } from '@verity/core';
import { setEntry, VerityError } from '@verity/core';
import type { StsClient, VerifiedToken } from './types.js';
import { readFormParam, type StsForm } from './client-auth.js';
import { GRANT_TYPE_TOKEN_EXCHANGE, REGISTERED_CLAIMS, type ActorClaim, type IssuedToken, type TokenIssuer } from './token-issuer.js';
import { grantScopes, parseScope } from './scope.js';
import { isJobId, JOB_ID_PARAM } from './job-id.js';

export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const SUBJECT_TOKEN_TYPES: ReadonlySet<string> = new Set([TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT]);
/** Longest delegation chain we mint; a deeper `act` nesting is refused rather than truncated. */
export const MAX_ACTOR_CHAIN = 8;

/** What the exchange decision is asked (a Cedar request built by the caller). */
export interface ExchangeAuthorizationRequest {
  principal: EntityUid;
  action: 'exchange';
  resource: { audience: string };
  context: {
    /** The principal id the subject token was mapped to (its source's `idClaim`). */
    subject: string;
    /** The scopes the new token would carry. */
    scopes: string[];
    /** The new token's actor chain, outermost (newest) first. */
    actors: string[];
  };
}

/** RFC 8693 §2.2.1 / RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string;
  issued_token_type: typeof TOKEN_TYPE_ACCESS_TOKEN;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export interface ExchangeTokenOptions {
  form: StsForm;
  /** The authenticated client making the exchange. */
  client: StsClient;
  /** The form's `subject_token`, already verified by the caller. */
  verifiedSubject: VerifiedToken;
  /**
   * The form's `actor_token`, verified and checked against revocation; required exactly when the
   * form has one. It must be the client's own client-credentials token for the token service.
   */
  verifiedActor?: VerifiedToken;
  issuer: TokenIssuer;
  /** The Cedar decision: may this client exchange this subject's token for this audience? */
  authorize: (request: ExchangeAuthorizationRequest) => Promise<boolean>;
  /** Lifetime of the new token (default the issuer's); it never outlives the subject token. */
  ttlSec?: number;
  /**
   * More claims of the subject token the new token carries when present (the tenant's device
   * claim: a delegated token stays bound to the device the user signed in on). Registered claims
   * and `may_act` are never carried.
   */
  carryClaims?: readonly string[];
}

/**
 * The subject's authentication facts (RFC 9068 §2.2.1: `auth_time`, `acr`, `amr`), which every
 * exchanged token keeps so each tier weighs the same login.
 */
const AUTHENTICATION_CLAIMS = ['auth_time', 'acr', 'amr'] as const;
/** Never carried from a subject token: what the token service sets itself, and delegation rules. */
const NOT_CARRIED: ReadonlySet<string> = new Set([...REGISTERED_CLAIMS, 'may_act', 'cnf']);

/** The subject token's claims an exchanged token keeps (RFC 9068 §2.2.1 and `carry`). */
function carriedClaims(subject: VerifiedToken, carry: readonly string[]): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  for (const name of [...AUTHENTICATION_CLAIMS, ...carry]) {
    if (NOT_CARRIED.has(name) || !Object.hasOwn(subject.claims, name)) continue;
    const value = subject.claims[name];
    if (value !== undefined && value !== null) setEntry(carried, name, value);
  }
  return carried;
}

export interface IssueForClientOptions {
  client: StsClient;
  issuer: TokenIssuer;
  /** Requested space-separated scopes (default all the client's scopes). */
  scope?: string;
  /** Requested audience (default the client's only audience, if it has exactly one). */
  audience?: string;
  ttlSec?: number;
}

/**
 * RFC 8693 token exchange: a new access token for the subject's principal, for one audience,
 * with the authenticated client recorded as the newest actor in `act`, keeping the subject's
 * authentication facts (RFC 9068 §2.2.1 `auth_time`, `acr`, `amr`) and `carryClaims`. The actor is always the
 * client: an `actor_token` is accepted only as the client's own token (proof, not a new actor).
 * A `job_id` parameter (an RFC 8693 §2.1 extension) tags the new token with a `job` claim; a
 * subject token that has a job passes it on, and cannot be exchanged into another job.
 *
 * @throws VerityError `ERR_STS_INVALID_REQUEST` (malformed form), `ERR_STS_INVALID_SUBJECT_TOKEN`
 *   / `ERR_STS_INVALID_ACTOR_TOKEN` (RFC 8693 §2.2.2 `invalid_request`: not for this client,
 *   `may_act` names another actor, chain too long, expired), `ERR_STS_INVALID_TARGET`,
 *   `ERR_STS_INVALID_SCOPE`, `ERR_STS_EXCHANGE_DENIED` (the Cedar decision; `invalid_target`),
 *   `ERR_STS_INVALID_JOB` (a malformed `job_id`, or one other than the subject token's job).
 *
 * @example
 * const response = await exchangeToken({ form, client, verifiedSubject, issuer, authorize });
 */
export async function exchangeToken(options: ExchangeTokenOptions): Promise<TokenResponse> {
  const { form, client, verifiedSubject: subject, verifiedActor, issuer } = options;
  const param = (name: string): string | undefined => readFormParam(form, name);

  const grantType = param('grant_type');
  if (grantType === undefined) throw invalidRequest('grant_type is required');
  if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) throw new VerityError('ERR_STS_UNSUPPORTED_GRANT_TYPE', 'This grant type is not supported here');
  if (param('subject_token') === undefined) throw invalidRequest('subject_token is required');
  const subjectTokenType = param('subject_token_type');
  if (subjectTokenType === undefined || !SUBJECT_TOKEN_TYPES.has(subjectTokenType)) throw invalidRequest('subject_token_type is missing or unsupported');
  // RFC 8693 §2.1: actor_token_type is required with actor_token and forbidden without it.
  const hasActorToken = param('actor_token') !== undefined;
  const actorTokenType = param('actor_token_type');
  if (hasActorToken !== (actorTokenType !== undefined)) throw invalidRequest('actor_token and actor_token_type go together');
  if (actorTokenType !== undefined && !SUBJECT_TOKEN_TYPES.has(actorTokenType)) throw invalidRequest('actor_token_type is unsupported');
  if (hasActorToken !== (verifiedActor !== undefined)) throw new TypeError('exchangeToken: verifiedActor must be given exactly when the form has an actor_token');
  const requestedType = param('requested_token_type');
  if (requestedType !== undefined && requestedType !== TOKEN_TYPE_ACCESS_TOKEN && requestedType !== TOKEN_TYPE_JWT) throw invalidRequest('requested_token_type is unsupported');

  const audience = readTarget(form);
  checkAudience(client, audience);
  const requested = parseScope(param('scope'));
  const scopes = grantScopes(requested, [subject.scopes, client.scopes]);
  const job = jobOfExchange(param(JOB_ID_PARAM), subject);

  checkSubjectToken(subject, client, issuer.issuer);
  if (verifiedActor !== undefined) checkActorToken(verifiedActor, subject, client, issuer.issuer);
  const principalId = subject.principal.uid.id;
  const actors: [string, ...string[]] = [client.principal.id, ...subject.actors];
  if (actors.length > MAX_ACTOR_CHAIN) throw invalidSubject('the subject token\'s delegation chain is too long');

  const allowed = await options.authorize({
    principal: client.principal,
    action: 'exchange',
    resource: { audience },
    context: { subject: principalId, scopes, actors },
  });
  if (allowed !== true) throw new VerityError('ERR_STS_EXCHANGE_DENIED', 'The token exchange is not permitted');

  const issued = await issuer.issue({
    // The principal, as the subject token's source mapped it: revocations and decisions name it.
    subject: principalId,
    // The exchanged token names the same principal, of the same type (a service stays a service).
    principalType: subject.principal.uid.type,
    audience,
    scopes,
    clientId: client.id,
    act: toActorClaim(actors),
    ...(job === undefined ? {} : { job }),
    // The new token never outlives the one it was exchanged for, and keeps its login and device.
    notAfter: subject.expiresAt,
    extraClaims: carriedClaims(subject, options.carryClaims ?? []),
    ...(options.ttlSec === undefined ? {} : { ttlSec: options.ttlSec }),
  }).catch((error: unknown) => {
    // The issuer refuses a token that would already be expired: the subject token expired within
    // the verifier's clock tolerance, which RFC 8693 §2.2.2 answers as an invalid subject token.
    if (error instanceof VerityError && error.code === 'ERR_STS_INVALID_GRANT') throw invalidSubject('the subject token has expired');
    throw error;
  });
  return toTokenResponse(issued);
}

/**
 * The client_credentials grant (RFC 6749 §4.4): a token whose subject is the client's own principal.
 *
 * @example
 * const response = await issueForClient({ client, issuer, scope: 'orders:read' });
 */
export async function issueForClient(options: IssueForClientOptions): Promise<TokenResponse> {
  const { client, issuer } = options;
  let audience = options.audience;
  if (audience === undefined) {
    if (client.audiences.length !== 1) throw invalidRequest('audience is required');
    audience = client.audiences[0] as string;
  }
  checkAudience(client, audience);
  const scopes = grantScopes(parseScope(options.scope), [client.scopes]);
  const issued = await issuer.issue({
    // RFC 9068 §2.2: without a resource owner, `sub` identifies the client; ours is its Cedar
    // principal, whose type travels in `principal_type` (it is not a user).
    subject: client.principal.id,
    principalType: client.principal.type,
    audience,
    scopes,
    clientId: client.id,
    ...(options.ttlSec === undefined ? {} : { ttlSec: options.ttlSec }),
  });
  return toTokenResponse(issued);
}

/**
 * The new token's job: the subject token's, which it can never leave (no laundering a job's
 * token into one a job revocation would not reach), else the requested `job_id`, else none.
 */
function jobOfExchange(requested: string | undefined, subject: VerifiedToken): string | undefined {
  if (requested !== undefined && !isJobId(requested)) throw new VerityError('ERR_STS_INVALID_JOB', 'job_id must be 1-128 letters, digits, ".", "_", ":" or "-"');
  if (subject.job !== undefined && requested !== undefined && requested !== subject.job) throw new VerityError('ERR_STS_INVALID_JOB', "a job's token cannot be exchanged for another job");
  return subject.job ?? requested;
}

/** Exactly one target: one `audience` or one `resource` (an absolute URI without fragment, RFC 8707 §2). */
function readTarget(form: StsForm): string {
  let audience: string | undefined;
  let resource: string | undefined;
  try {
    audience = readFormParam(form, 'audience');
    resource = readFormParam(form, 'resource');
  } catch {
    throw invalidRequest('Exactly one audience or resource is required');
  }
  if ((audience === undefined) === (resource === undefined)) throw invalidRequest('Exactly one audience or resource is required');
  if (resource !== undefined && (!URL.canParse(resource) || resource.includes('#'))) throw new VerityError('ERR_STS_INVALID_TARGET', 'The resource must be an absolute URI without a fragment');
  return (audience ?? resource) as string;
}

function checkAudience(client: StsClient, audience: string): void {
  if (!client.audiences.includes(audience)) throw new VerityError('ERR_STS_INVALID_TARGET', 'The client may not request tokens for this audience');
}

function audiencesOf(token: VerifiedToken): string[] {
  const aud = token.claims['aud'];
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((value): value is string => typeof value === 'string') : [];
}

/**
 * The subject token must have been issued for the exchanging client (its id or a subject
 * audience it registered) or for the token service itself, so a client cannot trade a token
 * meant for another service; and when it names who may act for it (RFC 8693 §4.4 `may_act`),
 * that must be this client's principal.
 */
function checkSubjectToken(subject: VerifiedToken, client: StsClient, serviceIssuer: string): void {
  const accepted = new Set([client.id, serviceIssuer, ...client.subjectAudiences]);
  if (!audiencesOf(subject).some((aud) => accepted.has(aud))) throw invalidSubject('the subject token was not issued for this client');
  const mayAct = subject.claims['may_act'];
  if (mayAct === undefined) return;
  const allowedSub = typeof mayAct === 'object' && mayAct !== null ? (mayAct as Record<string, unknown>)['sub'] : undefined;
  if (allowedSub !== client.principal.id) throw invalidSubject('the subject token does not allow this client to act for it');
}

/**
 * The actor is the authenticated client, never a party that did not authenticate here: an
 * actor token must be the client's own client-credentials token from this token service, for
 * the token service (its issuer in `aud`), distinct from the subject token.
 */
function checkActorToken(actor: VerifiedToken, subject: VerifiedToken, client: StsClient, serviceIssuer: string): void {
  const own =
    actor.issuer === serviceIssuer &&
    actor.clientId === client.id &&
    actor.subject === client.principal.id &&
    actor.principal.uid.id === client.principal.id &&
    actor.actors.length === 0 &&
    audiencesOf(actor).includes(serviceIssuer);
  const distinct = actor.tokenId === null || actor.tokenId !== subject.tokenId || actor.issuer !== subject.issuer;
  if (!own || !distinct) throw new VerityError('ERR_STS_INVALID_ACTOR_TOKEN', "The actor token must be the client's own token for the token service");
}

/** Outermost actor first → `{ sub: newest, act: { sub: previous, ... } }` (RFC 8693 §4.1). */
function toActorClaim([newest, ...previous]: [string, ...string[]]): ActorClaim {
  const [next, ...rest] = previous;
  return next === undefined ? { sub: newest } : { sub: newest, act: toActorClaim([next, ...rest]) };
}

function toTokenResponse(issued: IssuedToken): TokenResponse {
  return {
    access_token: issued.token,
    issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    token_type: 'Bearer',
    expires_in: issued.claims.exp - issued.claims.iat,
    scope: issued.claims.scope,
  };
}

function invalidSubject(message: string): VerityError {
  return new VerityError('ERR_STS_INVALID_SUBJECT_TOKEN', `The subject token is not acceptable: ${message}`);
}

function invalidRequest(message: string): VerityError {
  return new VerityError('ERR_STS_INVALID_REQUEST', message);
}
