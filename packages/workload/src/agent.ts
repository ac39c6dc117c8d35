/**
 * The workload agent: attests to the PDP once, then keeps an X.509-SVID (a fresh key each
 * time), the tenant's trust bundle and its deny list current, and hands out JWT-SVIDs.
 */
import { readFile } from 'node:fs/promises';
import { VerityError } from '@verity/core';
import { checkPdpUrl, createPdpClient, readBundle, readDenied, readIssued, readJwtSvid, type PdpClient } from './agent-pdp.js';
import { createSvidProof } from './svid-proof.js';
import { createSourceListeners, type SvidSource, type X509Svid } from './svid-source.js';
import type { TrustBundle } from './trust-bundle.js';
import { createCsr, generateSvidKey, verifyCsr } from './x509-svid.js';

/** How the agent proves, once, which workload it is. */
export type WorkloadAttestation =
  /** A one-time join token from `POST /admin/v1/tenants/{t}/workloads/{id}/join-tokens`. */
  | { attestor: 'join_token'; joinToken: string }
  /** A Kubernetes projected service-account token, re-read from the file at every attestation. */
  | { attestor: 'k8s_psat'; tokenFile: string };

export interface WorkloadAgentOptions {
  /** The PDP's base URL: https, or http on loopback. */
  pdpUrl: string;
  tenant: string;
  attestation: WorkloadAttestation;
  /** A PEP credential of the tenant, to read its deny list; without it the deny list stays empty. */
  pepCredential?: string;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  /** Told of every failure (a renewal that will be retried, an expired SVID); never holds a secret. */
  onError?: (error: unknown) => void;
  /** How often the deny list and the bundle are re-read, ms (default 5000; sooner when the bundle's refresh hint says so). */
  pollIntervalMs?: number;
  /**
   * After the bundle gains a root (a CA rotation), a renewed SVID under that root waits this long
   * before it is presented, so that peers re-reading their bundle every `pollIntervalMs` trust it
   * first (default 2 × pollIntervalMs; never past half of the current SVID's remaining life).
   */
  rootPropagationMs?: number;
  /** Retry after a failure: full jitter, the ceiling starting here and doubling up to `maxRetryMs` (defaults 500, 30 000). */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Tries of the first attestation before `start()` gives up (default 5; a refusal is not retried). */
  attestAttempts?: number;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
}

/** The agent's state; `svid` is null before the first attestation and after an SVID expired unrenewed. */
export interface WorkloadAgentState {
  svid: X509Svid | null;
  bundle: TrustBundle | null;
  denied: ReadonlySet<string>;
  /** Why there is no SVID, when there is none. */
  error: VerityError | null;
}

export interface WorkloadAgent extends SvidSource {
  /** Attests and resolves once the first SVID is held; rejects when attestation fails. */
  start(): Promise<void>;
  /** The state without throwing (the Workload API reports `error` to its clients). */
  state(): WorkloadAgentState;
  /** A JWT-SVID for `audience`, from the PDP (reused while it has more than half its life left). */
  jwtSvid(audience: readonly string[]): Promise<{ token: string; expiresAtMs: number }>;
  /** Re-reads the bundle and the deny list now (e.g. when the change stream says kind `workload`). */
  refresh(): Promise<void>;
}

const OPTION_KEYS = new Set(['pdpUrl', 'tenant', 'attestation', 'pepCredential', 'fetch', 'now', 'onError', 'pollIntervalMs', 'rootPropagationMs', 'initialRetryMs', 'maxRetryMs', 'attestAttempts', 'random']);
/** JWT-SVIDs kept per audience; beyond this the oldest go. */
const JWT_CACHE_SIZE = 64;

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`createWorkloadAgent: ${name} must be a positive number`);
  return value;
}

function checkOptions(options: WorkloadAgentOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('createWorkloadAgent: options are required');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`createWorkloadAgent: unknown option "${key}"`);
  if (typeof options.tenant !== 'string' || options.tenant === '') throw new TypeError('createWorkloadAgent: tenant is required');
  const a = options.attestation as Partial<{ attestor: string; joinToken: unknown; tokenFile: unknown }> | undefined;
  const valid = a?.attestor === 'join_token' ? typeof a.joinToken === 'string' && a.joinToken !== '' : a?.attestor === 'k8s_psat' && typeof a.tokenFile === 'string' && a.tokenFile !== '';
  if (!valid) throw new TypeError("createWorkloadAgent: attestation must be {attestor: 'join_token', joinToken} or {attestor: 'k8s_psat', tokenFile}");
  if (options.pepCredential !== undefined && (typeof options.pepCredential !== 'string' || options.pepCredential === '')) throw new TypeError('createWorkloadAgent: pepCredential must be a non-empty string');
  for (const name of ['fetch', 'now', 'onError', 'random'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`createWorkloadAgent: ${name} must be a function`);
  }
}

/**
 * Create a workload agent. Nothing happens until `start()`.
 *
 * @example
 * ```ts
 * const agent = createWorkloadAgent({
 *   pdpUrl: 'https://verity.internal:8181', tenant: 'acme',
 *   attestation: { attestor: 'join_token', joinToken: await readFile('/run/verity/join-token', 'utf8') },
 * });
 * await agent.start();
 * const server = https.createServer(createMtlsContext({ source: agent }), app);
 * // on shutdown: await agent.close();
 * ```
 */
export function createWorkloadAgent(options: WorkloadAgentOptions): WorkloadAgent {
  checkOptions(options);
  const base = checkPdpUrl(options.pdpUrl, 'createWorkloadAgent');
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const pollIntervalMs = positive(options.pollIntervalMs, 5000, 'pollIntervalMs');
  const rootPropagationMs = positive(options.rootPropagationMs, 2 * pollIntervalMs, 'rootPropagationMs');
  const initialRetryMs = positive(options.initialRetryMs, 500, 'initialRetryMs');
  const maxRetryMs = positive(options.maxRetryMs, 30_000, 'maxRetryMs');
  const attestAttempts = positive(options.attestAttempts, 5, 'attestAttempts');
  const pdp: PdpClient = createPdpClient(base, options.tenant, options.fetch ?? globalThis.fetch);
  const attestor = options.attestation.attestor;
  // Held only until the first attestation succeeds: a join token is good once.
  let joinToken: string | null = options.attestation.attestor === 'join_token' ? options.attestation.joinToken.trim() : null;
  const tokenFile = options.attestation.attestor === 'k8s_psat' ? options.attestation.tokenFile : null;

  let svid: X509Svid | null = null;
  let bundle: TrustBundle | null = null;
  let denied: ReadonlySet<string> = new Set();
  let error: VerityError | null = new VerityError('ERR_STARTING', 'the workload agent has no SVID yet');
  /** When the bundle last gained a root. */
  let rootAddedAt = Number.NEGATIVE_INFINITY;
  let started: Promise<void> | undefined;
  let closed = false;
  const timers = new Map<'renew' | 'poll' | 'expiry' | 'switch', NodeJS.Timeout>();
  const listeners = createSourceListeners((failure) => report(failure));
  const jwtCache = new Map<string, { token: string; expiresAtMs: number; halfLifeAt: number }>();

  function report(failure: unknown): void {
    try {
      options.onError?.(failure);
    } catch {
      // A failing logger must not stop the agent.
    }
  }

  const notify = (): void => listeners.notify();

  function schedule(name: 'renew' | 'poll' | 'expiry' | 'switch', delayMs: number, run: () => void): void {
    clearTimeout(timers.get(name));
    if (closed) return;
    // setTimeout holds at most 2^31 − 1 ms (~24 days); SVIDs live at most a day, so this never cuts a wait short.
    const timer = setTimeout(run, Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
    timer.unref();
    timers.set(name, timer);
  }

  /** Drops an SVID that has expired: one that is no longer valid is never served. */
  function dropIfExpired(): void {
    if (svid === null || svid.expiresAtMs > now()) return;
    svid = null;
    const next = attestor === 'join_token' ? 'a join token works once: restart the agent with a new one' : 'attesting again';
    error = new VerityError('ERR_SVID_EXPIRED', `the SVID expired before it could be renewed; ${next}`);
    jwtCache.clear();
    report(error);
    notify();
  }

  function applyBundle(next: TrustBundle): void {
    if (bundle !== null) {
      if (next.sequence < bundle.sequence) return; // A lagging replica's older bundle.
      const same = next.sequence === bundle.sequence && JSON.stringify(next) === JSON.stringify(bundle);
      if (same) return;
      const known = new Set(bundle.x509Authorities);
      if (next.x509Authorities.some((root) => !known.has(root))) rootAddedAt = now();
    }
    bundle = next;
    notify();
  }

  function install(next: X509Svid): void {
    svid = next;
    error = null;
    jwtCache.clear();
    const received = now();
    schedule('expiry', next.expiresAtMs - received, dropIfExpired);
    // Renew at half the lifetime left (SPIRE does the same), so a failed renewal has the other half to retry.
    schedule('renew', (next.expiresAtMs - received) / 2, () => void renew(0));
    notify();
  }

  /**
   * Takes a renewed SVID: at once, unless the bundle gained a root moments ago (a CA rotation),
   * when the new SVID may chain to a root that peers do not trust yet.
   */
  function accept(next: X509Svid): void {
    const old = svid;
    const wait = rootAddedAt + rootPropagationMs - now();
    if (old === null || wait <= 0) return install(next);
    schedule('switch', Math.min(wait, (old.expiresAtMs - now()) / 2), () => {
      if (svid === old) install(next);
    });
    // The renewal timer follows the new SVID even while it waits.
    schedule('renew', (next.expiresAtMs - now()) / 2, () => void renew(0));
  }

  async function attest(): Promise<void> {
    const key = await generateSvidKey();
    const csr = await createCsr(key.privateKeyPem);
    let body: Record<string, string>;
    if (attestor === 'join_token') {
      if (joinToken === null) throw new VerityError('ERR_JOIN_TOKEN_INVALID', 'the join token was used already: restart the agent with a new one');
      body = { attestor, join_token: joinToken, csr };
    } else {
      const token = (await readFile(tokenFile as string, 'utf8')).trim();
      body = { attestor, token, csr };
    }
    const issued = readIssued(await pdp.post('attest', body), key.privateKeyPem, now);
    joinToken = null;
    if (closed) return;
    applyBundle(issued.bundle);
    install(issued.svid);
  }

  function retryDelay(attempt: number): number {
    return random() * Math.min(maxRetryMs, initialRetryMs * 2 ** attempt);
  }

  /** Renews with a proof made with the current SVID's key; without a valid SVID, re-attests if the attestor allows. */
  async function renew(attempt: number): Promise<void> {
    if (closed) return;
    dropIfExpired();
    const held = svid;
    try {
      if (held === null) {
        // A join token works once; a Kubernetes token can prove the workload again.
        if (attestor === 'join_token') return;
        await attest();
        return;
      }
      const key = await generateSvidKey();
      const csr = await createCsr(key.privateKeyPem);
      const { der } = await verifyCsr(csr);
      const proof = await createSvidProof({ svid: held, audience: pdp.endpoint('renew'), csrDer: der, now });
      const issued = readIssued(await pdp.post('renew', { proof, csr }), key.privateKeyPem, now);
      if (closed) return;
      applyBundle(issued.bundle);
      accept(issued.svid);
    } catch (failure) {
      if (closed) return;
      report(failure);
      // Retry sooner than the SVID runs out; past that, drop it (the expiry timer does) and keep trying.
      const left = held === null ? Number.POSITIVE_INFINITY : held.expiresAtMs - now();
      schedule('renew', Math.min(retryDelay(attempt), Math.max(left / 2, 50)), () => void renew(attempt + 1));
    }
  }

  async function refresh(): Promise<void> {
    const tasks: Array<Promise<void>> = [];
    // The trust domain is known from the first attestation on; before it there is nothing to refresh.
    const trustDomain = bundle?.trustDomain;
    if (trustDomain !== undefined) {
      tasks.push(
        pdp.get('bundle').then(({ body, headers }) => {
          if (!closed) applyBundle(readBundle(trustDomain, body, headers.get('x-verity-bundle-sequence')));
        }),
      );
    }
    if (options.pepCredential !== undefined) {
      tasks.push(
        pdp.get('denied', options.pepCredential).then(({ body }) => {
          const next = readDenied(body);
          if (closed || (next.size === denied.size && [...next].every((id) => denied.has(id)))) return;
          denied = next;
          notify();
        }),
      );
    }
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  function poll(): void {
    // The bundle's refresh hint may ask for sooner than the poll interval.
    const hintMs = bundle === null ? pollIntervalMs : Math.max(1000, bundle.refreshHintSec * 1000);
    schedule('poll', Math.min(pollIntervalMs, hintMs), () => {
      refresh().catch(report).finally(() => {
        dropIfExpired();
        poll();
      });
    });
  }

  async function firstAttestation(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await attest();
        break;
      } catch (failure) {
        const retriable = (failure as { retriable?: unknown }).retriable === true;
        if (closed || !retriable || attempt + 1 >= attestAttempts) throw failure;
        report(failure);
        await new Promise((wake) => setTimeout(wake, retryDelay(attempt)).unref());
      }
    }
    if (options.pepCredential !== undefined) await refresh().catch(report);
    poll();
  }

  function current(): ReturnType<SvidSource['current']> {
    dropIfExpired();
    if (svid === null || bundle === null) throw error ?? new VerityError('ERR_STARTING', 'the workload agent has no SVID yet');
    return { svid, bundle, denied };
  }

  return {
    start() {
      if (closed) return Promise.reject(new VerityError('ERR_SHUTTING_DOWN', 'the workload agent is closed'));
      started ??= firstAttestation();
      return started;
    },
    state() {
      dropIfExpired();
      return { svid, bundle, denied, error };
    },
    current,
    subscribe: listeners.subscribe,
    async jwtSvid(audience) {
      if (!Array.isArray(audience) || audience.length === 0 || !audience.every((aud) => typeof aud === 'string' && aud !== '')) {
        throw new VerityError('ERR_REQUEST_INVALID', 'audience must be a non-empty array of non-empty strings');
      }
      const { svid: held } = current();
      const key = JSON.stringify([...new Set(audience)].sort());
      const cached = jwtCache.get(key);
      if (cached !== undefined && cached.halfLifeAt > now()) return { token: cached.token, expiresAtMs: cached.expiresAtMs };
      const proof = await createSvidProof({ svid: held, audience: pdp.endpoint('jwt-svid'), now });
      const issued = readJwtSvid(await pdp.post('jwt-svid', { proof, audience }));
      const issuedAt = now();
      if (jwtCache.size >= JWT_CACHE_SIZE) jwtCache.delete(jwtCache.keys().next().value as string);
      if (svid === held) jwtCache.set(key, { ...issued, halfLifeAt: issuedAt + (issued.expiresAtMs - issuedAt) / 2 });
      return issued;
    },
    refresh,
    async close() {
      closed = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      listeners.clear();
      joinToken = null;
    },
  };
}
