/**
 * The Workload API (SPIRE-like, JSON over HTTP on a Unix domain socket): hands the agent's
 * SVID, bundle, deny list and JWT-SVIDs to the workloads of this machine.
 *
 * Access boundary: the socket file's permissions (default 0600, the agent's own user), and the
 * directory it lies in. Unlike SPIRE, the agent does not attest the calling process: whoever
 * can open the socket gets the SVID and its private key. Put it in a directory only the
 * workload's user can enter, or give the workload its own agent.
 */
import { once } from 'node:events';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { VerityError, isVerityError } from '@verity/core';
import type { WorkloadAgent, WorkloadAgentState } from './agent.js';
import { toSpiffeBundleJson } from './trust-bundle.js';

export interface ServeWorkloadApiOptions {
  /** Where the socket is created; a stale socket there (nobody listening) is removed first. */
  socketPath: string;
  agent: Pick<WorkloadAgent, 'state' | 'subscribe' | 'jwtSvid'>;
  /** The socket file's mode (default 0o600). The socket's permissions are the access boundary. */
  mode?: number;
  /** A newline on every watch stream this often, so idle connections are seen alive (default 15 000 ms). */
  keepAliveMs?: number;
  /** Told of a failure serving a request (never with a secret in it). */
  onError?: (error: unknown) => void;
}

export interface WorkloadApiServer {
  readonly socketPath: string;
  /** Ends the watch streams, stops listening and removes the socket. */
  close(): Promise<void>;
}

/** The SPIFFE Workload API's request header (SPIFFE Workload Endpoint §4): refuses requests forwarded by a confused proxy. */
export const WORKLOAD_API_HEADER = 'workload.spiffe.io';
const MAX_BODY = 64 * 1024;
/** A watcher that reads nothing while this much is queued for it is cut off. */
const MAX_QUEUED = 1024 * 1024;
const ROUTES: Readonly<Record<string, string>> = { '/v1/x509-svid': 'GET', '/v1/jwt-svid': 'POST', '/v1/bundle': 'GET' };

function missing(state: WorkloadAgentState): VerityError {
  return state.error ?? new VerityError('ERR_STARTING', 'the workload agent has no SVID yet');
}

/**
 * The `GET /v1/x509-svid` document for a state: the SVID and its key, the bundle, the deny
 * list; `{error: {code, message}}` while there is no SVID (on a watch stream).
 */
export function x509SvidDocument(state: WorkloadAgentState): Record<string, unknown> {
  if (state.svid === null || state.bundle === null) return { error: missing(state).toJSON() };
  return {
    spiffe_id: state.svid.spiffeId,
    x509_svid: state.svid.certChainPem,
    private_key: state.svid.privateKeyPem,
    expires_at: new Date(state.svid.expiresAtMs).toISOString(),
    issued_at: new Date(state.svid.issuedAtMs).toISOString(),
    bundle: toSpiffeBundleJson(state.bundle),
    bundle_sequence: state.bundle.sequence,
    denied: [...state.denied].sort(),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  // Answers may hold a private key or a token: never cached by anything in between.
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, error: VerityError, headers: Record<string, string> = {}): void {
  send(res, error.status, error.toJSON(), headers);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new VerityError('ERR_REQUEST_TOO_LARGE', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new VerityError('ERR_REQUEST_MALFORMED_JSON', 'the body is not JSON');
  }
}

/** Removes a socket nobody listens on; refuses to touch anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stat === null) return;
  if (!stat.isSocket()) throw Object.assign(new Error(`${path} exists and is not a socket`), { code: 'EEXIST' });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
  if (alive) throw Object.assign(new Error(`another process serves ${path}`), { code: 'EADDRINUSE' });
  await unlink(path);
}

/**
 * Serve the Workload API on a Unix domain socket:
 * - `GET /v1/x509-svid` → `{spiffe_id, x509_svid: [pem…], private_key, expires_at, issued_at, bundle, bundle_sequence, denied}`
 * - `GET /v1/x509-svid?watch=1` → NDJSON: that document now and after every change (a newline every 15 s in between)
 * - `POST /v1/jwt-svid {audience: [...]}` → `{token, expires_at}`
 * - `GET /v1/bundle` → the SPIFFE bundle JSON (headers `x-verity-bundle-sequence`, `x-verity-trust-domain`)
 *
 * Every request must carry the header `workload.spiffe.io: true`. Errors are `{code, message}`.
 *
 * @example
 * ```ts
 * const api = await serveWorkloadApi({ socketPath: '/run/verity/workload.sock', agent });
 * // on shutdown: await api.close(); await agent.close();
 * ```
 */
export async function serveWorkloadApi(options: ServeWorkloadApiOptions): Promise<WorkloadApiServer> {
  const { socketPath, agent } = options;
  if (typeof socketPath !== 'string' || socketPath === '') throw new TypeError('serveWorkloadApi: socketPath is required');
  if (agent === null || typeof agent !== 'object' || typeof agent.state !== 'function' || typeof agent.subscribe !== 'function') throw new TypeError('serveWorkloadApi: agent is required');
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new TypeError('serveWorkloadApi: mode must be a file mode such as 0o600');
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const watchers = new Set<ServerResponse>();

  function report(error: unknown): void {
    try {
      options.onError?.(error);
    } catch {
      // A failing logger must not break the API.
    }
  }

  function watch(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    watchers.add(res);
    let last = '';
    const push = () => {
      const line = JSON.stringify(x509SvidDocument(agent.state()));
      if (line === last) return;
      last = line;
      res.write(`${line}\n`);
      if (res.writableLength > MAX_QUEUED) res.destroy();
    };
    const unsubscribe = agent.subscribe(push);
    const keepAlive = setInterval(() => res.write('\n'), keepAliveMs);
    keepAlive.unref();
    res.on('close', () => {
      unsubscribe();
      clearInterval(keepAlive);
      watchers.delete(res);
    });
    push();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const allowed = ROUTES[url.pathname];
    if (allowed === undefined) return sendError(res, new VerityError('ERR_REQUEST_NOT_FOUND', 'no such Workload API route'));
    if (req.method !== allowed) return sendError(res, new VerityError('ERR_METHOD_NOT_ALLOWED', `use ${allowed}`), { allow: allowed });
    if (req.headers[WORKLOAD_API_HEADER] !== 'true') return sendError(res, new VerityError('ERR_REQUEST_INVALID', `the header ${WORKLOAD_API_HEADER}: true is required`));
    if (url.pathname === '/v1/x509-svid') {
      const flag = url.searchParams.get('watch');
      if (flag === '1' || flag === 'true') return watch(res);
      const state = agent.state();
      return state.svid === null || state.bundle === null ? sendError(res, missing(state)) : send(res, 200, x509SvidDocument(state));
    }
    if (url.pathname === '/v1/bundle') {
      const { bundle } = agent.state();
      if (bundle === null) return sendError(res, new VerityError('ERR_STARTING', 'the workload agent has no bundle yet'));
      return send(res, 200, toSpiffeBundleJson(bundle), { 'x-verity-bundle-sequence': String(bundle.sequence), 'x-verity-trust-domain': bundle.trustDomain });
    }
    const body = (await readBody(req)) as { audience?: unknown } | null;
    const audience = body?.audience;
    if (!Array.isArray(audience) || audience.length === 0 || audience.length > 16 || !audience.every((a) => typeof a === 'string' && a !== '' && a.length <= 1024)) {
      return sendError(res, new VerityError('ERR_REQUEST_INVALID', 'audience must be 1 to 16 non-empty strings'));
    }
    const issued = await agent.jwtSvid(audience as string[]);
    send(res, 200, { token: issued.token, expires_at: new Date(issued.expiresAtMs).toISOString() });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      report(error);
      if (res.headersSent) return void res.destroy();
      sendError(res, isVerityError(error) ? error : new VerityError('ERR_INTERNAL', 'the Workload API failed'));
    });
  });
  await removeStaleSocket(socketPath);
  // The socket is created by bind(), synchronously inside listen(): a umask set around it means
  // the file never exists with wider permissions than `mode` (the chmod below then makes it exact).
  let previousUmask: number | undefined;
  try {
    previousUmask = process.umask(0o777 & ~mode);
  } catch {
    // Worker threads may not change the umask; the chmod below still applies the mode.
  }
  try {
    server.listen(socketPath);
  } finally {
    if (previousUmask !== undefined) process.umask(previousUmask);
  }
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
  await chmod(socketPath, mode);

  return {
    socketPath,
    async close() {
      for (const res of watchers) res.end();
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await closed;
      await unlink(socketPath).catch(() => {});
    },
  };
}
