/** Each trust domain has one owning tenant: the default name under the deployment's, a set name refused there and unique. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertOwnTrustDomain, createTrustDomains, defaultTrustDomainOf } from './trust-domains.js';
import { createWorkloadFixture, DEPLOYMENT_TRUST_DOMAIN, type WorkloadFixture } from './test-fixtures.js';

let fx: WorkloadFixture;
beforeAll(async () => {
  fx = await createWorkloadFixture();
});
afterAll(async () => {
  await fx.close();
});

const INVALID = expect.objectContaining({ code: 'ERR_TENANT_INVALID' });

describe('trust domains', () => {
  it('a tenant without a setting has `<tenant>.<deployment trust domain>`, one with a setting its own; unknown tenants are refused', async () => {
    const bare = await fx.tenant();
    const other = await fx.tenant();
    const named = await fx.tenant({ trust_domain: 'named.example' });
    const domains = createTrustDomains(fx.store, DEPLOYMENT_TRUST_DOMAIN);
    expect(defaultTrustDomainOf('acme', 'verity.internal')).toBe('acme.verity.internal');
    expect(await domains.of(bare)).toBe(`${bare}.verity.internal`);
    expect(await domains.of(other)).toBe(`${other}.verity.internal`);
    expect(await domains.of(named)).toBe('named.example');
    await expect(domains.of('nope')).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });

    // A setting changed is read again once invalidated.
    await fx.store.tenants.updateSettings(bare, { set: { trust_domain: 'bare.example' }, remove: [] });
    expect(await domains.of(bare)).toBe(`${bare}.verity.internal`);
    domains.invalidate(bare);
    expect(await domains.of(bare)).toBe('bare.example');
  });

  it('refuses a setting of the deployment\'s name or one under it other than the tenant\'s own default', () => {
    for (const name of ['verity.internal', 'globex.verity.internal', 'a.acme.verity.internal', 'acme.verity.internal.', 'verity.internal.', 'verity.internal..', '..', '-', '_', 'acme..example', '.acme.example', 'acme-.example']) {
      expect(() => assertOwnTrustDomain('acme', name, 'verity.internal'), name).toThrow(INVALID);
    }
    for (const name of [undefined, 'acme.verity.internal', 'acme.example', 'verity.internal.example', 'notverity.internal', 'localhost', 'prod_1.acme-corp.example']) {
      expect(() => assertOwnTrustDomain('acme', name, 'verity.internal'), String(name)).not.toThrow();
    }
  });

  it('refuses a setting another tenant holds, on create and on update (the store\'s unique index)', async () => {
    const owner = await fx.tenant({ trust_domain: 'owned.example' });
    await expect(fx.store.tenants.create({ id: 'copycat', name: 'copycat', settings: { trust_domain: 'owned.example' } })).rejects.toThrow(INVALID);
    expect(await fx.store.tenants.get('copycat')).toBeNull();
    const other = await fx.tenant();
    await expect(fx.store.tenants.updateSettings(other, { set: { trust_domain: 'owned.example' }, remove: [] })).rejects.toThrow(INVALID);
    expect((await fx.store.tenants.get(other))?.settings.trust_domain).toBeUndefined();
    // Once the owner lets it go, it is free.
    await fx.store.tenants.updateSettings(owner, { set: {}, remove: ['trust_domain'] });
    expect((await fx.store.tenants.updateSettings(other, { set: { trust_domain: 'owned.example' }, remove: [] }))?.settings.trust_domain).toBe('owned.example');
  });

  it('refuses a set name that a later deployment trust domain covers, where it could be another tenant\'s default name', async () => {
    const squatter = await fx.tenant({ trust_domain: 'victim.corp.example' });
    // The deployment's trust domain changes (a restart with --trust-domain corp.example).
    const later = createTrustDomains(fx.store, 'corp.example');
    await expect(later.of(squatter)).rejects.toMatchObject({ code: 'ERR_TENANT_INVALID' });
    expect(await createTrustDomains(fx.store, DEPLOYMENT_TRUST_DOMAIN).of(squatter)).toBe('victim.corp.example');
  });
});
