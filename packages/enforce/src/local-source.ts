/**
 * The local decision source: decides in-process with the core engine on the tenant's signed
 * policy bundle (verified with a key pinned out of band), kept current from the PDP's change
 * stream and renewed before it expires, and ships its decisions to the PDP's audit. Without a
 * verified, unexpired bundle it decides nothing (the enforcer fails closed). A decision that
 * needs a data-tier receipt is the PDP's: only the PDP holds the keys that mint receipts; so is
 * one that carries a Txn-Token (the PDP verifies it).
 */
import { isRequestId, isTierLabel, type Engine, type VerifiedPrincipal } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { createTokenVerifier, type PolicyBundle } from '@verity/identity';
import type { AuditShipper } from './audit-shipper.js';
import { createBundleDecider, type BundleDecider } from './bundle-decider.js';
import { createBundleLoader, type BundleLoaderOptions } from './bundle-loader.js';
import { createChangeFollower, type ChangeFollower } from './change-follower.js';
import { EnforceError, isEnforceError } from './errors.js';
import { checkCommonOptions, positive } from './pdp-request.js';
import { createRemoteDecisionSource } from './remote-source.js';
import type { Decision, DecisionSource } from './types.js';

export interface LocalDecisionSourceOptions {
  /** The PDP's base URL. */
  url: string;
  /** The one tenant this source decides for (its bundle holds only that tenant). */
  tenant: string;
  /** The PEP's Verity credential, a `pep-local` one for the tenant: for the bundle, the change stream, the keys, and the decisions that need a receipt. */
  credential?: string;
  /** The tenant's bundle keys, configured out of band. Give this or `bundleKeyThumbprints` (see {@link BundleLoaderOptions}). */
  bundleKeys?: BundleLoaderOptions['bundleKeys'];
  /** RFC 7638 thumbprints of the bundle keys to trust, as `verity tenant bundle-key TENANT` prints them. */
  bundleKeyThumbprints?: readonly string[];
  /** A file path or store keeping the newest accepted bundle across restarts, so a replayed older one is refused. */
  bundleState?: BundleLoaderOptions['bundleState'];
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds (default `Date.now`): bundle expiry, token times, audit times. */
  now?: () => number;
  /**
   * Follow the change stream and reload the bundle on every change and reconnect (default true).
   * Without it the bundle is only reloaded every `refreshIntervalMs`: decisions may lag changes.
   */
  follow?: boolean;
  /**
   * Where decisions go to be audited by the PDP: each decision is answered only once the shipper
   * took its record (durably, with a `spoolDir`), else it fails closed. Without one, local
   * decisions are not audited.
   */
  shipper?: AuditShipper;
  /** The engine; default the process's shared Cedar engine (`sharedCedarEngine()`). */
  engine?: Engine;
  /**
   * Reload the bundle at least this often even without a change (default 300 000 ms): catches
   * changes a broken stream missed. It is reloaded sooner when half its remaining life is
   * shorter (bundles last 10 minutes by default), so it is renewed before it expires.
   */
  refreshIntervalMs?: number;
  /** Budget for each bundle or JWKS request, in ms (default 5000). */
  timeoutMs?: number;
  /** While there is no bundle, retry after this delay, doubled per failure up to `maxMs` (defaults 250, 10 000). */
  retryBackoff?: { initialMs?: number; maxMs?: number };
  /** Told about failed bundle loads and change-stream failures (the source recovers by itself). */
  onError?: (error: unknown) => void;
  /**
   * Bounded staleness: decide only while the PDP was heard from within this many ms (default
   * 30 000) — a bundle loaded, or anything on the change stream, whose heartbeat comes every
   * 15 s. Past it every decision fails closed (`ERR_ENFORCE_PDP_CONTACT_LOST`) until contact is
   * back, so a PEP cut off from the PDP does not go on deciding on a policy that may have been
   * replaced. The bundle's expiry caps it either way. Keep it above 15 s with `follow` on; with
   * `follow: false` the bundle is reloaded every third of it to keep contact.
   */
  maxContactLossMs?: number;
}

export interface LocalDecisionSource extends DecisionSource {
  /** Settles once the first bundle load was tried (it never rejects; `policyVersion` says if it worked). */
  readonly ready: Promise<void>;
  /** The version of the bundle in use, or null when there is none (then every decision fails closed). */
  readonly policyVersion: number | null;
  /** Milliseconds since the PDP was last heard from (bundle load or change stream), or null before the first bundle. */
  readonly contactAgeMs: number | null;
  /** Reload the bundle now; rejects (keeping the old one) when the new one cannot be had or verified. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** A SPIFFE id's outline, as the PDP checks a shipped record's caller (the mTLS helper parsed it fully). */
function isSpiffeIdText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2048 && /^spiffe:\/\/[a-z0-9._-]+(\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)*$/.test(value);
}

const OPTION_KEYS = new Set(['url', 'tenant', 'credential', 'bundleKeys', 'bundleKeyThumbprints', 'bundleState', 'fetch', 'now', 'follow', 'shipper', 'engine', 'refreshIntervalMs', 'timeoutMs', 'retryBackoff', 'onError', 'maxContactLossMs']);
const CALLER = 'createLocalDecisionSource';
/** Never reload more often than this to renew a bundle (a short-lived bundle halves toward it). */
const MIN_RENEW_MS = 500;

function unauthenticated(code: string): Decision {
  return { decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code };
}

/**
 * Create a local decision source for one tenant. It starts loading the bundle at once; until one
 * verified, and once the only one has expired, `decide` rejects with the reason (an
 * {@link EnforceError}) and the enforcer answers 503. A request with `receipt` is sent to the
 * PDP's evaluation endpoint instead (with `credential`, as {@link createRemoteDecisionSource}
 * would: 1 s budget, 2 retries) and answered with the PDP's decision and receipt.
 *
 * @example
 * ```ts
 * const url = 'http://verity.internal:8181';
 * const credential = process.env.VERITY_PEP_TOKEN; // a pep-local credential for acme
 * const shipper = createAuditShipper({ url, tenant: 'acme', credential, spoolDir: '/var/lib/orders/verity-audit' });
 * const source = createLocalDecisionSource({
 *   url, tenant: 'acme', credential, shipper,
 *   bundleKeyThumbprints: [process.env.VERITY_BUNDLE_KEY!], // from `verity tenant bundle-key acme`
 *   bundleState: '/var/lib/orders/verity-bundle.json',
 * });
 * await source.ready;
 * const enforcer = createEnforcer({ source, tenant: 'acme', audience: 'https://api.acme.example', tier: 'orders' });
 * ```
 */
export function createLocalDecisionSource(options: LocalDecisionSourceOptions): LocalDecisionSource {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`${CALLER}: unknown option "${key}"`);
  checkCommonOptions(options, CALLER);
  if (options.shipper !== undefined && typeof options.shipper.ship !== 'function') throw new TypeError(`${CALLER}: shipper must be an AuditShipper`);
  if (options.shipper !== undefined && options.shipper.tenant !== options.tenant) throw new TypeError(`${CALLER}: the shipper feeds another tenant's audit`);
  if (options.follow !== undefined && typeof options.follow !== 'boolean') throw new TypeError(`${CALLER}: follow must be a boolean`);
  const refreshIntervalMs = positive(options.refreshIntervalMs, 300_000, 'refreshIntervalMs', CALLER);
  const initialMs = positive(options.retryBackoff?.initialMs, 250, 'retryBackoff.initialMs', CALLER);
  const maxMs = positive(options.retryBackoff?.maxMs, 10_000, 'retryBackoff.maxMs', CALLER);
  const maxContactLossMs = positive(options.maxContactLossMs, 30_000, 'maxContactLossMs', CALLER);
  // Without the stream, bundle loads are the only contact: often enough to keep it.
  const reloadEveryMs = options.follow === false ? Math.min(refreshIntervalMs, maxContactLossMs / 3) : refreshIntervalMs;
  const { tenant, credential, shipper } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const engine = options.engine ?? sharedCedarEngine();
  const verifier = createTokenVerifier({ now, fetch: fetchImpl });
  // Receipts are minted by the PDP alone: a request asking for one is decided there (with the
  // remote source's budget and retries), never in-process.
  const pdp = createRemoteDecisionSource({ url: options.url, fetch: fetchImpl, ...(credential === undefined ? {} : { credential }) });

  function report(error: unknown): void {
    try {
      options.onError?.(error);
    } catch {
      // A failing logger must not stop the source.
    }
  }

  const loader = createBundleLoader({
    url: options.url,
    tenant,
    fetch: fetchImpl,
    now,
    onError: report,
    ...(credential === undefined ? {} : { credential }),
    ...(options.bundleKeys === undefined ? {} : { bundleKeys: options.bundleKeys }),
    ...(options.bundleKeyThumbprints === undefined ? {} : { bundleKeyThumbprints: options.bundleKeyThumbprints }),
    ...(options.bundleState === undefined ? {} : { bundleState: options.bundleState }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });

  let decider: { bundle: PolicyBundle; ready: Promise<BundleDecider> } | null = null;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  /** When the PDP was last heard from (epoch ms, `now`), or null before the first bundle. */
  let lastContactAt: number | null = null;
  const heard = () => {
    lastContactAt = now();
  };

  /** The decider for the bundle in use, built once per bundle (a failed build is tried again). */
  function deciderFor(bundle: PolicyBundle): Promise<BundleDecider> {
    if (decider?.bundle !== bundle) {
      const ready = createBundleDecider({ engine, bundle, issuer: loader.issuer, verifier, now }).then((built) => {
        // Verified tokens are cached; the new bundle's sources and revocations must decide again.
        verifier.purge(() => true);
        if (built.skippedSources.length > 0) report(new Error(`identity sources that do not parse were skipped: ${built.skippedSources.join(', ')}`));
        return built;
      });
      const entry = { bundle, ready };
      decider = entry;
      ready.catch(() => {
        if (decider === entry) decider = null;
      });
    }
    return decider.ready;
  }

  function scheduleRetry(): void {
    if (closed || retryTimer !== undefined) return;
    const ceiling = Math.min(maxMs, initialMs * 2 ** failures);
    failures += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void load().catch(() => undefined);
    }, ceiling);
    retryTimer.unref();
  }

  /** The next reload while a bundle is in use: every `refreshIntervalMs`, or at half its remaining life if sooner. */
  function scheduleRenewal(): void {
    clearTimeout(renewTimer);
    if (closed) return;
    const left = (loader.expiresAt ?? Number.POSITIVE_INFINITY) - now();
    renewTimer = setTimeout(() => void load().catch(() => undefined), Math.min(reloadEveryMs, Math.max(MIN_RENEW_MS, left / 2)));
    renewTimer.unref();
  }

  /** Reload; on success prepare the new bundle off the request path, on failure retry while there is none. */
  async function load(): Promise<void> {
    try {
      const bundle = await loader.refresh();
      heard();
      failures = 0;
      await deciderFor(bundle).catch(report);
    } catch (error) {
      if (loader.current() === null) scheduleRetry();
      throw error;
    } finally {
      if (loader.current() !== null) scheduleRenewal();
    }
  }

  const ready = load().catch(() => undefined);
  const follower: ChangeFollower | undefined =
    options.follow === false
      ? undefined
      : createChangeFollower({
          url: options.url,
          tenant,
          fetch: fetchImpl,
          onError: report,
          onContact: heard,
          // Every change, and every (re)connect (changes may have been missed): load the bundle again.
          onChange: () => void load().catch(() => undefined),
          ...(credential === undefined ? {} : { credential }),
        });

  async function currentDecider(): Promise<BundleDecider> {
    if (loader.current() === null) await ready;
    const bundle = loader.current();
    if (bundle === null && loader.expiresAt !== null) {
      // The only bundle has expired (none newer could be had): decide nothing until one comes.
      scheduleRetry();
      const why = loader.lastError;
      throw new EnforceError('ERR_ENFORCE_BUNDLE_EXPIRED', `the policy bundle expired${why ? ` and none newer could be had: ${why.message}` : ''}`, why ? { cause: why } : {});
    }
    if (bundle === null) {
      const why = loader.lastError;
      throw new EnforceError(why?.code ?? 'ERR_ENFORCE_UNAVAILABLE', `no verified policy bundle${why ? `: ${why.message}` : ''}`, {
        ...(why?.pdpStatus === undefined ? {} : { pdpStatus: why.pdpStatus }),
        ...(why?.pdpCode === undefined ? {} : { pdpCode: why.pdpCode }),
        ...(why ? { cause: why } : {}),
      });
    }
    const silentMs = lastContactAt === null ? 0 : now() - lastContactAt;
    if (silentMs > maxContactLossMs) {
      // The bundle may already be replaced at the PDP: decide nothing until we hear from it.
      scheduleRetry();
      throw new EnforceError('ERR_ENFORCE_PDP_CONTACT_LOST', `no contact with the PDP for ${Math.round(silentMs)} ms (bound ${maxContactLossMs} ms)`);
    }
    return deciderFor(bundle);
  }

  return {
    ready,
    get policyVersion() {
      return loader.current()?.version ?? null;
    },
    get contactAgeMs() {
      return lastContactAt === null ? null : now() - lastContactAt;
    },

    async decide(request) {
      if (request.tenant !== tenant) throw new EnforceError('ERR_ENFORCE_PDP_REFUSED', `this local source decides for tenant "${tenant}" only`);
      // The PDP audits its own decision: nothing to ship. A Txn-Token is verified by the PDP,
      // which holds the token service's keys and the tenant's trust domain.
      if (request.receipt || request.txnToken !== undefined) return pdp.decide(request);
      const caller = request.context.caller;
      // The PDP refuses a shipped record whose caller is not a SPIFFE id: refuse it here instead.
      if (caller !== undefined && caller !== null && !isSpiffeIdText(caller)) throw new EnforceError('ERR_ENFORCE_PDP_REFUSED', 'context.caller must be a SPIFFE id or null');
      const active = await currentDecider();
      let verified: VerifiedPrincipal | undefined;
      if (request.token !== undefined) {
        const outcome = await active.authenticate(request.token, request.audience);
        if ('code' in outcome) return unauthenticated(outcome.code);
        verified = outcome;
      }
      const record = await active.decide(request, verified, {
        // What the PDP's audit keeps as request id and tier; anything else is recorded as null.
        requestId: isRequestId(request.requestId) ? request.requestId : null,
        tier: isTierLabel(request.tier) ? request.tier : null,
        ...(request.observe ? { observed: true } : {}),
        ...(typeof caller === 'string' ? { caller } : {}),
      });
      // Answered only once its record is durable (with a spool): else the decision fails closed.
      if (shipper) await shipper.append(record).catch((error: unknown) => Promise.reject(isEnforceError(error) ? error : new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', 'the decision record could not be kept', { cause: error })));
      return {
        decision: record.decision,
        decisionId: record.decisionId,
        policyVersion: record.policyVersion,
        reasons: record.reasons,
        ...(record.validUntilMs === undefined ? {} : { cacheUntil: record.validUntilMs }),
      };
    },

    refresh: load,

    async close() {
      closed = true;
      clearTimeout(renewTimer);
      clearTimeout(retryTimer);
      follower?.close();
    },
  };
}
