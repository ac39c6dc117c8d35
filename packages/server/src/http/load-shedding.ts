/**
 * Load shedding: a bound on requests in flight, sustained event-loop delay and heap pressure answer 503
 * ERR_OVERLOADED at once (before the body is read), and a decision not answered within
 * `requestTimeoutMs` of arriving answers 503 ERR_DEADLINE_EXCEEDED. Health probes are never shed.
 * Once the server is stopping, every new request but /healthz answers 503 ERR_SHUTTING_DOWN.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { VerityError } from '@verity/core';

/** Seconds a shed or refused client is told to wait (`Retry-After`). */
export const RETRY_AFTER_SEC = 1;

/**
 * Event-loop delay (ms, mean over a one-second sample) that, sustained for
 * `DELAYED_SAMPLES_TO_SHED` samples in a row, sheds requests: the loop is then saturated, so a
 * queued request would be answered late anyway. Not `@fastify/under-pressure`'s delay check: it
 * sheds on one sample, so a single past block (a PGlite start-up, a long verify) shed the next
 * second of requests while the loop was already free (seen as failures in parallel test runs).
 */
const MAX_EVENT_LOOP_DELAY_MS = 500;
const DELAYED_SAMPLES_TO_SHED = 3;
const SAMPLE_MS = 1000;
/** Share of V8's heap limit past which requests are shed (an out-of-memory crash loses more). */
const MAX_HEAP_SHARE = 0.95;

export interface LoadSheddingOptions {
  maxInflightRequests: number;
  requestTimeoutMs: number;
}

const PROBES = new Set(['/healthz', '/readyz']);
/** Streams a PEP keeps open for as long as it runs: not requests in flight in the bound's sense. */
const STREAMS = new Set(['/tenants/:tenant/changes']);

function isProbe(request: FastifyRequest): boolean {
  return PROBES.has(request.url.split('?')[0] ?? '');
}

/** Routes that answer decisions: AuthZEN, Cedar-native, gateways and the token endpoint. */
const DECISION_ROUTE = /(^|\/)access\/v1\/(evaluations?|search\/[a-z]+)$|\/cedar\/v1\/|\/gateway\/v1\/|\/oauth2\/token$/;

export function isDecisionRoute(url: string): boolean {
  return DECISION_ROUTE.test(url);
}

function overloaded(reply: FastifyReply, why: string): ReturnType<VerityError['toJSON']> {
  reply.code(503).header('retry-after', String(RETRY_AFTER_SEC));
  return new VerityError('ERR_OVERLOADED', `the server is overloaded (${why}); try again shortly`).toJSON();
}

/** Add the in-flight bound, pressure shedding and the decision deadline. Call before any route. */
export async function registerLoadShedding(app: FastifyInstance, options: LoadSheddingOptions): Promise<void> {
  const { maxInflightRequests, requestTimeoutMs } = options;
  let inflight = 0;
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  let delayedSamples = 0;
  const sampler = setInterval(() => {
    delayedSamples = delay.mean / 1e6 > MAX_EVENT_LOOP_DELAY_MS ? delayedSamples + 1 : 0;
    delay.reset();
  }, SAMPLE_MS);
  sampler.unref();
  app.addHook('onClose', async () => {
    clearInterval(sampler);
    delay.disable();
  });
  // A stopping server answers what is in flight and nothing new: with Fastify's own closing
  // answer turned off (return503OnClosing: false), new requests on kept-alive connections get
  // ERR_SHUTTING_DOWN with Retry-After, and /readyz fails so a balancer stops sending here.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // While stopping, every answer (those in flight too) ends its connection: a client reusing it
  // would race the server closing it.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // First hook of all: a shed request costs no body parsing, no credential check, no store.
  app.addHook('onRequest', async (request, reply) => {
    if (closing && (request.url.split('?')[0] ?? '') !== '/healthz') {
      reply.code(503).header('retry-after', String(RETRY_AFTER_SEC)).header('connection', 'close');
      return reply.send(new VerityError('ERR_SHUTTING_DOWN', 'the server is stopping; ask another replica or try again shortly').toJSON());
    }
    if (isProbe(request)) return;
    if (delayedSamples >= DELAYED_SAMPLES_TO_SHED) return reply.send(overloaded(reply, 'event-loop delay'));
    if (STREAMS.has(request.routeOptions.url ?? '')) return;
    if (inflight >= maxInflightRequests) return reply.send(overloaded(reply, 'too many requests in flight'));
    inflight += 1;
    // 'close' fires once whether the answer was sent or the client went away.
    reply.raw.once('close', () => {
      inflight -= 1;
    });
    // The decision deadline counts from arrival, body included: a client trickling its body
    // (slowloris) would otherwise hold its in-flight slot for as long as it likes. Past the
    // deadline with the body still arriving, it is answered and its connection closed.
    if (isDecisionRoute(request.routeOptions.url ?? '')) {
      const timer = setTimeout(() => {
        if (reply.sent || request.raw.complete) return; // the handler's own deadline covers the rest
        reply.code(503).header('retry-after', String(RETRY_AFTER_SEC)).header('connection', 'close');
        void reply.send(new VerityError('ERR_DEADLINE_EXCEEDED', 'the request was not received within the request deadline').toJSON());
        reply.raw.once('finish', () => request.raw.socket?.destroy());
      }, requestTimeoutMs);
      timer.unref();
      reply.raw.once('close', () => clearTimeout(timer));
    }
  });

  // Heap pressure (sampled every second by the plugin).
  await app.register(underPressure, {
    maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * MAX_HEAP_SHARE),
    retryAfter: RETRY_AFTER_SEC,
    // Our error body and Retry-After; probes go on. The plugin then calls next(), and Fastify
    // stops a request whose reply was already sent (route.js runPreParsing).
    pressureHandler: (request, reply, type) => {
      if (!isProbe(request)) void reply.send(overloaded(reply, type));
    },
  });

  app.addHook('onRoute', (route: RouteOptions) => {
    if (!isDecisionRoute(route.url)) return;
    const handler = route.handler;
    route.handler = function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const work = Promise.resolve().then(() => handler.call(this, request, reply));
      return withinDeadline(work, requestTimeoutMs - reply.elapsedTime, request);
    };
  });
}

/**
 * The handler's result, or ERR_DEADLINE_EXCEEDED when it is not ready within `ms`. The work is
 * not cancelled: it may complete, and its decision is audited; only its answer is dropped.
 */
function withinDeadline<T>(work: Promise<T>, ms: number, request: FastifyRequest): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      work.catch((error: unknown) => request.log.debug({ err: error }, 'a decision past its deadline failed'));
      reject(new VerityError('ERR_DEADLINE_EXCEEDED', 'the decision was not made within the request deadline'));
    }, Math.max(0, ms));
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
