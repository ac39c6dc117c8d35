/** The Express 5 adapter: a middleware shim over the node:http bridge. */
import type { Request, RequestHandler } from 'express';
import type { Enforcer } from '../enforcer.js';
import type { RouteRule } from '../route-rule.js';
import { withVerity, type VerityRequestIdentity, type WithVerityOptions } from './node-http.js';

export type { VerityRequestIdentity, WithVerityOptions } from './node-http.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- @types/express types `req` through this global namespace; merging into it is the documented way.
  namespace Express {
    interface Request {
      /** Set by `verity()` for the handlers after it. */
      verity?: VerityRequestIdentity;
    }
  }
}

/**
 * The route template: Express knows it only inside a route (`req.route`, relative to the
 * router's mount point `req.baseUrl`). Mounted with `app.use` it has not routed yet: the path.
 */
function routeOf(req: Request): string {
  const template: unknown = req.route?.path;
  if (typeof template !== 'string') return req.originalUrl.split('?')[0] ?? '/';
  return req.baseUrl !== '' && template === '/' ? req.baseUrl : req.baseUrl + template;
}

/**
 * Express middleware: enforce the rule, answer 401/403/503 with `{code, message}`, or strip
 * identity-claiming headers, set `req.verity` and call `next()`. The resource id defaults to the
 * route template when used inside a route (`app.get('/todos/:id', verity(enforcer), handler)`);
 * with `app.use(verity(enforcer))` Express has not routed yet, so it is the path unless
 * `rule.route` or `rule.resource` says otherwise.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { verity } from '@verity/enforce/express';
 *
 * const app = express();
 * app.get('/todos/:id', verity(enforcer), (req, res) => {
 *   res.json({ id: req.params.id, decision: req.verity?.decisionId });
 * });
 * app.listen(8080);
 * ```
 */
export function verity(enforcer: Enforcer, rule: RouteRule<Request> = {}, options: WithVerityOptions = {}): RequestHandler {
  return (req, res, next) => withVerity<Request>(enforcer, { ...rule, route: rule.route ?? routeOf(req) }, () => next(), options)(req, res);
}
