/**
 * The HTTP port while the server starts: bound before the store opens, it answers liveness at
 * once and everything else 503 ERR_STARTING, until the Fastify app built on the same server
 * takes every request over. An orchestrator's probes never wait on migrations or a big folder.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import { VerityError } from '@verity/core';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export interface StartupListener {
  server: Server;
  /** The bound port (the one asked for, or the one the system chose for 0). */
  port: number;
  /** Give to Fastify (`serverFactory`): the app is built on this server, not a new one. */
  serverFactory: FastifyServerFactory;
  /** From now on every request goes to the app (call after `app.ready()`). */
  handOver(): void;
  /** Stop accepting, close idle keep-alive connections, resolve once every connection ended. Idempotent. */
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(status === 503 ? { 'retry-after': '1' } : {}),
  });
  response.end(text);
}

/** What the port says before the app is ready: the same shapes the app's routes answer with. */
const answerWhileStarting: Handler = (request, response) => {
  const path = (request.url ?? '').split('?')[0];
  if (path === '/healthz') return send(response, 200, { ok: true });
  if (path === '/readyz') return send(response, 503, { ready: false, checks: { engine: false, store: false, migrations: false, audit: false, fresh: false, started: false } });
  send(response, 503, new VerityError('ERR_STARTING', 'the server is starting; try again shortly').toJSON());
};

/**
 * Bind `host:port` (0: any free port) with the start-up answers. Rejects when the port cannot
 * be bound (EADDRINUSE, EACCES), leaving nothing open.
 */
export async function listenWhileStarting(options: { port: number; host: string }): Promise<StartupListener> {
  let handle: Handler = answerWhileStarting;
  let app: Handler | null = null;
  const server = createServer((request, response) => handle(request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  let closing: Promise<void> | null = null;
  return {
    server,
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    serverFactory: (handler, fastifyOptions) => {
      app = handler;
      // What Fastify sets on a server it creates itself (its options, defaulted by Fastify).
      const timeout = (name: string, fallback: number): number => (typeof fastifyOptions[name] === 'number' ? fastifyOptions[name] : fallback);
      server.keepAliveTimeout = timeout('keepAliveTimeout', 72_000);
      server.requestTimeout = timeout('requestTimeout', 0);
      server.setTimeout(timeout('connectionTimeout', 0));
      return server;
    },
    handOver() {
      if (app === null) throw new Error('handOver: no app was built on this server');
      handle = app;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
