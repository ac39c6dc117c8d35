/**
 * Loads a tenant's signed policy bundle from the PDP and keeps the last one that verified: an
 * unverifiable, expired or replayed bundle is reported and never replaces a good one.
 */
import { verifyBundle, type PolicyBundle, type VerifyBundleOptions } from '@verity/identity';
import { EnforceError, isEnforceError } from './errors.js';
import { checkCommonOptions, positive, requestPdp, tenantBase } from './pdp-request.js';

export interface BundleLoaderOptions {
  /** The PDP's base URL. */
  url: string;
  tenant: string;
  /** The PEP's Verity credential (a `decide` credential): the bundle route always requires one unless decisions are open. */
  credential?: string;
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds (default `Date.now`): bundle expiry is checked against it. */
  now?: () => number;
  /** Budget for each bundle or JWKS request, in milliseconds (default 5000). */
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

/** A JWKS document (jose's `JSONWebKeySet`, named through identity so enforce needs no jose). */
type Jwks = Exclude<VerifyBundleOptions['keys'], URL>;

const OPTION_KEYS = new Set(['url', 'tenant', 'credential', 'fetch', 'now', 'timeoutMs', 'onError']);
const CALLER = 'createBundleLoader';

/** `iat` and `exp` of a JWT whose signature has already been checked. */
function timesOf(token: string): { iat: number; exp: number } {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown; exp?: unknown };
  return { iat: typeof payload.iat === 'number' ? payload.iat : 0, exp: typeof payload.exp === 'number' ? payload.exp : 0 };
}

function refused(message: string, cause?: unknown): EnforceError {
  // The PDP's answer is unusable: the same failure class as an answer that is not a decision.
  return new EnforceError('ERR_ENFORCE_PDP_RESPONSE', message, cause === undefined ? {} : { cause });
}

/**
 * Create a loader for one tenant's policy bundle (`GET {url}/tenants/{tenant}/bundle`), verified
 * with `verifyBundle` against the tenant's JWKS. Nothing is fetched until `refresh()`.
 *
 * @example
 * ```ts
 * const loader = createBundleLoader({ url: 'http://verity.internal:8181', tenant: 'acme', credential: process.env.VERITY_PEP_TOKEN });
 * await loader.refresh();
 * loader.current()?.version; // the active policy version
 * ```
 */
export function createBundleLoader(options: BundleLoaderOptions): BundleLoader {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`${CALLER}: unknown option "${key}"`);
  checkCommonOptions(options, CALLER);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError(`${CALLER}: onError must be a function`);
  const issuer = tenantBase(options.url, options.tenant, CALLER);
  const { tenant, credential } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const timeoutMs = positive(options.timeoutMs, 5000, 'timeoutMs', CALLER);
  const get = (url: string) => requestPdp(url, { fetch: fetchImpl, method: 'GET', credential, timeoutMs });

  let good: { bundle: PolicyBundle; iat: number; expiresAt: number } | null = null;
  let jwks: Jwks | null = null;
  let lastError: EnforceError | null = null;
  let running: Promise<PolicyBundle> | null = null;
  let queued: Promise<PolicyBundle> | null = null;

  async function fetchJwks(): Promise<Jwks> {
    const body = (await get(`${issuer}/.well-known/jwks.json`)) as { keys?: unknown } | undefined;
    if (!Array.isArray(body?.keys)) throw refused("the tenant's JWKS is not a key set");
    jwks = body as Jwks;
    return jwks;
  }

  async function verify(token: string): Promise<PolicyBundle> {
    const verifyWith = (keys: Jwks) => verifyBundle(token, { issuer, tenant, keys, now });
    if (jwks) {
      try {
        return await verifyWith(jwks);
      } catch {
        // Perhaps the key rotated: one more try with the JWKS as published now.
      }
    }
    try {
      return await verifyWith(await fetchJwks());
    } catch (error) {
      throw isEnforceError(error) ? error : refused('the policy bundle does not verify', error);
    }
  }

  async function load(): Promise<PolicyBundle> {
    try {
      const body = (await get(`${issuer}/bundle`)) as { bundle?: unknown } | undefined;
      if (typeof body?.bundle !== 'string') throw refused('the PDP answered without a bundle');
      const bundle = await verify(body.bundle);
      const { iat, exp } = timesOf(body.bundle);
      // A bundle signed before the one in use is a replay (or a lagging replica): keep ours.
      if (good && iat < good.iat) throw refused('the policy bundle is older than the one in use');
      good = { bundle, iat, expiresAt: exp * 1000 };
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
