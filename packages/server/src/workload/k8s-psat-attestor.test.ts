/** The k8s_psat attestor against a local issuer that mimics a Kubernetes API server's discovery and keys. */
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSourceFetch } from '@verity/identity';
import { startK8sIssuer, type K8sIssuer } from '../../../../e2e/helpers/k8s-issuer.js';
import { createK8sPsatAttestor } from './k8s-psat-attestor.js';
import { createWorkloadFixture, idIn, newKeyAndCsr, type WorkloadFixture } from './test-fixtures.js';

let fx: WorkloadFixture;
let k8s: K8sIssuer;
beforeAll(async () => {
  fx = await createWorkloadFixture();
  k8s = await startK8sIssuer({ now: () => fx.clock.now });
});
afterAll(async () => {
  await k8s.close();
  await fx.close();
});

const FAILED = { code: 'ERR_ATTESTATION_FAILED' };

/** A tenant trusting the local cluster, with a registration for payments/api. */
async function cluster(extra: { selectors?: string[] } = {}) {
  const tenant = await fx.tenant({ k8s_psat: { issuer: k8s.issuer, audience: 'verity' } });
  const wl = await fx.workloads();
  const { id } = await wl.registry.register(tenant, { spiffe_id: idIn(tenant, 'ns/payments/sa/api'), attestor: 'k8s_psat', selectors: extra.selectors ?? ['k8s:ns:payments', 'k8s:sa:api'] });
  const attestor = createK8sPsatAttestor({ store: fx.store, fetch: createSourceFetch({ allowInsecure: true }), now: fx.now });
  return { tenant, wl, id, attestor };
}

describe('k8s_psat attestor', () => {
  it('attests a pod whose namespace and service account match one registration, and the SVID service issues for it', async () => {
    const { tenant, wl, id, attestor } = await cluster();
    expect(await attestor.attest(tenant, { token: await k8s.token() })).toEqual({ registrationId: id });
    expect(k8s.requests()).toContain('/.well-known/openid-configuration');
    expect(k8s.requests()).toContain('/openid/v1/jwks');
    const issued = await wl.svids.attest(tenant, { attestor: 'k8s_psat', evidence: { token: await k8s.token({ pod: 'api-2' }) }, csr: (await newKeyAndCsr()).csr }, { requestId: null, tier: null });
    expect(issued.spiffeId).toBe(idIn(tenant, 'ns/payments/sa/api'));
  });

  it('refuses another namespace or service account, a wrong audience, issuer or signature, an expired token and a lying sub', async () => {
    const { tenant, attestor } = await cluster();
    const { privateKey: forger } = await generateKeyPair('RS256');
    for (const options of [
      { namespace: 'default' },
      { serviceAccount: 'admin' },
      { audience: 'kubernetes.default.svc' },
      { claims: { iss: 'https://kubernetes.default.svc' } },
      { signWith: forger },
      { expiresInSec: -60 },
      { claims: { sub: 'system:serviceaccount:kube-system:admin' } },
      { claims: { 'kubernetes.io': undefined } },
      { claims: { 'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'API!' } }, sub: 'system:serviceaccount:payments:API!' } },
    ]) {
      await expect(attestor.attest(tenant, { token: await k8s.token(options) }), JSON.stringify(options)).rejects.toMatchObject(FAILED);
    }
    await expect(attestor.attest(tenant, { token: 'not-a-jwt' })).rejects.toMatchObject(FAILED);
    await expect(attestor.attest(tenant, { token: 7 })).rejects.toMatchObject(FAILED);
  });

  it('matches on pod selectors too, and refuses when several registrations match', async () => {
    const { tenant, wl, attestor } = await cluster({ selectors: ['k8s:ns:payments', 'k8s:sa:api', 'k8s:pod-name:api-1'] });
    await expect(attestor.attest(tenant, { token: await k8s.token({ pod: 'api-2' }) })).rejects.toMatchObject(FAILED);
    expect(await attestor.attest(tenant, { token: await k8s.token({ pod: 'api-1' }) })).toMatchObject({ registrationId: expect.any(String) });
    await wl.registry.register(tenant, { spiffe_id: idIn(tenant, 'api-any-pod'), attestor: 'k8s_psat', selectors: ['k8s:ns:payments', 'k8s:sa:api'] });
    await expect(attestor.attest(tenant, { token: await k8s.token({ pod: 'api-1' }) })).rejects.toMatchObject(FAILED);
  });

  it('refuses when the tenant has no cluster, and answers 503 when the issuer cannot be reached', async () => {
    const bare = await fx.tenant();
    const attestor = createK8sPsatAttestor({ store: fx.store, fetch: createSourceFetch({ allowInsecure: true }), now: fx.now });
    await expect(attestor.attest(bare, { token: await k8s.token() })).rejects.toMatchObject(FAILED);
    const gone = await fx.tenant({ k8s_psat: { issuer: 'http://127.0.0.1:9', audience: 'verity' } });
    await expect(attestor.attest(gone, { token: await k8s.token({ claims: { iss: 'http://127.0.0.1:9' } }) })).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
    // The server's guarded fetch (without the development switch) never calls an http or loopback issuer.
    const { tenant } = await cluster();
    const guarded = createK8sPsatAttestor({ store: fx.store, fetch: createSourceFetch(), now: fx.now });
    await expect(guarded.attest(tenant, { token: await k8s.token() })).rejects.toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE' });
  });
});
