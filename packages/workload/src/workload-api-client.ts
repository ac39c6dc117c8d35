/**
 * The Workload API's client side: one-shot calls, and an SvidSource that follows the watch
 * stream so TLS contexts always hold the agent's latest SVID and bundle.
 */
import { Agent, request } from 'undici';
import { ERROR_CODES, VerityError, type ErrorCode } from '@verity/core';
import { readBundle, readJwtSvid } from './agent-pdp.js';
import { parseSpiffeId } from './spiffe-id.js';
import { createSourceListeners, type SvidSource, type X509Svid } from './svid-source.js';
import type { TrustBundle } from './trust-bundle.js';
import { WORKLOAD_API_HEADER } from './workload-api-server.js';

/** What the Workload API hands out: the SVID with its key, the bundle, the deny list. */
export type WorkloadApiState = ReturnType<SvidSource['current']>;

export interface WorkloadApiClientOptions {
  /** The agent's socket (`verity workload agent --socket`). */
  socketPath: string;
}

export interface WorkloadApiClient {
  x509Svid(): Promise<WorkloadApiState>;
  jwtSvid(audience: readonly string[]): Promise<{ token: string; expiresAtMs: number }>;
  bundle(): Promise<TrustBundle>;
  close(): Promise<void>;
}

export interface WorkloadApiSourceOptions extends WorkloadApiClientOptions {
  /** Told when the stream fails or an update cannot be read; the source reconnects by itself. */
  onError?: (error: unknown) => void;
  /** First reconnect delay, doubled per failure up to `maxBackoffMs` (defaults 100, 5000), with jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Reconnect when nothing, not even the 15-s keep-alive newline, came for this long (default 45 000). */
  idleTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
}

export interface WorkloadApiSource extends SvidSource {
  /** Resolves on the first SVID from the agent (it keeps trying until then); rejects if closed first. */
  ready(): Promise<void>;
  /** A JWT-SVID for `audience`, from the agent. */
  jwtSvid(audience: readonly string[]): Promise<{ token: string; expiresAtMs: number }>;
}

const ORIGIN = 'http://localhost';
const HEADERS = { [WORKLOAD_API_HEADER]: 'true', accept: 'application/json' };

function unreadable(what: string): VerityError {
  return new VerityError('ERR_SVID_INVALID', `the Workload API's ${what} cannot be read`);
}

/** `{code, message}` from the agent as a VerityError (an unknown code as ERR_INTERNAL). */
function agentError(body: unknown, status: number): VerityError {
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  const known = typeof code === 'string' && code in ERROR_CODES;
  return new VerityError(known ? (code as ErrorCode) : 'ERR_INTERNAL', typeof message === 'string' ? message : `the Workload API answered HTTP ${status}`);
}

/** A `GET /v1/x509-svid` document as state; an `{error}` document as the error it names. */
export function readX509SvidDocument(document: unknown): WorkloadApiState {
  const doc = (document ?? {}) as Record<string, unknown>;
  if (doc['error'] !== undefined) throw agentError(doc['error'], 503);
  const { spiffe_id: spiffeId, x509_svid: chain, private_key: key, expires_at: expiresAt, issued_at: issuedAt, denied } = doc;
  const expiresAtMs = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
  const issuedAtMs = typeof issuedAt === 'string' ? Date.parse(issuedAt) : NaN;
  const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (typeof spiffeId !== 'string' || !strings(chain) || chain.length === 0 || typeof key !== 'string' || !Number.isFinite(expiresAtMs) || !strings(denied)) {
    throw unreadable('X.509-SVID');
  }
  const svid: X509Svid = { spiffeId, certChainPem: chain, privateKeyPem: key, expiresAtMs, issuedAtMs: Number.isFinite(issuedAtMs) ? issuedAtMs : expiresAtMs };
  const bundle = readBundle(parseSpiffeId(spiffeId).trustDomain, doc['bundle'], doc['bundle_sequence']);
  return { svid, bundle, denied: new Set(denied) };
}

/**
 * A client for one-shot Workload API calls (the `verity workload svid` command uses it).
 *
 * @example
 * ```ts
 * const api = createWorkloadApiClient({ socketPath: '/run/verity/workload.sock' });
 * const { token } = await api.jwtSvid(['spiffe://acme.internal/billing']);
 * await api.close();
 * ```
 */
export function createWorkloadApiClient(options: WorkloadApiClientOptions): WorkloadApiClient {
  if (typeof options?.socketPath !== 'string' || options.socketPath === '') throw new TypeError('createWorkloadApiClient: socketPath is required');
  const dispatcher = new Agent({ connect: { socketPath: options.socketPath } });

  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ body: unknown; headers: Record<string, unknown> }> {
    const response = await request(ORIGIN + path, {
      dispatcher,
      method,
      headers: body === undefined ? HEADERS : { ...HEADERS, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw unreadable('answer');
    }
    if (response.statusCode !== 200) throw agentError(parsed, response.statusCode);
    return { body: parsed, headers: response.headers };
  }

  return {
    async x509Svid() {
      return readX509SvidDocument((await call('GET', '/v1/x509-svid')).body);
    },
    async jwtSvid(audience) {
      return readJwtSvid((await call('POST', '/v1/jwt-svid', { audience })).body);
    },
    async bundle() {
      const { body, headers } = await call('GET', '/v1/bundle');
      // The SPIFFE bundle format leaves the trust domain out (it is known out of band): a header carries it.
      const trustDomain = headers['x-verity-trust-domain'];
      return readBundle(typeof trustDomain === 'string' ? trustDomain : '', body, headers['x-verity-bundle-sequence']);
    },
    close: () => dispatcher.close(),
  };
}

/**
 * An SvidSource fed by the agent's watch stream (`GET /v1/x509-svid?watch=1`): updated on every
 * rotation, bundle or deny-list change, reconnecting with backoff when the stream drops. An
 * expired SVID is never served, even when the agent went quiet.
 *
 * @example
 * ```ts
 * const source = createWorkloadApiSource({ socketPath: '/run/verity/workload.sock' });
 * await source.ready();
 * const server = https.createServer(createMtlsContext({ source }), app);
 * const dispatcher = createMtlsAgent({ source });
 * ```
 */
export function createWorkloadApiSource(options: WorkloadApiSourceOptions): WorkloadApiSource {
  const client = createWorkloadApiClient({ socketPath: options?.socketPath });
  const { socketPath } = options;
  const dispatcher = new Agent({ connect: { socketPath }, bodyTimeout: 0, headersTimeout: 0 });
  const initialBackoffMs = options.initialBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  for (const [name, value] of Object.entries({ initialBackoffMs, maxBackoffMs, idleTimeoutMs })) {
    if (!Number.isFinite(value) || value <= 0) throw new TypeError(`createWorkloadApiSource: ${name} must be a positive number`);
  }

  let state: WorkloadApiState | null = null;
  let error: VerityError = new VerityError('ERR_STARTING', 'no SVID from the Workload API yet');
  let closed = false;
  let stream: AbortController | undefined;
  let wake: (() => void) | undefined;
  const listeners = createSourceListeners((failure) => report(failure));
  let markReady!: () => void;
  let failReady!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject)));
  ready.catch(() => {}); // Only a caller of ready() sees the rejection.

  function report(failure: unknown): void {
    try {
      options.onError?.(failure);
    } catch {
      // A failing logger must not stop the source.
    }
  }

  const notify = (): void => listeners.notify();

  function apply(line: string): void {
    let document: unknown;
    try {
      document = JSON.parse(line);
      state = readX509SvidDocument(document);
      markReady();
    } catch (failure) {
      // The agent has no SVID (expired, not yet): neither do we, rather than an old one.
      state = null;
      error = failure instanceof VerityError ? failure : unreadable('watch stream');
      report(error);
    }
    notify();
  }

  /** One watch connection: resolves when the stream ends, rejects when it fails. */
  async function follow(): Promise<void> {
    const controller = new AbortController();
    stream = controller;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error('the Workload API watch stream went quiet')), idleTimeoutMs);
      idle.unref();
    };
    try {
      touch();
      const response = await request(`${ORIGIN}/v1/x509-svid?watch=1`, { dispatcher, headers: HEADERS, signal: controller.signal });
      if (response.statusCode !== 200) {
        const text = await response.body.text().catch(() => '');
        throw agentError(safeJson(text), response.statusCode);
      }
      let buffer = '';
      const decoder = new TextDecoder();
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        touch();
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (line !== '') apply(line);
        }
      }
    } finally {
      clearTimeout(idle);
    }
  }

  void (async () => {
    let failures = 0;
    while (!closed) {
      const openedAt = now();
      try {
        await follow();
      } catch (failure) {
        if (!closed) report(failure);
      }
      if (closed) break;
      // A stream that held for a while resets the backoff; one that failed at once grows it.
      failures = now() - openedAt > maxBackoffMs ? 0 : failures + 1;
      const ceiling = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.max(0, failures - 1));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ceiling / 2 + (random() * ceiling) / 2);
        timer.unref();
        wake = () => (clearTimeout(timer), resolve());
      });
    }
  })();

  return {
    ready: () => ready,
    current() {
      if (state !== null && state.svid.expiresAtMs <= now()) {
        state = null;
        error = new VerityError('ERR_SVID_EXPIRED', 'the SVID from the Workload API has expired');
        report(error);
        queueMicrotask(notify);
      }
      if (state === null) throw error;
      return state;
    },
    subscribe: listeners.subscribe,
    jwtSvid: (audience) => client.jwtSvid(audience),
    async close() {
      closed = true;
      failReady(new VerityError('ERR_SHUTTING_DOWN', 'the Workload API source is closed'));
      stream?.abort();
      wake?.();
      listeners.clear();
      await Promise.all([dispatcher.destroy().catch(() => {}), client.close()]);
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
