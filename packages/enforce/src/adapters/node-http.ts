/** The node:http adapter: wraps a plain request handler so it runs only when Verity allows. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestIdOf, type Enforcer, type EnforceResult, type VerifiedIdentity } from '../enforcer.js';
import { resolveRouteRule, type RouteRule } from '../route-rule.js';
import { stripNodeHeaders } from '../propagation.js';
import { bearerChallenge, refusalBody } from '../refusal.js';

/** What the handler finds on the request: who the caller is, and how to pass that on. */
export interface VerityRequestIdentity extends VerifiedIdentity {
  /** The incoming W3C `traceparent`, for `downstreamHeaders(request.verity)`. */
  traceparent?: string;
  /** Observe mode let this request through; `wouldDeny` says whether enforcing would not have. */
  observed?: boolean;
  wouldDeny?: boolean;
}

export type VerityIncomingMessage = IncomingMessage & { verity: VerityRequestIdentity };

export interface WithVerityOptions {
  /** Further headers to strip before the handler runs (the defaults always are). */
  stripHeaders?: readonly string[];
}

function send(response: ServerResponse, status: number, requestId: string, body: { code: string; message: string }, extra: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId, ...extra });
  response.end(JSON.stringify(body));
}

function refuse(response: ServerResponse, result: EnforceResult): void {
  send(response, result.status, result.requestId, refusalBody(result), bearerChallenge(result));
}

/**
 * Wrap a `node:http` handler: enforce the rule, answer 401/403/503 with `{code, message}`, or
 * strip identity-claiming headers, attach `request.verity` and call the handler.
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
  options: WithVerityOptions = {},
): (request: Req, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const traceparent = typeof request.headers.traceparent === 'string' ? request.headers.traceparent : undefined;
    let result: EnforceResult;
    try {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      const input = resolveRouteRule(rule, request, { method: request.method ?? 'GET', path, headers: request.headers });
      result = await enforcer.enforce(input);
    } catch {
      // A rule function threw: a bug in the rule. Fail closed without running the handler.
      send(response, 500, requestIdOf(typeof request.headers['x-request-id'] === 'string' ? request.headers['x-request-id'] : undefined), { code: 'ERR_INTERNAL', message: 'the authorization rule failed' });
      return;
    }
    if (!result.allowed || !result.identity) {
      refuse(response, result);
      return;
    }
    stripNodeHeaders(request, options);
    const verity: VerityRequestIdentity = {
      ...result.identity,
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(result.observed ? { observed: true, wouldDeny: result.wouldDeny ?? false } : {}),
    };
    response.setHeader('x-request-id', result.requestId);
    await handler(Object.assign(request, { verity }), response);
  };
}
