/**
 * Load shedding: a bound on requests in flight and event-loop/heap pressure answer 503
 * ERR_OVERLOADED at once (before the body is read), and a decision not answered within
 * `requestTimeoutMs` of arriving answers 503 ERR_DEADLINE_EXCEEDED. Health probes are never shed.
 */
import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { VerityError } from '@verity/core';

/** Seconds a shed or refused client is told to wait (`Retry-After`). */
export const RETRY_AFTER_SEC = 1;

/**
 * Event-loop delay (ms, mean over a one-second sample) past which requests are shed: the loop
 * was then blocked most of the second, so a queued request would be answered late anyway. High
 * on purpose: the in-flight bound is the first line; this catches work that is not requests.
 */
const MAX_EVENT_LOOP_DELAY_MS = 1000;
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
  // First hook of all: a shed request costs no body parsing, no credential check, no store.
  app.addHook('onRequest', async (request, reply) => {
    if (isProbe(request) || STREAMS.has(request.routeOptions.url ?? '')) return;
    if (inflight >= maxInflightRequests) return reply.send(overloaded(reply, 'too many requests in flight'));
    inflight += 1;
    // 'close' fires once whether the answer was sent or the client went away.
    reply.raw.once('close', () => {
      inflight -= 1;
    });
  });

  await app.register(underPressure, {
    maxEventLoopDelay: MAX_EVENT_LOOP_DELAY_MS,
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
