/**
 * attack12: traces export the request's query string. docs/security.md: "Never logged: headers,
 * query strings, bodies, tokens" (a query may carry a token), and docs/gateways.md: Caddy's
 * forward_auth keeps the client's query on the `uri` it sends Verity, Envoy appends the original
 * path and query to `path_prefix`. With tracing on, @fastify/otel's request span carries
 * `url.path` = request.url, query included, so a client's `?access_token=…` reaches the collector.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

const exported: string[] = [];
let collector: Server;
let collectorUrl: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  collector = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      exported.push(body);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((listening) => collector.listen(0, '127.0.0.1', listening));
  collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
});

afterAll(async () => {
  await killAll(processes);
  await new Promise((closed) => collector?.close(closed));
});

describe('OpenTelemetry request spans', () => {
  it("do not carry a client's query string (a token in it) to the collector", async () => {
    const server = await startServeProcess([], { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' });
    processes.push(server);
    const secret = `tok_${crypto.randomUUID()}`;
    // What Caddy's forward_auth sends for GET /todos?access_token=… (docs/gateways.md §5: the query stays on uri).
    await (await fetch(`${server.url}/tenants/demo/gateway/v1/forward-auth?access_token=${secret}`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/todos' } })).text();
    await eventually(async () => void expect(exported.join('\n')).toContain('forward-auth'), 20_000);
    const all = exported.join('\n');
    const at = all.indexOf(secret);
    expect(at, all.slice(Math.max(0, at - 200), at + 60)).toBe(-1);
  });
});
