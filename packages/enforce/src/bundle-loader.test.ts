import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PolicyBundle } from '@verity/identity';
import { createBundleLoader } from './bundle-loader.js';
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
beforeEach(async () => {
  pdp = await startFakePdp(structuredClone(BUNDLE));
});
afterEach(async () => {
  await pdp.close();
});

describe('createBundleLoader', () => {
  it('loads the bundle with the credential and verifies it against the tenant JWKS', async () => {
    const seen: Array<string | null> = [];
    const counting: typeof fetch = (input, init) => (seen.push(new Headers(init?.headers).get('authorization')), fetch(input, init));
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme', credential: 'vrt_pep', fetch: counting });
    expect(loader.current()).toBeNull();
    expect(loader.issuer).toBe(pdp.issuer);
    expect(await loader.refresh()).toEqual(BUNDLE);
    expect(loader.current()).toEqual(BUNDLE);
    expect(loader.lastError).toBeNull();
    expect(loader.expiresAt).toBeGreaterThan(Date.now() + 3_000_000);
    expect(pdp.paths).toEqual(['/tenants/acme/bundle', '/tenants/acme/.well-known/jwks.json']);
    expect(seen).toEqual(['Bearer vrt_pep', 'Bearer vrt_pep']);
    // The JWKS is kept: a second load fetches only the bundle.
    await loader.refresh();
    expect(pdp.paths.filter((p) => p.endsWith('jwks.json'))).toHaveLength(1);
  });

  it('never swaps in an altered bundle: the last good one stays, and the error is reported', async () => {
    const errors: EnforceError[] = [];
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme', onError: (error) => errors.push(error) });
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
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme' });
    await expect(loader.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(loader.current()).toBeNull();
    pdp.mode = 'down';
    await expect(loader.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503 });
    pdp.mode = 'up';
    const unreachable = createBundleLoader({ url: pdp.url, tenant: 'acme', fetch: () => Promise.reject(new Error('ECONNREFUSED')) });
    await expect(unreachable.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_UNREACHABLE' });
    const slow = createBundleLoader({ url: pdp.url, tenant: 'acme', timeoutMs: 20, fetch: (_input, init) => new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted')))) });
    await expect(slow.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
    const otherTenant = createBundleLoader({ url: pdp.url, tenant: 'globex' });
    await expect(otherTenant.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpStatus: 404 });
  });

  it('refuses a bundle signed for another issuer or tenant', async () => {
    // A bundle for acme served as globex's: the signature holds, the subject does not.
    const swapped = createBundleLoader({ url: pdp.url, tenant: 'globex', fetch: (input, init) => fetch(String(input).replace('/tenants/globex/', '/tenants/acme/'), init) });
    await expect(swapped.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(swapped.current()).toBeNull();
  });

  it('fetches the JWKS again when the signing key rotated', async () => {
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme' });
    await loader.refresh();
    await pdp.ring.rotate();
    pdp.bundle = { ...BUNDLE, version: 5 };
    expect((await loader.refresh()).version).toBe(5);
    expect(pdp.paths.filter((p) => p.endsWith('jwks.json'))).toHaveLength(2);
  });

  it('stops handing out a bundle past its expiry, and refuses one older than the one in use', async () => {
    let clock = Date.now();
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme', now: () => clock });
    await loader.refresh();
    clock += 3_600_000;
    expect(loader.current()).toBeNull();
    // A bundle signed before the one in use (a replay, by its iat) does not replace it.
    const old = await (await fetch(`${pdp.url}/tenants/acme/bundle`)).json();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    let serveOld = false;
    const both = createBundleLoader({ url: pdp.url, tenant: 'acme', fetch: (input, init) => (serveOld && String(input).endsWith('/bundle') ? Promise.resolve(Response.json(old)) : fetch(input, init)) });
    await both.refresh();
    serveOld = true;
    await expect(both.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE', message: expect.stringContaining('older') });
  });

  it('coalesces refreshes asked for during a running one into one more', async () => {
    const loader = createBundleLoader({ url: pdp.url, tenant: 'acme' });
    await Promise.all([loader.refresh(), loader.refresh(), loader.refresh(), loader.refresh()]);
    expect(pdp.paths.filter((p) => p.endsWith('/bundle'))).toHaveLength(2);
  });

  it('refuses bad options at construction', () => {
    expect(() => createBundleLoader({ url: 'ftp://x', tenant: 'acme' })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'Not A Tenant' })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', credential: '' })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', timeoutMs: 0 })).toThrow(TypeError);
    expect(() => createBundleLoader({ url: pdp.url, tenant: 'acme', extra: 1 } as never)).toThrow(/unknown option "extra"/);
  });
});
