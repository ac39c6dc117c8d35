/**
 * One table of path variants (packages/core/src/request-path.cases.json) against every
 * enforcement point with the router that really runs behind it: Express mounted with `app.use`,
 * node:http in front of a case-sensitive Express router, fetch in front of Hono, and the
 * gateway route matcher. Each must decide on exactly the resource its router then serves, or
 * refuse (400 `ERR_ENFORCE_PATH_AMBIGUOUS`; the gateway: a refused path).
 */
import { createServer, request, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import { Hono } from 'hono';
import { createEnforcer, type DecisionRequest } from '@verity/enforce';
import { verity } from '@verity/enforce/express';
import { withVerity } from '@verity/enforce/node-http';
import { verityFetch } from '@verity/enforce/fetch';
import table from '../packages/core/src/request-path.cases.json' with { type: 'json' };
import { createRouteTable } from '../packages/server/src/gateway/route-match.js';

type Variant = (typeof table.cases)[number];
const lowerOf = (variant: Variant): string | null => ('lower' in variant ? variant.lower : (variant.path?.toLowerCase() ?? null));

/** What one request did: the answer, the resource the PEP decided on, the route the router served. */
interface Seen {
  status: number;
  code?: string;
  decided?: string;
  served?: string;
}

/** An enforcer that allows everything and remembers the resource it was asked about. */
function recordingEnforcer() {
  let last: string | undefined;
  const source = {
    decide: async (question: DecisionRequest) => {
      last = question.resource.id;
      return { decision: 'allow' as const, decisionId: 'd', policyVersion: 1, reasons: [] };
    },
  };
  const enforcer = createEnforcer({ source, tenant: 'acme', audience: 'https://api.example', tier: 'paths' });
  return { enforcer, take: () => ((value) => ((last = undefined), value))(last) };
}

/** The route a handler serves, with its parameter filled in as the router decoded it. */
function served(template: string, id: string | undefined): string {
  return id === undefined ? template : template.replace(/[:{]id}?/, id);
}

/** An Express router with the table's routes; each handler says which route it is. */
function expressRoutes(app: express.Express): express.Express {
  for (const route of ['/', '/admin', '/todos', '/todos/:id']) {
    app.get(route, (req, res) => res.json({ served: served(route, req.params.id as string | undefined) }));
  }
  return app;
}

async function listen(handler: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A GET with the path sent byte for byte (fetch would resolve `..` and encode `\`). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const sent = request({ host: '127.0.0.1', port, path, headers: { authorization: 'Bearer a.b.c' } }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    // The client refuses some paths itself (no request left): nothing was decided or served.
    sent.on('error', () => resolve({ status: 0, body: '' }));
    sent.end();
  });
}

function seenOf(answer: { status: number; body: string }, decided: string | undefined): Seen {
  let body: { code?: string; served?: string } = {};
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    // Not JSON: the router's own 404 page, or Node's 400 for a request line it refused.
  }
  return { status: answer.status, ...(body.code ? { code: body.code } : {}), ...(decided === undefined ? {} : { decided }), ...(body.served ? { served: body.served } : {}) };
}

/** The property every enforcement point must have, for one variant. */
function check(seen: Seen, expected: string | null, caseSensitive: boolean): void {
  // Whatever the router served is exactly what was decided.
  if (seen.served !== undefined) expect(caseSensitive ? seen.served : seen.served.toLowerCase()).toBe(seen.decided);
  if (expected === null) {
    expect(seen.served).toBeUndefined();
    if (seen.status !== 0) expect([400, 404]).toContain(seen.status);
    if (seen.decided === undefined && seen.status === 400 && seen.code !== undefined) expect(seen.code).toBe('ERR_ENFORCE_PATH_AMBIGUOUS');
    expect(seen.decided).toBeUndefined();
  } else if (seen.status !== 0) {
    expect(seen.decided).toBe(expected);
  }
}

const servers: Server[] = [];
let expressPort: number;
let nodePort: number;
const expressEnforcer = recordingEnforcer();
const nodeEnforcer = recordingEnforcer();
const fetchEnforcer = recordingEnforcer();

beforeAll(async () => {
  // Express's defaults: case-insensitive, a trailing slash ignored.
  const app = express();
  app.use(verity(expressEnforcer.enforcer));
  const one = await listen(expressRoutes(app));
  // node:http in front of a router that is case-sensitive (the adapter's default).
  const router = express();
  router.set('case sensitive routing', true);
  expressRoutes(router);
  const two = await listen(withVerity(nodeEnforcer.enforcer, {}, (req, res) => router(req, res)));
  servers.push(one.server, two.server);
  expressPort = one.port;
  nodePort = two.port;
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())))));
});

describe('the shared table of path variants', () => {
  it.each(table.cases)('Express app.use: $uri', async (variant) => {
    const answer = await get(expressPort, variant.uri);
    check(seenOf(answer, expressEnforcer.take()), lowerOf(variant), false);
  });

  it.each(table.cases)('node:http before a case-sensitive router: $uri', async (variant) => {
    const answer = await get(nodePort, variant.uri);
    check(seenOf(answer, nodeEnforcer.take()), variant.path, true);
  });

  it.each(table.cases.filter((variant) => variant.uri.startsWith('/')))('fetch before Hono: $uri', async (variant) => {
    const app = new Hono();
    for (const route of ['/', '/admin', '/todos', '/todos/:id']) app.get(route, (c) => c.json({ served: served(route, c.req.param('id')) }));
    const handler = verityFetch(fetchEnforcer.enforcer, {}, (req) => app.fetch(req));
    // The handler routes the URL as the runtime parsed it (WHATWG resolves `..`, reads `\` as `/`).
    const url = new URL(variant.uri, 'http://svc');
    const response = await handler(new Request(url, { headers: { authorization: 'Bearer a.b.c' } }));
    const seen = seenOf({ status: response.status, body: await response.text() }, fetchEnforcer.take());
    if (seen.served !== undefined) expect(seen.served).toBe(seen.decided);
    const parsed = table.cases.find((other) => other.uri === url.pathname);
    if (parsed) check(seen, parsed.path, true);
  });

  it.each(table.cases)('gateway matcher: $uri', (variant) => {
    const outcome = createRouteTable(table.routes).match(variant.uri);
    if (variant.path === null) expect(outcome).toEqual({ kind: 'refused', reason: variant.reason });
    else if (outcome.kind === 'matched') expect(served(outcome.template, outcome.params.id)).toBe(variant.path);
    else expect(outcome.kind).toBe('unmatched');
  });
});
