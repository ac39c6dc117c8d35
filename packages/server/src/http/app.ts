/** The Fastify application: body parsing, request ids, error mapping, and every route. */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { isRequestId, isStorableText, isVerityError, storableText, stringifyJson, VerityError } from '@verity/core';
import { registerJsonBody } from './json-body.js';
import { logFailure, toVerityError } from './errors.js';
import { authzenMetadata, registerAuthzenRoutes } from './authzen-routes.js';
import { registerCedarRoutes } from './cedar-routes.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerTenantRoutes } from './tenant-routes.js';
import { registerDataRoutes } from './data-routes.js';
import { registerIdentityRoutes } from './identity-routes.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { registerChangeStreamRoutes } from './change-stream-routes.js';
import { registerBundleRoutes } from './bundle-routes.js';
import { registerPepAuditRoutes } from './pep-audit-routes.js';
import { registerAuditCheckpointRoutes } from './audit-checkpoint-routes.js';
import { registerGatewayRoutes } from './gateway-routes.js';
import { registerWorkloadRoutes } from './workload-routes.js';
import { registerDeviceRoutes } from './device-routes.js';
import { registerSsfRoutes } from './ssf-routes.js';
import { registerThreatListRoutes } from './threat-list-routes.js';
import { registerActivityRoutes } from './activity-routes.js';
import { registerPlaygroundRoutes } from './playground-routes.js';
import { registerConsoleRoutes } from '../console/console-routes.js';
import { registerLoadShedding, RETRY_AFTER_SEC } from './load-shedding.js';
import { metaOf, requireAdmin, tenantParam, type Components } from './context.js';
import { tenantBaseUrl } from '../public-url.js';
import type { Tracing } from '../tracing.js';

/**
 * The base URL metadata names: the configured public URL, else the listen address. A request's
 * `Host` (or `X-Forwarded-Host`) is used only when `trustProxy` says a proxy sets it.
 */
function metadataBaseUrl(c: Components, request: FastifyRequest): string {
  if (c.config.publicUrl === null && c.config.trustProxy) return `${request.protocol}://${request.host}`;
  return c.tokens.baseUrl();
}

/** Path of a request without its query (a query may carry a token). */
function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '';
}

/** The name of the first query parameter (name or value) with unstorable text, or undefined. */
function unstorableQueryParameter(query: unknown): string | undefined {
  if (typeof query !== 'object' || query === null) return undefined;
  for (const [name, value] of Object.entries(query)) {
    if (!isStorableText(name)) return name;
    for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string' && !isStorableText(item)) return name;
  }
  return undefined;
}

/** Node's `clientError`: Verity's `{code, message}` on the socket where it can still be written. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refused =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new VerityError('ERR_REQUEST_TIMEOUT', 'the request did not arrive whole in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new VerityError('ERR_REQUEST_HEADERS_TOO_LARGE', 'the request headers are over the size limit')
        : new VerityError('ERR_REQUEST_INVALID', 'the request is not valid HTTP/1.1 (RFC 9112)');
  if (socket.writable) {
    const body = JSON.stringify(refused.toJSON());
    socket.write(`HTTP/1.1 ${refused.status} ${STATUS_CODES[refused.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** Build the app on an existing HTTP server (one already answering start-up probes) instead of a new one. */
  serverFactory?: FastifyServerFactory;
  /** OpenTelemetry (tracing.ts): its Fastify instrumentation goes in first when it is on. */
  tracing?: Tracing;
}

/** Longest any request (a 32 MiB policy or entity upload included) may take to arrive, ms. */
const SLOW_UPLOAD_MS = 60_000;

/** Admin bodies larger than this (bytes) are read only once their credential is authenticated. */
const UNAUTHENTICATED_BODY_BYTES = 64 * 1024;

export async function buildApp(c: Components, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
    loggerInstance: c.log as FastifyBaseLogger, // pino's Logger is a FastifyBaseLogger with more; Fastify's types want the narrower one.
    // One line per request only at debug (below): at info the decision path logs nothing.
    logController: new LogController({ disableRequestLogging: true }),
    // Off by default: X-Forwarded-* from an untrusted peer would let it pick our URLs.
    trustProxy: c.config.trustProxy,
    bodyLimit: c.config.maxBodyBytes,
    // Fastify refuses a path parameter over 100 characters (414); device ids may have 128. Each
    // parameter is still checked by its own route (tenant ids, device ids).
    routerOptions: { maxParamLength: 256 },
    // A stopping server answers ERR_SHUTTING_DOWN with Retry-After itself (load-shedding.ts).
    return503OnClosing: false,
    // Every request must arrive whole within this (Node answers 408 and closes otherwise): a slow
    // client cannot hold a connection and an in-flight slot without end. Decisions have their
    // own, shorter deadline from arrival (load-shedding.ts); this bounds admin uploads too.
    requestTimeout: Math.max(c.config.requestTimeoutMs, SLOW_UPLOAD_MS),
    // Errors Fastify meets before any route runs (a path that is not valid percent-encoding,
    // RFC 3986 §2.1): Verity's error shape, never cached. For a gateway (Envoy sends the
    // original path as its own) that is a refusal, as any non-2xx answer is.
    frameworkErrors: (error, request, reply) => {
      const refused = new VerityError('ERR_REQUEST_INVALID', error.code === 'FST_ERR_BAD_URL' ? 'the request path is not valid percent-encoding (RFC 3986 §2.1)' : 'the request could not be read');
      // Fastify types this reply by route generics no route has yet; it is a plain reply.
      void (reply as unknown as FastifyReply).status(refused.status).header('cache-control', 'no-store').header('x-request-id', request.id).send(refused.toJSON());
    },
    // What Node's HTTP parser refuses before Fastify sees a request (a header with a control
    // character, a header block over the limit, Content-Length with Transfer-Encoding, a bad
    // method) or a request that did not arrive in time: Verity's shape too, then the connection
    // is closed, as Node does.
    clientErrorHandler: answerClientError,
    // The PEP's X-Request-ID is kept (AuthZEN §10) when it is a sane token; otherwise we make one.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return isRequestId(given) ? given : randomUUID();
    },
  });
  // Fastify's own instrumentation must see every route as it is added (a span per request,
  // continuing the caller's traceparent).
  const otel = options.tracing?.fastifyPlugin();
  if (otel !== undefined) await app.register(otel);
  // Before every other hook and route: shedding must cost next to nothing, and the decision
  // deadline wraps the decision routes as they are added.
  await registerLoadShedding(app, { maxInflightRequests: c.config.maxInflightRequests, requestTimeoutMs: c.config.requestTimeoutMs });
  registerJsonBody(app, c.config.maxJsonDepth);
  // Query parameters reach the store (audit filters, erasure) as JSON bodies do: one holding
  // text neither PostgreSQL nor UTF-8 can hold (a NUL, an unpaired surrogate) is refused here,
  // as the JSON body parser refuses it in a body.
  app.addHook('preValidation', (request, _reply, done) => {
    const problem = unstorableQueryParameter(request.query);
    done(problem === undefined ? undefined : new VerityError('ERR_REQUEST_INVALID', `query parameter "${storableText(problem).slice(0, 64)}" holds a NUL or an unpaired surrogate`));
  });
  // Entities may hold integers beyond 2^53 (bigint): written back digit for digit.
  app.setReplySerializer((payload) => stringifyJson(payload));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // An admin write with a large body is authenticated before its body is read and parsed: a
    // caller without a credential cannot make the server parse megabytes of JSON. (Every route
    // still authenticates and authorizes the call itself; the lookup is cached.)
    if (request.url.startsWith('/admin/') && Number(request.headers['content-length'] ?? 0) > UNAUTHENTICATED_BODY_BYTES) {
      const value = request.headers.authorization;
      try {
        await c.credentials.authenticate(typeof value === 'string' ? value : undefined);
      } catch (error) {
        if (isVerityError(error)) await c.admin.recordAuthFailure(error.code, metaOf(request));
        throw error;
      }
    }
  });

  if (c.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', async (request, reply) => {
      request.log.debug({ method: request.method, path: pathOf(request), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const verityError = toVerityError(error);
    logFailure(request, verityError, error);
    // Every 503 is "not now": the client may try again (this replica or another) after a pause.
    if (verityError.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_SEC));
    reply.status(verityError.status).send(verityError.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(new VerityError('ERR_REQUEST_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });

  // Liveness: the process answers. Never tied to the engine or the store, so an orchestrator
  // does not restart every replica because one tenant's input troubled the engine.
  app.get('/healthz', async () => ({ ok: true }));
  // Readiness: the engine decides a trivial request, the store answers, and this replica's view
  // is within the staleness bound, right now.
  app.get('/readyz', async (_request, reply) => {
    const readiness = await c.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });

  // Prometheus metrics: platform-wide counts that name tenants, so a credential allowed
  // `metrics.read` (a `monitor` or a platform admin) is required; each scrape is an audited
  // decision in `_system` like every admin call.
  app.get('/metrics', async (request, reply) => {
    await requireAdmin(c, request, 'metrics.read', null);
    return reply.type(c.metrics.contentType).send(await c.metrics.render());
  });

  app.get('/.well-known/authzen-configuration', async (request) => authzenMetadata(metadataBaseUrl(c, request)));
  app.get('/.well-known/authzen-configuration/tenants/:tenant', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await c.tenants.get(tenant);
    return authzenMetadata(tenantBaseUrl(metadataBaseUrl(c, request), tenant));
  });

  // Route groups are registered a turn of the event loop apart: building the router is tens of
  // milliseconds of synchronous work, and the start-up listener keeps answering /healthz meanwhile.
  const groups: Array<() => unknown> = [
    () => registerAuthzenRoutes(app, c, () => c.config.defaultTenant),
    () => app.register(async (scope) => registerAuthzenRoutes(scope, c, (request) => tenantParam(request, { write: false })), { prefix: '/tenants/:tenant' }),
    () => registerCedarRoutes(app, c),
    () => registerTenantRoutes(app, c),
    () => registerAdminRoutes(app, c),
    () => registerDataRoutes(app, c),
    () => registerIdentityRoutes(app, c),
    () => registerOAuthRoutes(app, c),
    () => registerChangeStreamRoutes(app, c),
    () => registerBundleRoutes(app, c),
    () => registerPepAuditRoutes(app, c),
    () => registerAuditCheckpointRoutes(app, c),
    () => registerGatewayRoutes(app, c),
    () => registerWorkloadRoutes(app, c),
    () => registerDeviceRoutes(app, c),
    () => registerSsfRoutes(app, c),
    () => registerThreatListRoutes(app, c),
    () => registerActivityRoutes(app, c),
    () => registerPlaygroundRoutes(app, c),
    // The web console's static pages (docs/console.md); `--no-console` leaves them out (404).
    () => (c.config.console ? registerConsoleRoutes(app) : undefined),
  ];
  for (const register of groups) {
    await register();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return app;
}
