/**
 * OpenID AuthZEN Authorization API 1.0: request shapes, their validation, and the mapping
 * onto a Cedar request (documented in docs/authzen-mapping.md).
 */
import { VerityError } from './errors.js';
import type { CedarRequest, CedarValue, EntityUid, TenantSettings } from './types.js';
import { toCedarRecord } from './cedar-value.js';

export interface AuthzenEntity {
  type: string;
  id: string;
  properties?: Record<string, unknown>;
}

export interface AuthzenAction {
  name: string;
  properties?: Record<string, unknown>;
}

export interface AuthzenEvaluationRequest {
  subject: AuthzenEntity;
  action: AuthzenAction;
  resource: AuthzenEntity;
  context?: Record<string, unknown>;
}

export type EvaluationsSemantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

export interface AuthzenEvaluationsRequest {
  /** One entry per item: the merged request, or the validation error of that item alone. */
  evaluations: Array<AuthzenEvaluationRequest | VerityError>;
  semantic: EvaluationsSemantic;
  /** False when the request had no (or an empty) `evaluations` array: answer as a single evaluation. */
  batch: boolean;
}

export type SearchKind = 'subject' | 'resource' | 'action';

export interface AuthzenSearchRequest {
  kind: SearchKind;
  /** For subject search only `type` is set; for resource search the resource's `type`. */
  subject: { type: string; id?: string; properties?: Record<string, unknown> };
  action?: AuthzenAction;
  resource: { type: string; id?: string; properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
  /** `next_token` from a previous page (AuthZEN §8), and Verity's optional page size. */
  page: { token?: string; limit: number };
}

const MAX_BATCH = 1000;
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

function invalid(message: string): VerityError {
  return new VerityError('ERR_DECISION_INVALID_REQUEST', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalObject(value: unknown, path: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw invalid(`${path} must be an object`);
  return value;
}

function nonEmptyString(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${path} must be a non-empty string`);
  if (value.length > 1024) throw invalid(`${path} is longer than 1024 characters`);
  return value;
}

/** An entity id: any string up to 1024 characters (Cedar allows the empty string). */
function entityId(value: unknown, path: string): string {
  if (typeof value !== 'string') throw invalid(`${path} must be a string`);
  if (value.length > 1024) throw invalid(`${path} is longer than 1024 characters`);
  return value;
}

function parseEntity(value: unknown, path: string, needId: boolean): { type: string; id?: string; properties?: Record<string, unknown> } {
  if (!isObject(value)) throw invalid(`${path} must be an object`);
  const type = nonEmptyString(value.type, `${path}.type`);
  const entity: { type: string; id?: string; properties?: Record<string, unknown> } = { type };
  if (needId || value.id !== undefined) entity.id = entityId(value.id, `${path}.id`);
  const properties = optionalObject(value.properties, `${path}.properties`);
  if (properties !== undefined) entity.properties = properties;
  return entity;
}

function parseAction(value: unknown, path: string): AuthzenAction {
  if (!isObject(value)) throw invalid(`${path} must be an object`);
  const action: AuthzenAction = { name: nonEmptyString(value.name, `${path}.name`) };
  const properties = optionalObject(value.properties, `${path}.properties`);
  if (properties !== undefined) action.properties = properties;
  return action;
}

/** Validate one evaluation request. Unknown fields are ignored, as the spec asks. */
export function parseEvaluationRequest(body: unknown, path = 'request'): AuthzenEvaluationRequest {
  if (!isObject(body)) throw invalid(`${path} must be a JSON object`);
  const request: AuthzenEvaluationRequest = {
    subject: parseEntity(body.subject, `${path}.subject`, true) as AuthzenEntity,
    action: parseAction(body.action, `${path}.action`),
    resource: parseEntity(body.resource, `${path}.resource`, true) as AuthzenEntity,
  };
  const context = optionalObject(body.context, `${path}.context`);
  if (context !== undefined) request.context = context;
  return request;
}

/**
 * Validate a batch. Top-level subject, action, resource and context are defaults that each
 * item's own fields replace (whole values, not merged). Missing or empty `evaluations`
 * behaves as a single evaluation of the top level.
 */
export function parseEvaluationsRequest(body: unknown): AuthzenEvaluationsRequest {
  if (!isObject(body)) throw invalid('request must be a JSON object');
  const options = optionalObject(body.options, 'options');
  const semantic = options?.evaluations_semantic ?? 'execute_all';
  if (semantic !== 'execute_all' && semantic !== 'deny_on_first_deny' && semantic !== 'permit_on_first_permit') {
    throw invalid('options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit');
  }
  if (body.evaluations !== undefined && !Array.isArray(body.evaluations)) throw invalid('evaluations must be an array');
  const items = (body.evaluations ?? []) as unknown[];
  if (items.length > MAX_BATCH) throw invalid(`evaluations holds more than ${MAX_BATCH} items`);
  if (items.length === 0) return { evaluations: [parseEvaluationRequest(body)], semantic, batch: false };
  // An item that is wrong on its own is answered in place (decision false with
  // context.error, AuthZEN §7.2), not by failing the whole batch.
  const evaluations = items.map((item, i) => {
    try {
      if (!isObject(item)) throw invalid(`evaluations[${i}] must be an object`);
      const merged: Record<string, unknown> = {};
      for (const key of ['subject', 'action', 'resource', 'context'] as const) {
        const value = item[key] !== undefined ? item[key] : body[key];
        if (value !== undefined) merged[key] = value;
      }
      return parseEvaluationRequest(merged, `evaluations[${i}]`);
    } catch (error) {
      if (error instanceof VerityError) return error;
      throw error;
    }
  });
  return { evaluations, semantic, batch: true };
}

/**
 * The consistency token `options.verity_min_version` of an evaluation(s) request: a policy
 * version (a positive integer) the decision must be at least as new as, or undefined when absent.
 * Throws ERR_DECISION_INVALID_REQUEST for anything else.
 */
export function parseMinVersion(body: unknown): number | undefined {
  if (!isObject(body)) return undefined;
  const options = optionalObject(body.options, 'options');
  if (options === undefined || !('verity_min_version' in options)) return undefined;
  const value = options.verity_min_version;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalid('options.verity_min_version must be a positive integer (a policy version)');
  return value;
}

/**
 * `options.verity_receipt` of an evaluation(s) request: whether a data-tier receipt is asked for,
 * and its lifetime in seconds. `true` asks for `maxTtlSec` (the server's configured lifetime);
 * `{ttl: N}` for N seconds, an integer from 1 to `maxTtlSec`. Absent: undefined.
 * Throws ERR_DECISION_INVALID_REQUEST for anything else.
 */
export function parseReceiptOption(body: unknown, maxTtlSec: number): number | undefined {
  if (!isObject(body)) return undefined;
  const options = optionalObject(body.options, 'options');
  const value = options?.verity_receipt;
  if (value === undefined) return undefined;
  if (value === true) return maxTtlSec;
  const message = `options.verity_receipt must be true or {"ttl": N} with N an integer from 1 to ${maxTtlSec} (seconds)`;
  if (!isObject(value) || Object.keys(value).some((key) => key !== 'ttl')) throw invalid(message);
  const ttl = value.ttl;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > maxTtlSec) throw invalid(message);
  return ttl;
}

/** Validate a search request of one kind (AuthZEN §8). */
export function parseSearchRequest(kind: SearchKind, body: unknown): AuthzenSearchRequest {
  if (!isObject(body)) throw invalid('request must be a JSON object');
  const subject = parseEntity(body.subject, 'subject', kind !== 'subject');
  const resource = parseEntity(body.resource, 'resource', kind !== 'resource');
  const page = optionalObject(body.page, 'page');
  const limit = page?.limit ?? DEFAULT_PAGE;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid(`page.limit must be an integer from 1 to ${MAX_PAGE}`);
  const token = page?.next_token ?? page?.token;
  if (token !== undefined && typeof token !== 'string') throw invalid('page.next_token must be a string');
  const request: AuthzenSearchRequest = { kind, subject, resource, page: token === undefined || token === '' ? { limit } : { token, limit } };
  if (kind !== 'action') request.action = parseAction(body.action, 'action');
  const context = optionalObject(body.context, 'context');
  if (context !== undefined) request.context = context;
  return request;
}

/** The AuthZEN type of an entity mapped to its Cedar entity type (identity by default). */
export function mapEntityType(type: string, settings: TenantSettings): string {
  // Own keys only: a type named `toString` or `__proto__` is a type, never Object.prototype's.
  const mapping = settings.typeMapping;
  return mapping !== undefined && Object.hasOwn(mapping, type) ? (mapping[type] as string) : type;
}

/** The reverse of {@link mapEntityType}, for search results. */
export function unmapEntityType(cedarType: string, settings: TenantSettings): string {
  for (const [authzenType, mapped] of Object.entries(settings.typeMapping ?? {})) if (mapped === cedarType) return authzenType;
  return cedarType;
}

/** A Cedar request plus the request-time attributes that overlay stored entities. */
export interface MappedRequest {
  cedar: CedarRequest;
  /** Attributes from `properties`, by the uid they belong to. */
  overlays: Array<{ uid: EntityUid; attrs: Record<string, CedarValue> }>;
}

/**
 * AuthZEN → Cedar. subject/resource → entity uids (type mapping), their `properties` →
 * attributes over the stored ones, `action.name` → `Action::"name"` (or the tenant's action
 * type), `action.properties` → `context.action`, `context` → the Cedar context.
 */
export function mapEvaluationRequest(request: AuthzenEvaluationRequest, settings: TenantSettings): MappedRequest {
  const principal = { type: mapEntityType(request.subject.type, settings), id: request.subject.id };
  const resource = { type: mapEntityType(request.resource.type, settings), id: request.resource.id };
  const context = toCedarRecord(request.context ?? {}, 'context');
  if (request.action.properties !== undefined) context.action = toCedarRecord(request.action.properties, 'action.properties');
  const overlays: MappedRequest['overlays'] = [];
  if (request.subject.properties) overlays.push({ uid: principal, attrs: toCedarRecord(request.subject.properties, 'subject.properties') });
  if (request.resource.properties) overlays.push({ uid: resource, attrs: toCedarRecord(request.resource.properties, 'resource.properties') });
  return {
    cedar: { principal, action: { type: settings.actionType ?? 'Action', id: request.action.name }, resource, context },
    overlays,
  };
}
