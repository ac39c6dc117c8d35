import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleKeyThumbprints, createMemorySigningKeyStore, createSigningKeyRing, type PolicyBundle } from '@verity/identity';
import { createBundleLoader, type BundleLoaderOptions, type BundleState, type BundleStateStore } from './bundle-loader.js';
import type { EnforceError } from './errors.js';
import { startFakePdp, type FakePdp } from './local-test-helpers.js';

const BUNDLE: PolicyBundle = {
  tenant: 'acme',
  version: 3,
  hash: 'a'.repeat(64),
  content: { validationMode: 'off', policies: { p: 'permit(principal, action == Action::"read", resource);' }, templates: {}, links: [] },
  settings: {},
  entities: [{ uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [] }],
  identitySources: [],
  revocations: [],
};

let pdp: FakePdp;

/** A loader that pins the fake PDP's bundle key by thumbprint, as an operator configures it. */
const loaderFor = (options: Partial<BundleLoaderOptions> = {}) => createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeyThumbprints: pdp.pinned, ...options });

/** A state store in memory, shared by the loaders of one test as a file is by restarts of one PEP. */
function memoryState(): BundleStateStore & { saved: BundleState | undefined } {
  const store = {
    saved: undefined as BundleState | undefined,
    load: async () => store.saved,
    save: async (state: BundleState) => void (store.saved = state),
  };
  return store;
}

beforeEach(async () => {
  pdp = await startFakePdp(structuredClone(BUNDLE));
});
afterEach(async () => {
  await pdp.close();
});

describe('createBundleLoader', () => {
  it('loads the bundle with the credential and verifies it against the pinned bundle key', async () => {
    const seen: Array<string | null> = [];
    const counting: typeof fetch = (input, init) => (seen.push(new Headers(init?.headers).get('authorization')), fetch(input, init));
    const loader = loaderFor({ credential: 'vrt_pep', fetch: counting });
    expect(loader.current()).toBeNull();
    expect(loader.issuer).toBe(pdp.issuer);
    expect(await loader.refresh()).toEqual(BUNDLE);
    expect(loader.current()).toEqual(BUNDLE);
    expect(loader.lastError).toBeNull();
    expect(loader.expiresAt).toBeGreaterThan(Date.now() + 500_000);
    expect(pdp.paths).toEqual(['/tenants/acme/bundle', '/tenants/acme/bundle/keys']);
    expect(seen).toEqual(['Bearer vrt_pep', 'Bearer vrt_pep']);
    // The keys are kept: a second load fetches only the bundle.
    await loader.refresh();
    expect(pdp.paths.filter((p) => p.endsWith('/keys'))).toHaveLength(1);
  });

  it('with the key set configured, fetches no key at all', async () => {
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeys: await pdp.bundleRing.jwks() });
    expect((await loader.refresh()).version).toBe(3);
    expect(pdp.paths).toEqual(['/tenants/acme/bundle']);
  });

  it('refuses a bundle signed by a key that is not pinned, even when the channel serves that key with it', async () => {
    const errors: EnforceError[] = [];
    const pinned = loaderFor({ onError: (error) => errors.push(error) });
    const configured = createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeys: await pdp.bundleRing.jwks() });
    const good = await pinned.refresh();
    await configured.refresh();
    // Whoever controls the channel signs their own bundle and serves their own key at /bundle/keys.
    pdp.bundleRing = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    pdp.bundle = { ...BUNDLE, version: 4, content: { ...BUNDLE.content, policies: { backdoor: 'permit(principal, action, resource);' } } };
    await expect(pinned.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_KEY' });
    await expect(configured.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_KEY' });
    expect(pinned.current()).toBe(good);
    expect(errors.map((e) => e.code)).toEqual(['ERR_ENFORCE_BUNDLE_KEY']);
    // A PEP that just started has nothing else to go on: it has no bundle, so it decides nothing.
    const fresh = loaderFor();
    await expect(fresh.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_KEY' });
    expect(fresh.current()).toBeNull();
  });

  it('refuses, after a restart, a replayed bundle older than the one it accepted (kept by the state store)', async () => {
    const state = memoryState();
    const before = loaderFor({ bundleState: state });
    pdp.bundle = { ...BUNDLE, version: 4 };
    await before.refresh();
    expect(state.saved).toMatchObject({ tenant: 'acme', version: 4, hash: BUNDLE.hash });
    // A bundle of version 3 signed two minutes ago (still unexpired), replayed to the restarted PEP.
    pdp.bundle = { ...BUNDLE, version: 3 };
    pdp.signNow = () => Date.now() - 120_000;
    const restarted = loaderFor({ bundleState: state });
    await expect(restarted.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_REPLAYED' });
    expect(restarted.current()).toBeNull();
    // Without the state it would have been taken: this is what the store is for.
    expect((await loaderFor().refresh()).version).toBe(3);
    // The same version with other policies is never the same bundle.
    pdp.signNow = Date.now;
    pdp.bundle = { ...BUNDLE, version: 4, hash: 'c'.repeat(64) };
    await expect(restarted.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_REPLAYED' });
    // Re-activating an older version is a new bundle, signed later: it is taken.
    pdp.bundle = { ...BUNDLE, version: 2 };
    expect((await restarted.refresh()).version).toBe(2);
    expect(state.saved).toMatchObject({ version: 2 });
  });

  it('keeps its state in a file when given a path, and decides nothing when the state cannot be read or kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-bundle-state-'));
    try {
      const file = join(dir, 'acme.json');
      await loaderFor({ bundleState: file }).refresh();
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ tenant: 'acme', version: 3, hash: BUNDLE.hash });
      pdp.signNow = () => Date.now() - 120_000;
      await expect(loaderFor({ bundleState: file }).refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_REPLAYED' });
      // Another tenant's state, or a damaged file: what was accepted cannot be told.
      await writeFile(file, JSON.stringify({ tenant: 'globex', version: 1, hash: 'x', issuedAt: 1 }));
      await expect(loaderFor({ bundleState: file }).refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_STATE' });
      await writeFile(file, '{not json');
      await expect(loaderFor({ bundleState: file }).refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_STATE' });
      const failing: BundleStateStore = { load: async () => undefined, save: async () => Promise.reject(new Error('read-only')) };
      const unsaved = loaderFor({ bundleState: failing });
      await expect(unsaved.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_STATE' });
      expect(unsaved.current()).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never swaps in an altered bundle: the last good one stays, and the error is reported', async () => {
    const errors: EnforceError[] = [];
    const loader = loaderFor({ onError: (error) => errors.push(error) });
    const good = await loader.refresh();
    pdp.mode = 'tamper';
    pdp.bundle = { ...BUNDLE, version: 4 };
    await expect(loader.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(loader.current()).toBe(good);
    expect(loader.lastError?.code).toBe('ERR_ENFORCE_PDP_RESPONSE');
    expect(errors.map((e) => e.code)).toEqual(['ERR_ENFORCE_PDP_RESPONSE']);
    pdp.mode = 'up';
    expect((await loader.refresh()).version).toBe(4);
    expect(loader.lastError).toBeNull();
  });

  it('has no bundle when the first one is unverifiable or the PDP cannot be had', async () => {
    pdp.mode = 'tamper';
    const loader = loaderFor();
    await expect(loader.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(loader.current()).toBeNull();
    pdp.mode = 'down';
    await expect(loader.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503 });
    pdp.mode = 'up';
    const unreachable = loaderFor({ fetch: () => Promise.reject(new Error('ECONNREFUSED')) });
    await expect(unreachable.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_UNREACHABLE' });
    const slow = loaderFor({ timeoutMs: 20, fetch: (_input, init) => new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted')))) });
    await expect(slow.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
    const otherTenant = loaderFor({ tenant: 'globex' });
    await expect(otherTenant.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpStatus: 404 });
  });

  it('refuses a bundle signed for another issuer or tenant', async () => {
    // A bundle for acme served as globex's: the signature holds, the subject does not.
    const swapped = loaderFor({ tenant: 'globex', fetch: (input, init) => fetch(String(input).replace('/tenants/globex/', '/tenants/acme/'), init) });
    await expect(swapped.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(swapped.current()).toBeNull();
  });

  it('fetches the keys again when the bundle key changed to another pinned one', async () => {
    const next = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const loader = loaderFor({ bundleKeyThumbprints: [...pdp.pinned, ...(await bundleKeyThumbprints(await next.jwks()))] });
    await loader.refresh();
    pdp.bundleRing = next;
    pdp.bundle = { ...BUNDLE, version: 5 };
    expect((await loader.refresh()).version).toBe(5);
    expect(pdp.paths.filter((p) => p.endsWith('/keys'))).toHaveLength(2);
  });

  it('stops handing out a bundle past its expiry, and refuses one older than the one in use', async () => {
    let clock = Date.now();
    const loader = loaderFor({ now: () => clock });
    await loader.refresh();
    clock += 600_000;
    expect(loader.current()).toBeNull();
    // A bundle signed before the one in use (a replay, by its iat) does not replace it.
    const old = await (await fetch(`${pdp.url}/tenants/acme/bundle`)).json();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    let serveOld = false;
    const both = loaderFor({ fetch: (input, init) => (serveOld && String(input).endsWith('/bundle') ? Promise.resolve(Response.json(old)) : fetch(input, init)) });
    await both.refresh();
    serveOld = true;
    await expect(both.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_REPLAYED', message: expect.stringContaining('older') });
  });

  it('coalesces refreshes asked for during a running one into one more', async () => {
    const loader = loaderFor();
    await Promise.all([loader.refresh(), loader.refresh(), loader.refresh(), loader.refresh()]);
    expect(pdp.paths.filter((p) => p.endsWith('/bundle'))).toHaveLength(2);
  });

  it('refuses bad options at construction', () => {
    const pin = { bundleKeyThumbprints: pdp.pinned };
    expect(() => createBundleLoader({ url: 'ftp://x', tenant: 'acme', ...pin })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'Not A Tenant', ...pin })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', credential: '', ...pin })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', timeoutMs: 0, ...pin })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', extra: 1, ...pin } as never)).toThrow(/unknown option "extra"/);
    // A key must be given out of band: trusting whatever key the bundle channel serves is no check.
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme' })).toThrow(/bundleKeys or bundleKeyThumbprints/);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeyThumbprints: [] })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeyThumbprints: ['not a thumbprint'] })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', bundleKeys: { keys: [] } })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', ...pin, bundleState: {} as never })).toThrow(TypeError);
  });
});
