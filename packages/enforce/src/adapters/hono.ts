/** The Hono 4 adapter: middleware on the fetch-style core, for @hono/node-server and fetch runtimes alike. */
import type { Context, MiddlewareHandler } from 'hono';
import type { Enforcer } from '../enforcer.js';
import type { RouteRule } from '../route-rule.js';
import { enforceRequest, refusalResponse, requestFacts, stripNodeHeaders, stripRequest, type NodeRequestHeaders, type VerityFetchOptions, type VerityRequestIdentity } from './fetch.js';

export type { VerityRequestIdentity } from './fetch.js';

/** The Hono env the middleware provides: `c.get('verity')` in the handlers after it. */
export interface VerityEnv {
  Variables: { verity: VerityRequestIdentity };
}

/** @hono/node-server keeps the node request in `c.env.incoming`; other runtimes have none. */
function nodeRequestOf(env: unknown): NodeRequestHeaders | undefined {
  const incoming = typeof env === 'object' && env !== null ? (env as { incoming?: unknown }).incoming : undefined;
  return typeof incoming === 'object' && incoming !== null && 'rawHeaders' in incoming ? (incoming as NodeRequestHeaders) : undefined;
}

/**
 * Hono middleware: enforce the rule, answer 401/403/503 with `{code, message}`, or strip
 * identity-claiming headers (from `c.req.raw` and, on Node, `c.env.incoming`), set
 * `c.get('verity')` (with the data-tier `receipt` of the allow when `rule.receipt` or the
 * enforcer's `receipts` asks for one) and go on. The resource id defaults to the matched route's template
 * (`/todos/:id`), also when the middleware is mounted with `app.use('*', …)`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { verity, type VerityEnv } from '@verity/enforce/hono';
 *
 * const app = new Hono<VerityEnv>();
 * app.use('*', verity(enforcer));
 * app.get('/todos/:id', (c) => c.json({ decision: c.get('verity').decisionId }));
 * export default app; // or serve({ fetch: app.fetch }) from @hono/node-server
 * ```
 */
export function verity(enforcer: Enforcer, rule: RouteRule<Context> = {}, options: VerityFetchOptions<Context> = {}): MiddlewareHandler<VerityEnv> {
  const { peer } = options;
  return async (c, next) => {
    // The last matched route is the handler's (`routePath` alone is `*` in `app.use('*', …)`).
    const route = c.req.matchedRoutes.at(-1)?.path ?? c.req.routePath;
    const outcome = await enforceRequest(enforcer, rule, c, requestFacts(c.req.raw, route), peer && (() => peer(c)));
    if (!outcome.allowed) return refusalResponse(outcome);
    c.req.raw = stripRequest(c.req.raw, options);
    const incoming = nodeRequestOf(c.env);
    if (incoming) stripNodeHeaders(incoming, options);
    c.set('verity', outcome.identity);
    await next();
    c.header('x-request-id', outcome.requestId);
  };
}
