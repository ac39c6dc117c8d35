/**
 * Loads a tenant's signed policy bundle from the PDP and keeps the last one that verified: an
 * unverifiable, expired or replayed bundle is reported and never replaces a good one. A bundle
 * verifies only with a key given out of band (a JWKS, or pinned RFC 7638 thumbprints).
 */
import { verifyBundle, type PolicyBundle, type VerifyBundleOptions } from '@verity/identity';
import { bundleStateFile, isBundleState, replayReason, type BundleState, type BundleStateStore } from './bundle-state.js';
import { EnforceError, isEnforceError } from './errors.js';
import { checkCommonOptions, positive, requestPdp, tenantBase } from './pdp-request.js';

export type { BundleState, BundleStateStore } from './bundle-state.js';

/** A JWKS document (jose's `JSONWebKeySet`, named through identity so enforce needs no jose). */
export type Jwks = VerifyBundleOptions['keys'];

export interface BundleLoaderOptions {
  /** The PDP's base URL. */
  url: string;
  tenant: string;
  /** The PEP's Verity credential: a `pep-local` credential for the tenant (reading a bundle is never open). */
  credential?: string;
  /**
   * The tenant's bundle keys, configured out of band (`verity tenant bundle-key TENANT --json`).
   * With it no key is fetched. Give this or `bundleKeyThumbprints`.
   */
  bundleKeys?: Jwks;
  /**
   * RFC 7638 SHA-256 thumbprints (base64url) of the bundle keys to trust, configured out of band
   * (`verity tenant bundle-key TENANT` prints them). Keys are fetched from `/tenants/{t}/bundle/keys`
   * and any whose own thumbprint is not listed is ignored. List two while moving to a new key.
   */
  bundleKeyThumbprints?: readonly string[];
  /**
   * Where the newest accepted bundle's version and issue time are kept across restarts: a file
   * path, or a store. With it a restarted PEP refuses a replayed older bundle. Without it, it
   * is remembered only while the process runs.
   */
  bundleState?: string | BundleStateStore;
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds (default `Date.now`): bundle expiry is checked against it. */
  now?: () => number;
  /** Budget for each bundle or key request, in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Told about every failed refresh; the last good bundle stays in use. */
  onError?: (error: EnforceError) => void;
}

export interface BundleLoader {
  /** The last bundle that verified, or null when none did or it has expired (then decide nothing). */
  current(): PolicyBundle | null;
  /**
   * Fetch and verify the bundle now. Resolves with the bundle in use afterwards; rejects with an
   * {@link EnforceError} when the new one could not be had or did not verify (the old one stays).
   * Calls during a refresh share one further refresh, which starts when the running one ends.
   */
  refresh(): Promise<PolicyBundle>;
  /** Why the last refresh failed, or null when it succeeded. */
  readonly lastError: EnforceError | null;
  /** When the bundle in use stops being valid (its `exp`), in epoch milliseconds. */
  readonly expiresAt: number | null;
  /** The tenant's issuer, `{url}/tenants/{tenant}`: bundles and its token service's tokens name it. */
  readonly issuer: string;
}

const OPTION_KEYS = new Set(['url', 'tenant', 'credential', 'bundleKeys', 'bundleKeyThumbprints', 'bundleState', 'fetch', 'now', 'timeoutMs', 'onError']);
const CALLER = 'createBundleLoader';
/** A base64url SHA-256 digest: 43 characters. */
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/** `iat` and `exp` of a JWT whose signature has already been checked. */
function timesOf(token: string): { iat: number; exp: number } {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown; exp?: unknown };
  return { iat: typeof payload.iat === 'number' ? payload.iat : 0, exp: typeof payload.exp === 'number' ? payload.exp : 0 };
}

function refused(message: string, cause?: unknown): EnforceError {
  // The PDP's answer is unusable: the same failure class as an answer that is not a decision.
  return new EnforceError('ERR_ENFORCE_PDP_RESPONSE', message, cause === undefined ? {} : { cause });
}

function stateFailure(message: string, cause: unknown): EnforceError {
  return new EnforceError('ERR_ENFORCE_BUNDLE_STATE', message, { cause });
}

/** The pinning options, checked: at least one key or thumbprint, each well-formed. */
function checkPinning(options: BundleLoaderOptions): void {
  const { bundleKeys, bundleKeyThumbprints: thumbprints } = options;
  if (bundleKeys === undefined && thumbprints === undefined) {
    throw new TypeError(`${CALLER}: give bundleKeys or bundleKeyThumbprints (the bundle key, configured out of band; see verity tenant bundle-key)`);
  }
  if (bundleKeys !== undefined && (!Array.isArray(bundleKeys?.keys) || bundleKeys.keys.length === 0)) throw new TypeError(`${CALLER}: bundleKeys must be a JWKS with at least one key`);
  if (thumbprints !== undefined && (!Array.isArray(thumbprints) || thumbprints.length === 0 || !thumbprints.every((t) => typeof t === 'string' && THUMBPRINT.test(t)))) {
    throw new TypeError(`${CALLER}: bundleKeyThumbprints must be RFC 7638 SHA-256 thumbprints (43 base64url characters)`);
  }
  const state = options.bundleState;
  if (state !== undefined && typeof state !== 'string' && (typeof state?.load !== 'function' || typeof state.save !== 'function')) {
    throw new TypeError(`${CALLER}: bundleState must be a file path or a store with load() and save()`);
  }
}

/**
 * Create a loader for one tenant's policy bundle (`GET {url}/tenants/{tenant}/bundle`), verified
 * with `verifyBundle` against the bundle keys pinned out of band. Nothing is fetched until `refresh()`.
 *
 * @example
 * ```ts
 * const loader = createBundleLoader({
 *   url: 'http://verity.internal:8181', tenant: 'acme', credential: process.env.VERITY_PEP_TOKEN,
 *   bundleKeyThumbprints: [process.env.VERITY_BUNDLE_KEY!], bundleState: '/var/lib/orders/verity-bundle.json',
 * });
 * await loader.refresh();
 * loader.current()?.version; // the active policy version
 * ```
 */
export function createBundleLoader(options: BundleLoaderOptions): BundleLoader {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`${CALLER}: unknown option "${key}"`);
  checkCommonOptions(options, CALLER);
  checkPinning(options);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError(`${CALLER}: onError must be a function`);
  const issuer = tenantBase(options.url, options.tenant, CALLER);
  const { tenant, credential } = options;
  const pinned = options.bundleKeyThumbprints === undefined ? undefined : [...options.bundleKeyThumbprints];
  const configuredKeys = options.bundleKeys;
  const stateStore = typeof options.bundleState === 'string' ? bundleStateFile(options.bundleState) : options.bundleState;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const timeoutMs = positive(options.timeoutMs, 5000, 'timeoutMs', CALLER);
  const get = (url: string) => requestPdp(url, { fetch: fetchImpl, method: 'GET', credential, timeoutMs });

  let good: { bundle: PolicyBundle; expiresAt: number } | null = null;
  /** The newest bundle accepted, by this process or (through the store) an earlier one. */
  let accepted: BundleState | undefined;
  let stateLoaded = false;
  let fetchedKeys: Jwks | null = null;
  let lastError: EnforceError | null = null;
  let running: Promise<PolicyBundle> | null = null;
  let queued: Promise<PolicyBundle> | null = null;

  async function fetchKeys(): Promise<Jwks> {
    const body = (await get(`${issuer}/bundle/keys`)) as { keys?: unknown } | undefined;
    if (!Array.isArray(body?.keys)) throw refused("the tenant's bundle keys are not a key set");
    fetchedKeys = { keys: body.keys } as Jwks;
    return fetchedKeys;
  }

  async function verify(token: string): Promise<PolicyBundle> {
    const verifyWith = (keys: Jwks) => verifyBundle(token, { issuer, tenant, keys, now, ...(pinned === undefined ? {} : { thumbprints: pinned }) });
    try {
      if (configuredKeys !== undefined) return await verifyWith(configuredKeys);
      if (fetchedKeys) {
        try {
          return await verifyWith(fetchedKeys);
        } catch {
          // Perhaps the PDP moved to another pinned key: one more try with the keys as published now.
        }
      }
      return await verifyWith(await fetchKeys());
    } catch (error) {
      if (isEnforceError(error)) throw error;
      if ((error as { code?: unknown }).code === 'ERR_TOKEN_UNKNOWN_KEY') throw new EnforceError('ERR_ENFORCE_BUNDLE_KEY', 'the policy bundle is not signed by a pinned bundle key', { cause: error });
      throw refused('the policy bundle does not verify', error);
    }
  }

  async function loadState(): Promise<void> {
    if (stateLoaded || stateStore === undefined) return;
    let saved: BundleState | undefined;
    try {
      saved = await stateStore.load();
    } catch (error) {
      throw stateFailure('the bundle state could not be read', error);
    }
    if (saved !== undefined && (!isBundleState(saved) || saved.tenant !== tenant)) throw stateFailure(`the bundle state is not a state of tenant "${tenant}"`, undefined);
    accepted = saved;
    stateLoaded = true;
  }

  async function load(): Promise<PolicyBundle> {
    try {
      // Before anything is fetched: what was accepted before a restart must be known.
      await loadState();
      const body = (await get(`${issuer}/bundle`)) as { bundle?: unknown } | undefined;
      if (typeof body?.bundle !== 'string') throw refused('the PDP answered without a bundle');
      const bundle = await verify(body.bundle);
      const { iat, exp } = timesOf(body.bundle);
      const state: BundleState = { tenant, version: bundle.version, hash: bundle.hash, issuedAt: iat };
      const replay = accepted === undefined ? null : replayReason(accepted, state);
      if (replay !== null) throw new EnforceError('ERR_ENFORCE_BUNDLE_REPLAYED', replay);
      if (stateStore !== undefined) {
        // Kept before use: a bundle in use is one a restart will not go back behind.
        await stateStore.save(state).catch((error: unknown) => Promise.reject(stateFailure('the bundle state could not be saved', error)));
      }
      accepted = state;
      good = { bundle, expiresAt: exp * 1000 };
      lastError = null;
      return bundle;
    } catch (error) {
      lastError = isEnforceError(error) ? error : refused('the policy bundle could not be loaded', error);
      try {
        options.onError?.(lastError);
      } catch {
        // A failing logger must not change which bundle is used.
      }
      throw lastError;
    }
  }

  function refresh(): Promise<PolicyBundle> {
    if (running === null) {
      running = load().finally(() => (running = null));
      return running;
    }
    // The running refresh may have fetched before the change that prompted this call.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return refresh();
      });
    return queued;
  }

  return {
    current: () => (good !== null && now() < good.expiresAt ? good.bundle : null),
    refresh,
    get lastError() {
      return lastError;
    },
    get expiresAt() {
      return good?.expiresAt ?? null;
    },
    issuer,
  };
}
