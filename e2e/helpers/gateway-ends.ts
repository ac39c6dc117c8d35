/**
 * Test helper: the two ends around a real gateway (nginx, caddy). A server that records every
 * request reaching it, either answering with what it received (the upstream app) or relaying it
 * (a tap in front of Verity, to see what the gateway sends it); and a client that sends requests
 * byte for byte, each with its own X-Request-ID to find it in the audit.
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as it reached a recording server. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingServer {
  port: number;
  /** Every request so far, oldest first. */
  seen: Seen[];
  /** Run `action` (a request through the gateway), and report the requests that reached this server meanwhile. */
  during<T>(action: () => Promise<T>): Promise<{ answer: T; reached: Seen[] }>;
  close(): Promise<void>;
}

export interface StartRecordingServerOptions {
  /** Relay each request to this loopback port and pass its answer back; else answer 200 with the request as JSON. */
  relayTo?: number;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the client sent, and what came back. */
export interface Sent {
  requestId: string;
  method: string;
  path: string;
  answer: Answer;
}

export interface GatewayClient {
  /** One request through the gateway, the path sent as written (fetch would normalise `..`). */
  send(method: string, path: string, headers?: Record<string, string>, body?: string): Promise<Answer & { requestId: string }>;
  /** Every request sent so far. */
  sent: Sent[];
}

function exchange(port: number, method: string, path: string, headers: IncomingHttpHeaders, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

export async function startRecordingServer(options: StartRecordingServerOptions = {}): Promise<RecordingServer> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(entry);
      if (options.relayTo === undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entry));
        return;
      }
      exchange(options.relayTo, entry.method, entry.url, req.headers, body).then(
        (answer) => res.writeHead(answer.status, answer.headers).end(answer.body),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    async during(action) {
      const before = seen.length;
      const answer = await action();
      return { answer, reached: seen.slice(before) };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A client for the gateway on `port`; request ids start with `name`. */
export function createGatewayClient(port: number, name: string): GatewayClient {
  const sent: Sent[] = [];
  return {
    sent,
    async send(method, path, headers = {}, body) {
      const requestId = `${name}-${sent.length}-${Date.now()}`;
      const answer = await exchange(port, method, path, { 'x-request-id': requestId, ...headers }, body);
      sent.push({ requestId, method, path, answer });
      return { ...answer, requestId };
    },
  };
}
