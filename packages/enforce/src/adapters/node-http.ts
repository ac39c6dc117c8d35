/** The node:http adapter: wraps a plain request handler so it runs only when Verity allows. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Enforcer, VerifiedIdentity } from '../enforcer.js';
import type { RouteRule } from '../route-rule.js';
import { stripNodeHeaders } from '../propagation.js';
import { enforceRequest, type VerityFetchOptions } from './fetch.js';

/**
 * What the handler finds on the request: who the caller is, how to pass that on, and (when the
 * enforcer or the rule asks for receipts) `receipt`, the PDP's data-tier receipt for this allow,
 * for `withReceipt(pool, request.verity.receipt, fn)` from `@verity/data-tier`.
 */
export interface VerityRequestIdentity extends VerifiedIdentity {
  /** The incoming W3C `traceparent`, for `downstreamHeaders(request.verity)`. */
  traceparent?: string;
  /** Observe mode let this request through; `wouldDeny` says whether enforcing would not have. */
  observed?: boolean;
  wouldDeny?: boolean;
}

export type VerityIncomingMessage = IncomingMessage & { verity: VerityRequestIdentity };

/** The TLS peer (`peer: peerOf`), headers to strip, and how the router behind routes (`caseSensitive`, see `VerityFetchOptions`). */
export type WithVerityOptions<Req extends IncomingMessage = IncomingMessage> = VerityFetchOptions<Req>;

/**
 * Wrap a `node:http` handler: enforce the rule, answer 400/401/403/503 with `{code, message}`,
 * or strip identity-claiming headers, attach `request.verity` (with `receipt` when asked for:
 * `rule.receipt` or the enforcer's `receipts`) and call the handler. Without
 * `rule.route` the resource id is the canonical path (`options.caseSensitive: false` in front
 * of a case-insensitive router); a path routers would disagree on is 400
 * `ERR_ENFORCE_PATH_AMBIGUOUS`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { withVerity } from '@verity/enforce/node-http';
 *
 * const handler = withVerity(enforcer, { route: '/orders/:id', action: 'read' }, (request, response) => {
 *   response.end(`hello ${request.verity.decisionId}`);
 * });
 * createServer(handler).listen(8080);
 * ```
 */
export function withVerity<Req extends IncomingMessage = IncomingMessage>(
  enforcer: Enforcer,
  rule: RouteRule<Req>,
  handler: (request: Req & { verity: VerityRequestIdentity }, response: ServerResponse) => unknown,
  options: WithVerityOptions<Req> = {},
): (request: Req, response: ServerResponse) => Promise<void> {
  const { peer } = options;
  return async (request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const facts = { method: request.method ?? 'GET', path, headers: request.headers, ...(options.caseSensitive === undefined ? {} : { caseSensitive: options.caseSensitive }) };
    const outcome = await enforceRequest(enforcer, rule, request, facts, peer && (() => peer(request)));
    if (!outcome.allowed) {
      response.writeHead(outcome.status, outcome.headers);
      response.end(JSON.stringify(outcome.body));
      return;
    }
    stripNodeHeaders(request, options);
    response.setHeader('x-request-id', outcome.requestId);
    await handler(Object.assign(request, { verity: outcome.identity }), response);
  };
}
