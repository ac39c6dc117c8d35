/** Test helpers: an in-memory CommandIo and a small recording HTTP server speaking docs/http-api.md. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommandIo } from './command.js';
import { runCli } from './run-cli.js';

export interface TestIo extends CommandIo {
  out(): string;
  err(): string;
}

/** An io whose stdout and stderr are collected as strings. */
export function createTestIo(overrides: Partial<CommandIo> = {}): TestIo {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    fetch: globalThis.fetch,
    cwd: process.cwd(),
    out: () => out,
    err: () => err,
    ...overrides,
  };
}

/** Runs `verity ...argv` in-process and returns the exit code and output. */
export async function run(argv: string[], overrides: Partial<CommandIo> = {}): Promise<{ code: number; out: string; err: string }> {
  const io = createTestIo(overrides);
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export type Reply = { status: number; body?: unknown };
export type Route = (request: RecordedRequest) => Reply;

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** JSON bodies parsed; form bodies (the OAuth endpoints) as a plain object of their fields. */
function parseBody(raw: string, contentType: string | undefined): unknown {
  if (contentType?.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  return JSON.parse(raw);
}

/** A real node:http server answering `routes` (keyed `METHOD /path`), 404 `{code,message}` otherwise. */
export async function startFakeServer(routes: Record<string, Route | Reply>): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: raw === '' ? undefined : parseBody(raw, req.headers['content-type']),
      };
      requests.push(recorded);
      const route = routes[`${recorded.method} ${recorded.path}`];
      const reply = route === undefined ? { status: 404, body: { code: 'ERR_REQUEST_NOT_FOUND', message: 'no such route' } } : typeof route === 'function' ? route(recorded) : route;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
