/** The Fastify 5 adapter: a preHandler hook (and a plugin installing it) on the framework-neutral core. */
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { Enforcer } from '../enforcer.js';
import type { RouteRule } from '../route-rule.js';
import { enforceRequest, stripNodeHeaders, type VerityFetchOptions, type VerityRequestIdentity } from './fetch.js';

export type { VerityRequestIdentity } from './fetch.js';

/** The adapter's options; `peer` is given the node request (`request.raw`), as `peerOf` expects. */
export type VerityFastifyOptions = VerityFetchOptions<IncomingMessage>;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Verity preHandler for the route's handler. */
    verity?: VerityRequestIdentity;
  }
}

/**
 * A Fastify preHandler: enforce the rule, answer 401/403/503 with `{code, message}`, or strip
 * identity-claiming headers, set `request.verity` (with the data-tier `receipt` of the allow
 * when `rule.receipt` or the enforcer's `receipts` asks for one) and go on. The resource id defaults to the
 * route template (`request.routeOptions.url`, prefix included). Use it per route, or for every
 * route through {@link verityPlugin} (which also declares `request.verity` with `decorateRequest`).
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { verityPreHandler } from '@verity/enforce/fastify';
 *
 * const app = Fastify();
 * app.decorateRequest('verity', undefined);
 * app.get('/todos/:id', { preHandler: verityPreHandler(enforcer, { action: 'read' }) }, async (request) => ({ decision: request.verity?.decisionId }));
 * // With a receipt for the data tier (withReceipt from @verity/data-tier):
 * app.get('/orders', { preHandler: verityPreHandler(enforcer, { action: 'read', receipt: true }) }, async (request) =>
 *   withReceipt(pool, request.verity!.receipt!, (client) => client.query('SELECT * FROM orders')).then((result) => result.rows));
 * await app.listen({ port: 8080 });
 * ```
 */
export function verityPreHandler(enforcer: Enforcer, rule: RouteRule<FastifyRequest> = {}, options: VerityFastifyOptions = {}) {
  const { peer } = options;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const path = request.url.split('?')[0] ?? '/';
    const route = request.routeOptions.url;
    const facts = { method: request.method, path, headers: request.headers, ...(route === undefined ? {} : { route }) };
    // The peer is read from the node request, so the mTLS helper's `peerOf` fits every node adapter.
    const outcome = await enforceRequest(enforcer, rule, request, facts, peer && (() => peer(request.raw)));
    if (!outcome.allowed) return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
    // `request.headers` reads the node request's, so stripping those covers both.
    stripNodeHeaders(request.raw, options);
    request.verity = outcome.identity;
    reply.header('x-request-id', outcome.requestId);
    return undefined;
  };
}

/**
 * A plugin enforcing one rule on every route of the instance it is registered on (not
 * encapsulated, like `fastify-plugin`), with `request.verity` declared by `decorateRequest`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { verityPlugin } from '@verity/enforce/fastify';
 *
 * const app = Fastify();
 * await app.register(verityPlugin(enforcer));
 * app.get('/todos/:id', async (request) => ({ decision: request.verity?.decisionId }));
 * ```
 */
export function verityPlugin(enforcer: Enforcer, rule: RouteRule<FastifyRequest> = {}, options: VerityFastifyOptions = {}): FastifyPluginCallback {
  const plugin: FastifyPluginCallback = (fastify, _options, done) => {
    if (!fastify.hasRequestDecorator('verity')) fastify.decorateRequest('verity', undefined);
    fastify.addHook('preHandler', verityPreHandler(enforcer, rule, options));
    done();
  };
  // Fastify's own marker (what fastify-plugin sets): the hook applies to the registering instance.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
