/** The Fastify application: body parsing, request ids, error mapping, and every route. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { isRequestId, stringifyJson, VerityError } from '@verity/core';
import { registerJsonBody } from './json-body.js';
import { toVerityError } from './errors.js';
import { authzenMetadata, registerAuthzenRoutes } from './authzen-routes.js';
import { registerCedarRoutes } from './cedar-routes.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerDataRoutes } from './data-routes.js';
import { registerIdentityRoutes } from './identity-routes.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { registerChangeStreamRoutes } from './change-stream-routes.js';
import { registerBundleRoutes } from './bundle-routes.js';
import { registerPepAuditRoutes } from './pep-audit-routes.js';
import { registerAuditCheckpointRoutes } from './audit-checkpoint-routes.js';
import { registerGatewayRoutes } from './gateway-routes.js';
import { tenantParam, type Components } from './context.js';

/** Base URL as the caller reached us (or the configured public URL). */
function baseUrl(c: Components, request: FastifyRequest): string {
  if (c.config.publicUrl) return c.config.publicUrl.replace(/\/$/, '');
  return `${request.protocol}://${request.host}`;
}

export async function buildApp(c: Components): Promise<FastifyInstance> {
  const app = Fastify({
    logger: c.config.logRequests ? { redact: ['req.headers.authorization'] } : false,
    bodyLimit: c.config.maxBodyBytes,
    // The PEP's X-Request-ID is kept (AuthZEN §10) when it is a sane token; otherwise we make one.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return isRequestId(given) ? given : randomUUID();
    },
  });
  registerJsonBody(app, c.config.maxJsonDepth);
  // Entities may hold integers beyond 2^53 (bigint): written back digit for digit.
  app.setReplySerializer((payload) => stringifyJson(payload));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  app.setErrorHandler((error, request, reply) => {
    const verityError = toVerityError(error);
    if (verityError.status >= 500) request.log.error({ err: error }, 'request failed');
    reply.status(verityError.status).send(verityError.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(new VerityError('ERR_REQUEST_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });

  // Liveness: the process answers. Never tied to the engine or the store, so an orchestrator
  // does not restart every replica because one tenant's input troubled the engine.
  app.get('/healthz', async () => ({ ok: true }));
  // Readiness: the engine decides a trivial request and the store answers, right now.
  app.get('/readyz', async (_request, reply) => {
    const readiness = await c.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });

  app.get('/.well-known/authzen-configuration', async (request) => authzenMetadata(baseUrl(c, request)));
  app.get('/.well-known/authzen-configuration/tenants/:tenant', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await c.tenants.get(tenant);
    return authzenMetadata(`${baseUrl(c, request)}/tenants/${tenant}`);
  });

  registerAuthzenRoutes(app, c, () => c.config.defaultTenant);
  await app.register(
    async (scope) => registerAuthzenRoutes(scope, c, (request) => tenantParam(request, { write: false })),
    { prefix: '/tenants/:tenant' },
  );
  registerCedarRoutes(app, c);
  registerAdminRoutes(app, c);
  registerDataRoutes(app, c);
  registerIdentityRoutes(app, c);
  await registerOAuthRoutes(app, c);
  registerChangeStreamRoutes(app, c);
  registerBundleRoutes(app, c);
  registerPepAuditRoutes(app, c);
  registerAuditCheckpointRoutes(app, c);
  await registerGatewayRoutes(app, c);
  return app;
}
