/**
 * Follows the PDP's change stream (`GET /tenants/{t}/changes`, server-sent events) and says
 * when a tenant's cached decisions must go: on every change, and on every (re)connect, since
 * changes made while disconnected were missed.
 */
import { createSseParser } from './sse.js';

/**
 * `policy`, `entities`, `identity`, `revocation`, `settings`, `device` (a device's registration or
 * posture: decisions that weighed it are stale), `assurance` (a subject's assurance level from a
 * CAEP event), `threat` (an imported threat list: decisions that weighed a client IP are stale)
 * from the PDP, or `resync` after a (re)connect.
 */
export type ChangeKind = 'policy' | 'entities' | 'identity' | 'revocation' | 'settings' | 'device' | 'assurance' | 'threat' | 'resync';

export interface Change {
  tenant: string;
  kind: ChangeKind;
}

export interface ChangeFollowerOptions {
  /** The PDP's base URL. */
  url: string;
  tenant: string;
  /** The PEP's Verity credential (a `decide` credential), unless decisions are open. */
  credential?: string;
  fetch?: typeof fetch;
  /** Called for every change and on every (re)connect; invalidate the tenant's cache here. */
  onChange: (change: Change) => void;
  /** Told when the stream fails (for logs and metrics); the follower reconnects by itself. */
  onError?: (error: unknown) => void;
  /**
   * Called whenever the PDP was heard from: the stream opened, or anything arrived on it (a
   * change, or the heartbeat comment the PDP sends every 15 s). Local mode bounds its staleness by it.
   */
  onContact?: () => void;
  /** First reconnect delay, doubled on each failure up to `maxBackoffMs` (defaults 250, 10 000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Reconnect when nothing, not even a heartbeat, arrived for this long (default 45 000; the
   * PDP sends a heartbeat every 15 s). Catches connections that died without a close.
   */
  idleTimeoutMs?: number;
  /** Jitter source in [0, 1) (default `Math.random`), injectable so tests are exact. */
  random?: () => number;
}

export interface ChangeFollower {
  /** Resolves once the first connection is open (it never rejects; failures are retried). */
  readonly ready: Promise<void>;
  readonly connected: boolean;
  close(): void;
}

const OPTION_KEYS = new Set(['url', 'tenant', 'credential', 'fetch', 'onChange', 'onError', 'onContact', 'initialBackoffMs', 'maxBackoffMs', 'idleTimeoutMs', 'random']);
const KINDS = new Set<string>(['policy', 'entities', 'identity', 'revocation', 'settings', 'device', 'assurance', 'threat']);

function parseChange(data: string, tenant: string): Change {
  try {
    const value = JSON.parse(data) as { tenant?: unknown; kind?: unknown };
    if (value.tenant === tenant && typeof value.kind === 'string' && KINDS.has(value.kind)) return { tenant, kind: value.kind as ChangeKind };
  } catch {
    // Unreadable: fall through to a resync, which drops everything the tenant cached.
  }
  return { tenant, kind: 'resync' };
}

/**
 * Follow a tenant's change stream until closed, reconnecting with exponential backoff.
 *
 * @example
 * ```ts
 * const follower = createChangeFollower({
 *   url: 'http://verity.internal:8181', tenant: 'acme', credential: process.env.VERITY_PEP_TOKEN,
 *   onChange: ({ tenant }) => cache.invalidateTenant(tenant),
 * });
 * await follower.ready;
 * // on shutdown: follower.close();
 * ```
 */
export function createChangeFollower(options: ChangeFollowerOptions): ChangeFollower {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`createChangeFollower: unknown option "${key}"`);
  if (typeof options.onChange !== 'function') throw new TypeError('createChangeFollower: onChange is required');
  if (typeof options.tenant !== 'string' || options.tenant === '') throw new TypeError('createChangeFollower: tenant is required');
  const url = `${new URL(options.url).href.replace(/\/$/, '')}/tenants/${encodeURIComponent(options.tenant)}/changes`;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const initialBackoffMs = options.initialBackoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const random = options.random ?? Math.random;
  const { tenant, onChange } = options;

  let closed = false;
  let connected = false;
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  function report(error: unknown): void {
    try {
      options.onError?.(error);
    } catch {
      // A failing logger must not stop the follower.
    }
  }

  function heard(): void {
    try {
      options.onContact?.();
    } catch {
      // A failing listener must not stop the follower.
    }
  }

  /** One connection: resolves when the stream ends, rejects when it cannot be opened or read. */
  async function follow(): Promise<void> {
    const controller = new AbortController();
    current = controller;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error('the change stream went quiet')), idleTimeoutMs);
      idle.unref();
    };
    try {
      touch();
      const response = await fetchImpl(url, {
        headers: { accept: 'text/event-stream', ...(options.credential === undefined ? {} : { authorization: `Bearer ${options.credential}` }) },
        signal: controller.signal,
      });
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        throw new Error(`the change stream answered ${response.status}`);
      }
      connected = true;
      heard();
      // Changes may have been missed while we were not connected.
      onChange({ tenant, kind: 'resync' });
      markReady();
      const parse = createSseParser((event) => {
        if (event.event === 'change') onChange(parseChange(event.data, tenant));
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        touch();
        heard();
        parse(decoder.decode(chunk as Uint8Array, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      if (connected) {
        connected = false;
        // Until we are back, nothing tells us about changes: forget what was cached.
        if (!closed) onChange({ tenant, kind: 'resync' });
      }
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  void (async () => {
    let failures = 0;
    while (!closed) {
      const openedAt = Date.now();
      try {
        await follow();
      } catch (error) {
        if (!closed) report(error);
      }
      if (closed) break;
      // A connection that held for a while resets the backoff; one that failed at once grows it.
      failures = Date.now() - openedAt > maxBackoffMs ? 0 : failures + 1;
      const ceiling = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.max(0, failures - 1));
      await sleep(ceiling / 2 + (random() * ceiling) / 2);
    }
  })();

  return {
    ready,
    get connected() {
      return connected;
    },
    close() {
      closed = true;
      current?.abort();
      wake?.();
      markReady();
    },
  };
}
