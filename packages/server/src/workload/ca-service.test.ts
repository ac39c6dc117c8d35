/** The tenant CA: lazy creation (once, across replicas), sealing at rest, rotation and retirement, trust-domain changes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSvidKey, issueX509Svid, verifyX509Svid } from '@verity/workload/core';
import { createCaService, RETIRE_GRACE_MS, type CaService } from './ca-service.js';
import { createTrustDomains } from './trust-domains.js';
import { createWorkloadFixture, defaultDomainOf, DEPLOYMENT_TRUST_DOMAIN, idIn, type WorkloadFixture } from './test-fixtures.js';

let fx: WorkloadFixture;
beforeAll(async () => {
  fx = await createWorkloadFixture();
});
afterAll(async () => {
  await fx.close();
});

function replica(options: { caLifetimeSec?: number } = {}): CaService {
  return createCaService({ store: fx.store, box: fx.box, trustDomains: createTrustDomains(fx.store, DEPLOYMENT_TRUST_DOMAIN), publish: fx.publish, now: fx.now, ...options });
}

/** An SVID signed by the tenant's active authority and recorded, as the SVID service does. */
async function issue(ca: CaService, tenant: string, registrationId: string, spiffeId: string, ttlSec = 3600) {
  const signers = await ca.signers(tenant);
  const svid = await issueX509Svid({ authority: signers.x509, spiffeId, publicKeyPem: (await generateSvidKey()).publicKeyPem, ttlSec, now: fx.now });
  expect(await fx.store.workloads.recordIssued(tenant, { registrationId, authority: { x509: signers.x509.id }, expiresAtMs: svid.expiresAtMs })).toBe('recorded');
  return svid;
}

describe('workload CA', () => {
  it('is created once on first use, even when two replicas race, and published', async () => {
    const tenant = await fx.tenant({ trust_domain: 'acme.example' });
    const [a, b] = await Promise.all([replica().bundle(tenant), replica().bundle(tenant)]);
    const stored = await fx.store.workloads.authorities(tenant);
    expect(stored.x509.map((x) => x.state)).toEqual(['active']);
    expect(stored.jwt.map((k) => k.state)).toEqual(['active']);
    for (const bundle of [a, b]) {
      expect(bundle).toMatchObject({ trustDomain: 'acme.example', x509Authorities: [stored.x509[0]?.rootPem], jwtAuthorities: [stored.jwt[0]?.publicJwk], sequence: stored.sequence });
    }
    expect(fx.changes.filter((c) => c.tenant === tenant)).toEqual([{ tenant, kind: 'workload' }]);
  });

  it('keeps the CA keys sealed at rest, bound to tenant and authority, and signs SVIDs that verify', async () => {
    const tenant = await fx.tenant();
    const ca = replica();
    const signers = await ca.signers(tenant);
    const [x509] = (await fx.store.workloads.authorities(tenant)).x509;
    const [jwt] = (await fx.store.workloads.authorities(tenant)).jwt;
    expect(x509?.sealedKey).not.toContain('PRIVATE KEY');
    expect(x509?.sealedKey).not.toContain(signers.x509.intermediateKeyPem.slice(40, 80));
    expect(jwt?.sealedKey).not.toContain(String(signers.jwt.privateJwk.d));
    expect(() => fx.box.open(x509?.sealedKey as string, `workload-ca:other:${x509?.id}`)).toThrow();
    // The root's key is not kept at all.
    expect(signers.x509.rootKeyPem).toBe('');
    expect(signers.x509.trustDomain).toBe(defaultDomainOf(tenant));
    const api = idIn(tenant, 'api');
    const leaf = await issueX509Svid({ authority: signers.x509, spiffeId: api, publicKeyPem: (await generateSvidKey()).publicKeyPem, ttlSec: 60, now: fx.now });
    expect(verifyX509Svid(leaf.certChainPem, await ca.bundle(tenant), { now: fx.now }).spiffeId).toBe(api);
  });

  it('rotates: both roots trusted until what the old one signed has expired, then the old one goes', async () => {
    const tenant = await fx.tenant();
    const ca = replica();
    const api = idIn(tenant, 'api');
    await fx.store.workloads.createRegistration({ tenant, id: 'w1', spiffeId: api, selectors: [], attestor: 'join_token', x509TtlSec: 3600, jwtTtlSec: 300 }, fx.now());
    const old = await issue(ca, tenant, 'w1', api, 7200);
    const before = await ca.bundle(tenant);
    const oldSigners = await ca.signers(tenant);

    const view = await ca.rotate(tenant);
    expect(view.authorities.map((a) => a.state)).toEqual(['retiring', 'active']);
    expect(view.authorities[0]).toMatchObject({ id: oldSigners.x509.id, retire_after: new Date(old.expiresAtMs + RETIRE_GRACE_MS).toISOString() });
    expect(view.jwt_authorities.map((k) => k.state)).toEqual(['retiring', 'active']);
    expect(JSON.stringify(view)).not.toContain('PRIVATE');
    const during = await ca.bundle(tenant);
    expect(during.x509Authorities).toHaveLength(2);
    expect(during.jwtAuthorities).toHaveLength(2);
    expect(during.sequence).toBeGreaterThan(before.sequence);
    expect(verifyX509Svid(old.certChainPem, during, { now: fx.now }).spiffeId).toBe(api);
    const fresh = await issue(ca, tenant, 'w1', api);
    expect((await ca.signers(tenant)).x509.id).not.toBe(oldSigners.x509.id);
    expect(fresh.certChainPem[1]).not.toBe(old.certChainPem[1]);

    // The old root's last SVID has expired (and the grace passed): it leaves the bundle.
    fx.clock.now = old.expiresAtMs + RETIRE_GRACE_MS + 1;
    const after = await ca.bundle(tenant);
    expect(after.x509Authorities).toEqual([during.x509Authorities[1]]);
    expect(after.jwtAuthorities).toHaveLength(1);
    expect(after.sequence).toBeGreaterThan(during.sequence);
    expect((await ca.view(tenant)).authorities.map((a) => a.state)).toEqual(['active']);
  });

  it('replaces the CA when the tenant changes its trust domain, and one nearing its end', async () => {
    const tenant = await fx.tenant();
    const ca = replica({ caLifetimeSec: 4 * 3600 });
    const first = await ca.signers(tenant);
    expect(first.x509.trustDomain).toBe(defaultDomainOf(tenant));
    await fx.store.tenants.updateSettings(tenant, { set: { trust_domain: 'renamed.example' }, remove: [] });
    await fx.publish({ tenant, kind: 'settings' });
    // This replica is not composed into the fixture's feed: it is told directly.
    ca.invalidate(tenant);
    const renamed = createCaService({ store: fx.store, box: fx.box, trustDomains: createTrustDomains(fx.store, DEPLOYMENT_TRUST_DOMAIN), publish: fx.publish, now: fx.now, caLifetimeSec: 4 * 3600 });
    const second = await renamed.signers(tenant);
    expect(second.x509.trustDomain).toBe('renamed.example');
    expect(second.x509.id).not.toBe(first.x509.id);
    expect((await renamed.bundle(tenant)).trustDomain).toBe('renamed.example');

    // Lifetime 4 h: replaced once less than a quarter of it (1 h) is left.
    fx.clock.now += 3 * 3600 * 1000 - 1000;
    renamed.invalidate(tenant);
    expect((await renamed.signers(tenant)).x509.id).toBe(second.x509.id);
    fx.clock.now += 2000;
    renamed.invalidate(tenant);
    expect((await renamed.signers(tenant)).x509.id).not.toBe(second.x509.id);
  });

  it('refuses a CA lifetime under an hour at construction', () => {
    expect(() => replica({ caLifetimeSec: 60 })).toThrow(TypeError);
  });
});
