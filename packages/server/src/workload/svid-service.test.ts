/** Attest, renew and JWT-SVIDs: what is issued verifies, every refusal has its code and is audited. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSvidProof, verifyX509Svid, type X509Svid } from '@verity/workload/core';
import { BASE_URL, createWorkloadFixture, heldSvid, idIn, newKeyAndCsr, renewRequest, type WorkloadFixture } from './test-fixtures.js';
import type { WorkloadService } from './workload-service.js';

let fx: WorkloadFixture;
let wl: WorkloadService;
beforeAll(async () => {
  fx = await createWorkloadFixture();
  wl = await fx.workloads();
});
afterAll(async () => {
  await fx.close();
});

const META = { requestId: 'req-1', tier: null };
/** The api workload in the default trust domain of `tenant` (one without a `trust_domain` setting). */
const apiIn = (tenant: string) => idIn(tenant, 'api');

/** A registered workload that attested with a join token: what it holds. */
async function attested(tenant: string, spiffeId = apiIn(tenant), body: Record<string, unknown> = {}): Promise<{ id: string; svid: X509Svid }> {
  const { id } = await wl.registry.register(tenant, { spiffe_id: spiffeId, ...body });
  const { token } = await wl.registry.createJoinToken(tenant, id, {});
  const key = await newKeyAndCsr();
  const issued = await wl.svids.attest(tenant, { attestor: 'join_token', evidence: { join_token: token }, csr: key.csr }, META);
  return { id, svid: heldSvid(issued, key.privateKeyPem, fx.now()) };
}

function refusalsOf(tenant: string) {
  return fx.records.filter((r) => r.tenant === tenant).map((r) => [r.principal.id, r.action.id, r.errors[0]?.message]);
}

describe('attest', () => {
  it('issues an X.509-SVID for the join token\'s registration that verifies against the bundle', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { id } = await wl.registry.register(tenant, { spiffe_id: API, x509_ttl_sec: 600 });
    const { token } = await wl.registry.createJoinToken(tenant, id, {});
    const key = await newKeyAndCsr();
    const issued = await wl.svids.attest(tenant, { attestor: 'join_token', evidence: { join_token: token }, csr: key.csr }, META);
    expect(issued.spiffeId).toBe(API);
    expect(issued.certChainPem).toHaveLength(2);
    expect(issued.expiresAtMs).toBe(fx.now() + 600_000);
    expect(verifyX509Svid(issued.certChainPem, issued.bundle, { now: fx.now })).toMatchObject({ spiffeId: API, expiresAtMs: issued.expiresAtMs });
    expect(issued.bundle).toEqual(await wl.bundle(tenant));
    // The high-water of the registration is what a removal will deny until.
    expect((await fx.store.workloads.getRegistration(tenant, id))?.issuedUntilMs).toBe(issued.expiresAtMs);
  });

  it('refuses a bad CSR without using up the token, then a reused token, and audits the refusals', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { id } = await wl.registry.register(tenant, { spiffe_id: API });
    const { token } = await wl.registry.createJoinToken(tenant, id, {});
    const request = (csr: string) => wl.svids.attest(tenant, { attestor: 'join_token', evidence: { join_token: token }, csr }, META);
    await expect(request('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----')).rejects.toMatchObject({ code: 'ERR_CSR_INVALID' });
    await request((await newKeyAndCsr()).csr);
    await expect(request((await newKeyAndCsr()).csr)).rejects.toMatchObject({ code: 'ERR_JOIN_TOKEN_INVALID' });
    expect(refusalsOf(tenant)).toEqual([['unauthenticated', 'workload.attest', 'ERR_JOIN_TOKEN_INVALID']]);
    const [record] = fx.records.filter((r) => r.tenant === tenant);
    expect(record).toMatchObject({ decision: 'deny', principal: { type: 'Verity::Workload' }, requestId: 'req-1', policyVersion: 0 });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it('refuses a token attested under the other attestor and an unknown attestor', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { id } = await wl.registry.register(tenant, { spiffe_id: API });
    const { token } = await wl.registry.createJoinToken(tenant, id, {});
    const { csr } = await newKeyAndCsr();
    await expect(wl.svids.attest(tenant, { attestor: 'aws_iid', evidence: {}, csr }, META)).rejects.toMatchObject({ code: 'ERR_REQUEST_INVALID' });
    await expect(wl.svids.attest(tenant, { attestor: 'k8s_psat', evidence: { token }, csr }, META)).rejects.toMatchObject({ code: 'ERR_ATTESTATION_FAILED' });
  });
});

describe('renew', () => {
  it('issues a new SVID for a proof of the current one and the CSR it names, once per proof', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { svid } = await attested(tenant);
    fx.clock.now += 60_000;
    const { request, next } = await renewRequest(tenant, svid, fx.now);
    const renewed = await wl.svids.renew(tenant, request, META);
    expect(renewed.spiffeId).toBe(API);
    expect(renewed.expiresAtMs).toBe(fx.now() + 3_600_000);
    expect(verifyX509Svid(renewed.certChainPem, renewed.bundle, { now: fx.now }).spiffeId).toBe(API);
    // The new certificate holds the new key: a proof with it renews again.
    const again = await renewRequest(tenant, heldSvid(renewed, next.privateKeyPem, fx.now()), fx.now);
    expect((await wl.svids.renew(tenant, again.request, META)).spiffeId).toBe(API);
    // The same proof twice is a replay.
    await expect(wl.svids.renew(tenant, request, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
    expect(refusalsOf(tenant)).toEqual([[API, 'workload.renew', 'ERR_SVID_INVALID']]);
  });

  it('refuses another CSR than the proof names, another audience, an old proof and an expired SVID', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { svid } = await attested(tenant, API, { x509_ttl_sec: 600 });
    const { request } = await renewRequest(tenant, svid, fx.now);
    const other = await newKeyAndCsr();
    await expect(wl.svids.renew(tenant, { proof: request.proof, csr: other.csr }, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
    // That refusal did not use the proof up: with its own CSR it still renews.
    expect((await wl.svids.renew(tenant, request, META)).spiffeId).toBe(API);
    const noCsr = await createSvidProof({ svid, audience: `${BASE_URL}/workload/v1/tenants/${tenant}/renew`, now: fx.now });
    await expect(wl.svids.renew(tenant, { proof: noCsr, csr: other.csr }, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
    const jwtAudience = await renewRequest(tenant, svid, fx.now, `${BASE_URL}/workload/v1/tenants/${tenant}/jwt-svid`);
    await expect(wl.svids.renew(tenant, jwtAudience.request, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
    const old = await renewRequest(tenant, svid, fx.now);
    fx.clock.now += 61_000;
    await expect(wl.svids.renew(tenant, old.request, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
    fx.clock.now += 600_000;
    const late = await renewRequest(tenant, svid, fx.now);
    await expect(wl.svids.renew(tenant, late.request, META)).rejects.toMatchObject({ code: 'ERR_SVID_EXPIRED' });
  });

  it('refuses a removed workload (ERR_SVID_REVOKED) and an SVID of another tenant\'s CA (ERR_SVID_UNTRUSTED)', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const neighbour = await fx.tenant();
    const { id, svid } = await attested(tenant);
    const foreign = await attested(neighbour);
    await expect(wl.svids.renew(tenant, (await renewRequest(tenant, foreign.svid, fx.now)).request, META)).rejects.toMatchObject({ code: 'ERR_SVID_UNTRUSTED' });
    await wl.registry.remove(tenant, id);
    await expect(wl.svids.renew(tenant, (await renewRequest(tenant, svid, fx.now)).request, META)).rejects.toMatchObject({ code: 'ERR_SVID_REVOKED' });
    expect(refusalsOf(tenant)).toEqual([
      ['unauthenticated', 'workload.renew', 'ERR_SVID_UNTRUSTED'],
      [API, 'workload.renew', 'ERR_SVID_REVOKED'],
    ]);
  });
});

describe('JWT-SVIDs', () => {
  it('issues one for the proof\'s SPIFFE id that verifies for its audience, until the workload is removed', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { id, svid } = await attested(tenant, API, { jwt_ttl_sec: 120 });
    const audience = `${BASE_URL}/workload/v1/tenants/${tenant}/jwt-svid`;
    const issued = await wl.svids.jwtSvid(tenant, { proof: await createSvidProof({ svid, audience, now: fx.now }), audience: ['https://orders.example', idIn(tenant, 'db')] }, META);
    expect(issued.expiresAtMs).toBe(Math.floor(fx.now() / 1000) * 1000 + 120_000);
    expect(await wl.verifyJwtSvid(tenant, issued.token, 'https://orders.example')).toEqual({ spiffeId: API, trustDomain: API.split('/')[2] });
    await expect(wl.verifyJwtSvid(tenant, issued.token, 'https://other.example')).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_SVID_/) });
    const neighbour = await fx.tenant();
    await expect(wl.verifyJwtSvid(neighbour, issued.token, 'https://orders.example')).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_SVID_/) });
    // A renew proof is not a jwt-svid proof.
    const renewProof = await createSvidProof({ svid, audience: `${BASE_URL}/workload/v1/tenants/${tenant}/renew`, now: fx.now });
    await expect(wl.svids.jwtSvid(tenant, { proof: renewProof, audience: ['a'] }, META)).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });

    await wl.registry.remove(tenant, id);
    await expect(wl.verifyJwtSvid(tenant, issued.token, 'https://orders.example')).rejects.toMatchObject({ code: 'ERR_SVID_REVOKED' });
    await expect(wl.svids.jwtSvid(tenant, { proof: await createSvidProof({ svid, audience, now: fx.now }), audience: ['a'] }, META)).rejects.toMatchObject({ code: 'ERR_SVID_REVOKED' });
    // The deny list covers the JWT-SVID too: its expiry raised the registration's high-water.
    expect(wl.denied(tenant)[0]?.untilMs).toBeGreaterThanOrEqual(issued.expiresAtMs);
  });
});
