/**
 * Per-route rules, framework-neutral: how a request becomes an enforce input. Adapters supply
 * the request facts (method, path, route template, headers); rules may read the request itself.
 */
import { canonicalPath } from '@verity/core';
import { parseBearerToken } from '@verity/identity';
import type { EnforceInput } from './enforcer.js';
import { EnforceError } from './errors.js';
import type { EntityRef } from './types.js';

/** What every adapter can tell about a request, whatever the framework. */
export interface RequestFacts {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The route template (`/orders/:id`), when the framework knows it. */
  route?: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Whether the router behind matches paths case-sensitively (default true); see {@link pathResource}. */
  caseSensitive?: boolean;
}

/**
 * How one route is enforced. Every part is optional: the action defaults to the HTTP method,
 * the resource to `{type: 'route', id: <route template or canonical path>}`, the token to the
 * `Authorization: Bearer` credential, the Txn-Token to the `Txn-Token` header.
 */
export interface RouteRule<Req = unknown> {
  action?: string | ((request: Req) => string);
  resource?: (request: Req) => EntityRef;
  token?: (request: Req) => string | undefined;
  /** The request's Txn-Token (default: the `Txn-Token` header, draft-ietf-oauth-transaction-tokens §9.1). */
  txnToken?: (request: Req) => string | undefined;
  /** The principal, for routes whose caller is established without a token (e.g. mTLS). */
  subject?: (request: Req) => EntityRef | undefined;
  context?: (request: Req) => Record<string, unknown>;
  /** The route template, for adapters whose framework does not know it (node:http). */
  route?: string;
  /** Observe this route only: decide and audit (marked observed), never block. */
  observe?: boolean;
  /** Ask for a data-tier receipt on this route (the handler finds it in `verity.receipt`), or not; the enforcer's `receipts` otherwise. */
  receipt?: boolean;
}

function headerOf(headers: RequestFacts['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The `Authorization: Bearer` credential of a request (RFC 6750 §2.1), if it has one.
 *
 * @example
 * ```ts
 * bearerToken({ authorization: 'Bearer eyJ…' }); // 'eyJ…'
 * ```
 */
export function bearerToken(headers: RequestFacts['headers']): string | undefined {
  return parseBearerToken(headers['authorization']);
}

/**
 * The resource id for a request without a route template: the canonical path (`canonicalPath`
 * in `@verity/core`, the form the gateway matcher uses too), lowercased when the router is
 * case-insensitive, so `/ADMIN`, `/Admin` and `/admin/` are all decided as `/admin` where the
 * router routes them there. A path routers would resolve differently throws
 * `ERR_ENFORCE_PATH_AMBIGUOUS` (adapters answer 400 and call no handler).
 *
 * @example
 * ```ts
 * pathResource({ method: 'GET', path: '/Admin/', headers: {}, caseSensitive: false }); // '/admin'
 * ```
 */
export function pathResource(facts: RequestFacts): string {
  const canonical = canonicalPath(facts.path, { caseSensitive: facts.caseSensitive ?? true });
  if (!canonical.ok) throw new EnforceError('ERR_ENFORCE_PATH_AMBIGUOUS', `the request path is ${canonical.reason}`);
  return canonical.path;
}

/**
 * Apply a rule to a request. Throws an `EnforceError` (`ERR_ENFORCE_PATH_AMBIGUOUS`) for a path
 * that cannot be decided on, and whatever a rule function throws (a bug in the rule): adapters
 * answer 400 and 500 and do not call the handler.
 *
 * @example
 * ```ts
 * // in an adapter
 * const input = resolveRouteRule(rule, req, { method: req.method, path: req.path, route: req.routeTemplate, headers: req.headers });
 * const result = await enforcer.enforce(input);
 * ```
 */
export function resolveRouteRule<Req>(rule: RouteRule<Req>, request: Req, facts: RequestFacts): EnforceInput {
  const action = typeof rule.action === 'function' ? rule.action(request) : (rule.action ?? facts.method.toUpperCase());
  const resource = rule.resource ? rule.resource(request) : { type: 'route', id: rule.route ?? facts.route ?? pathResource(facts) };
  const token = rule.token ? rule.token(request) : bearerToken(facts.headers);
  const subject = token === undefined ? rule.subject?.(request) : undefined;
  const context = rule.context?.(request);
  const txnToken = rule.txnToken ? rule.txnToken(request) : headerOf(facts.headers, 'txn-token');
  const requestId = headerOf(facts.headers, 'x-request-id');
  return {
    ...(rule.observe === undefined ? {} : { observe: rule.observe }),
    ...(rule.receipt === undefined ? {} : { receipt: rule.receipt }),
    action,
    resource,
    ...(token === undefined ? {} : { token }),
    ...(subject === undefined ? {} : { subject }),
    ...(context === undefined ? {} : { context }),
    ...(txnToken === undefined || txnToken === '' ? {} : { txnToken }),
    ...(requestId === undefined ? {} : { requestId }),
  };
}
