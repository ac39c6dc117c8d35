/** The fetch-style core: enforce on a WHATWG `Request`, refuse with a `Response`; the other adapters build on it. */
import { requestIdOf, type Enforcer, type EnforceResult } from '../enforcer.js';
import { isEnforceError } from '../errors.js';
import { stripSpoofableHeaders } from '../propagation.js';
export { stripNodeHeaders, type NodeRequestHeaders } from '../propagation.js';
import { refusalBody, refusalHeaders } from '../refusal.js';
import { resolveRouteRule, type RequestFacts, type RouteRule } from '../route-rule.js';
import type { PeerIdentity } from '../types.js';
import type { VerityRequestIdentity } from './node-http.js';

export type { VerityRequestIdentity } from './node-http.js';

export interface VerityFetchOptions<Req = Request> {
  /**
   * The verified TLS peer of a request (node adapters: `peerOf` from `@verity/workload`'s mTLS
   * helpers). Its SPIFFE id is `context.caller` of the decision and `verity.caller`; without
   * it every caller is unauthenticated (`caller: null`).
   */
  peer?: (request: Req) => PeerIdentity;
  /** Further headers to strip before the handler runs (the defaults always are). */
  stripHeaders?: readonly string[];
  /**
   * Whether the router behind the handler matches paths case-sensitively (default true). Only
   * used when there is no route template and the path is the resource: set it to false in front
   * of a case-insensitive router, so `/ADMIN` is decided as the `/admin` it will be routed to.
   */
  caseSensitive?: boolean;
}

/** One request enforced, for any framework to answer: let it through with its identity, or refuse it. */
export type VerityOutcome =
  | { allowed: true; requestId: string; identity: VerityRequestIdentity }
  | { allowed: false; requestId: string; status: 400 | 401 | 403 | 500 | 503; headers: Record<string, string>; body: { code: string; message: string } };


function headerOf(headers: RequestFacts['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function refusal(status: 400 | 401 | 403 | 500 | 503, requestId: string, body: { code: string; message: string }, extra: Record<string, string> = {}): VerityOutcome {
  return { allowed: false, requestId, status, body, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId, ...extra } };
}

/**
 * Enforce `rule` on one request, with the TLS peer `peer` reports (the adapter's `peer` option):
 * the framework-neutral step every adapter takes. Never throws:
 * a path that cannot be decided on is a 400 (`ERR_ENFORCE_PATH_AMBIGUOUS`), a rule function
 * that throws is a 500 (`ERR_INTERNAL`), and in either case the handler must not run.
 *
 * @example
 * ```ts
 * const outcome = await enforceRequest(enforcer, rule, request, { method, path, route: '/todos/:id', headers });
 * if (!outcome.allowed) return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
 * request.verity = outcome.identity;
 * ```
 */
export async function enforceRequest<Req>(enforcer: Enforcer, rule: RouteRule<Req>, request: Req, facts: RequestFacts, peer?: () => PeerIdentity): Promise<VerityOutcome> {
  let result: EnforceResult;
  try {
    const input = resolveRouteRule(rule, request, facts);
    // A peer function that throws is a bug, like a rule that throws: the handler does not run.
    if (peer !== undefined) input.caller = peer();
    result = await enforcer.enforce(input);
  } catch (error) {
    const requestId = requestIdOf(headerOf(facts.headers, 'x-request-id'));
    if (isEnforceError(error) && error.code === 'ERR_ENFORCE_PATH_AMBIGUOUS') return refusal(400, requestId, { code: error.code, message: error.message });
    // A rule function threw: a bug in the rule. Fail closed without running the handler.
    return refusal(500, requestId, { code: 'ERR_INTERNAL', message: 'the authorization rule failed' });
  }
  if (!result.allowed || !result.identity) {
    return refusal(result.status as 401 | 403 | 503, result.requestId, refusalBody(result), refusalHeaders(result));
  }
  const traceparent = headerOf(facts.headers, 'traceparent');
  const identity: VerityRequestIdentity = {
    ...result.identity,
    ...(traceparent === undefined ? {} : { traceparent }),
    ...(result.observed ? { observed: true, wouldDeny: result.wouldDeny ?? false } : {}),
  };
  return { allowed: true, requestId: result.requestId, identity };
}

/** The refusal of an outcome as a `Response`. */
export function refusalResponse(outcome: Extract<VerityOutcome, { allowed: false }>): Response {
  return new Response(JSON.stringify(outcome.body), { status: outcome.status, headers: outcome.headers });
}

/** What the core needs to know of a `Request` (the route template comes from the rule, if anywhere). */
export function requestFacts(request: Request, route?: string, options: Pick<VerityFetchOptions, 'caseSensitive'> = {}): RequestFacts {
  return {
    method: request.method,
    path: new URL(request.url).pathname,
    headers: Object.fromEntries(request.headers),
    ...(route === undefined ? {} : { route }),
    ...(options.caseSensitive === undefined ? {} : { caseSensitive: options.caseSensitive }),
  };
}

/** A new `Request` (headers are often immutable) with the same body and no identity-claiming header. */
export function stripRequest(request: Request, options: Pick<VerityFetchOptions, 'stripHeaders'> = {}): Request {
  return new Request(request, { headers: stripSpoofableHeaders(request.headers, options.stripHeaders ? { also: options.stripHeaders } : {}) });
}


/** `response` with `x-request-id`, copied when its headers are immutable (a response from `fetch`). */
export function withRequestId(response: Response, requestId: string): Response {
  try {
    response.headers.set('x-request-id', requestId);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set('x-request-id', requestId);
    return copy;
  }
}

/**
 * Wrap a fetch handler (`(Request) => Response`, as in Deno, Bun, Cloudflare Workers or
 * @hono/node-server): enforce the rule, answer 401/403/503 with `{code, message}`, or call the
 * handler with a copy of the request without identity-claiming headers and the verified
 * identity (with the data-tier `receipt` of the allow when `rule.receipt` or the enforcer's
 * `receipts` asks for one). Arguments after the request (`env`, `ctx`) are passed on. The route template comes
 * from `rule.route`; without it the resource id is the canonical path (see `pathResource`;
 * `options.caseSensitive: false` in front of a case-insensitive router), and a path routers
 * would disagree on is refused with 400 `ERR_ENFORCE_PATH_AMBIGUOUS`.
 *
 * @example
 * ```ts
 * import { verityFetch } from '@verity/enforce/fetch';
 *
 * export default {
 *   fetch: verityFetch(enforcer, { route: '/orders/:id', action: 'read' }, async (request, verity) => {
 *     const stock = await fetch('http://inventory.internal/stock', { headers: downstreamHeaders(verity) });
 *     return Response.json({ stock: stock.status, decision: verity.decisionId });
 *   }),
 * };
 * ```
 */
export function verityFetch<Rest extends unknown[] = []>(
  enforcer: Enforcer,
  rule: RouteRule<Request>,
  handler: (request: Request, verity: VerityRequestIdentity, ...rest: Rest) => Response | Promise<Response>,
  options: VerityFetchOptions = {},
): (request: Request, ...rest: Rest) => Promise<Response> {
  const { peer } = options;
  return async (request, ...rest) => {
    const outcome = await enforceRequest(enforcer, rule, request, requestFacts(request, undefined, options), peer && (() => peer(request)));
    if (!outcome.allowed) return refusalResponse(outcome);
    return withRequestId(await handler(stripRequest(request, options), outcome.identity, ...rest), outcome.requestId);
  };
}
