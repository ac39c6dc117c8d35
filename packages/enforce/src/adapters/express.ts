/** The Express 5 adapter: a middleware shim over the node:http bridge. */
import type { Request, RequestHandler } from 'express';
import type { Enforcer } from '../enforcer.js';
import type { RouteRule } from '../route-rule.js';
import { enforceRequest, stripNodeHeaders } from './fetch.js';
import type { VerityRequestIdentity, WithVerityOptions } from './node-http.js';

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
 * router's mount point `req.baseUrl`). Mounted with `app.use` it has not routed yet.
 */
function templateOf(req: Request): string | undefined {
  const template: unknown = req.route?.path;
  if (typeof template !== 'string') return undefined;
  return req.baseUrl !== '' && template === '/' ? req.baseUrl : req.baseUrl + template;
}

/**
 * Express middleware: enforce the rule, answer 400/401/403/503 with `{code, message}`, or strip
 * identity-claiming headers, set `req.verity` (with the data-tier `receipt` of the allow when
 * `rule.receipt` or the enforcer's `receipts` asks for one) and call `next()`. The resource id defaults to the
 * route template when used inside a route (`app.get('/todos/:id', verity(enforcer), handler)`).
 * With `app.use(verity(enforcer))` Express has not routed yet, so it is the canonical path as
 * Express will route it: lowercased unless the app sets `case sensitive routing`, without a
 * trailing `/` (`/ADMIN`, `/Admin` and `/admin/` are all `/admin`); a path routers would
 * disagree on (`;x`, `..`, `//`, encoded `/`) is 400 `ERR_ENFORCE_PATH_AMBIGUOUS`.
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
export function verity(enforcer: Enforcer, rule: RouteRule<Request> = {}, options: WithVerityOptions<Request> = {}): RequestHandler {
  const { peer } = options;
  return async (req, res, next) => {
    const route = templateOf(req);
    const facts = {
      method: req.method,
      // The whole path, also under a router mounted at a prefix (`req.url` is relative to it).
      path: req.originalUrl.split('?')[0] ?? '/',
      headers: req.headers,
      caseSensitive: options.caseSensitive ?? Boolean(req.app.get('case sensitive routing')),
      ...(route === undefined ? {} : { route }),
    };
    const outcome = await enforceRequest(enforcer, rule, req, facts, peer && (() => peer(req)));
    if (!outcome.allowed) {
      res.writeHead(outcome.status, outcome.headers).end(JSON.stringify(outcome.body));
      return;
    }
    stripNodeHeaders(req, options);
    req.verity = outcome.identity;
    res.setHeader('x-request-id', outcome.requestId);
    next();
  };
}
