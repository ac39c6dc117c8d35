/**
 * Workload identity over HTTP against a real server: registration, join tokens, attestation with
 * a CSR, renewal and JWT-SVIDs with proofs, removal and the deny list, CA rotation, tenant
 * isolation, one owning tenant per trust domain (and so per SPIFFE id, at every tenant's PDP), and
 * Kubernetes service-account attestation against a local issuer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change } from '../packages/server/src/change-feed.js';
import { createCsr, createSvidProof, generateSvidKey, parseSpiffeBundleJson, verifyCsr, verifyJwtSvid, verifyX509Svid, type TrustBundle, type X509Svid } from '@verity/workload';
import { startK8sIssuer, type K8sIssuer } from './helpers/k8s-issuer.js';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let k8s: K8sIssuer;
const authors: Record<string, Client> = {};
const peps: Record<string, Client> = {};
let anonymous: Client;
const changes: Change[] = [];

/** acme sets its trust domain; globex sets none, so it has `<tenant>.<deployment trust domain>`. */
const TD = { acme: 'acme.example', globex: 'globex.verity.internal' } as const;
const wl = (tenant: string, path: string) => `/workload/v1/tenants/${tenant}/${path}`;
const admin$ = (tenant: string, path: string) => `/admin/v1/tenants/${tenant}/${path}`;

beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
  anonymous = createClient(server.url, null);
  k8s = await startK8sIssuer();
  server.components.changes.subscribe((change) => changes.push(change));
  expect((await admin.post('/admin/v1/tenants', { id: 'acme', settings: { trust_domain: TD.acme, k8s_psat: { issuer: k8s.issuer, audience: 'verity' } } })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants', { id: 'globex' })).status).toBe(201);
  for (const tenant of ['acme', 'globex']) {
    authors[tenant] = createClient(server.url, (await admin.post(admin$(tenant, 'credentials'), { role: 'policy-author' })).body.token);
    peps[tenant] = createClient(server.url, (await admin.post(admin$(tenant, 'credentials'), { role: 'pep' })).body.token);
  }
});

afterAll(async () => {
  await k8s?.close();
  await server?.close();
});

interface Held {
  id: string;
  svid: X509Svid;
}

async function newKey() {
  const { privateKeyPem } = await generateSvidKey();
  const csr = await createCsr(privateKeyPem);
  return { privateKeyPem, csr, der: (await verifyCsr(csr)).der };
}

/** Register `spiffeId` in `tenant` (as its author), mint a join token and attest with it. */
async function enrol(tenant: 'acme' | 'globex', spiffeId: string): Promise<Held & { answer: Record<string, any> }> {
  const author = authors[tenant] as Client;
  const created = await author.post(admin$(tenant, 'workloads'), { spiffe_id: spiffeId });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const minted = await author.post(admin$(tenant, `workloads/${created.body.id}/join-tokens`), {});
  expect(minted.status).toBe(201);
  const key = await newKey();
  const attested = await anonymous.post(wl(tenant, 'attest'), { attestor: 'join_token', join_token: minted.body.join_token, csr: key.csr });
  expect(attested.status, JSON.stringify(attested.body)).toBe(200);
  const svid: X509Svid = { spiffeId, certChainPem: attested.body.x509_svid, privateKeyPem: key.privateKeyPem, expiresAtMs: Date.parse(attested.body.expires_at), issuedAtMs: Date.now() };
  return { id: created.body.id, svid, answer: attested.body };
}

/** POST renew with a proof made with `svid` for a new key; returns the answer and the new key. */
async function renew(tenant: string, svid: X509Svid) {
  const key = await newKey();
  const proof = await createSvidProof({ svid, audience: `${server.url}${wl(tenant, 'renew')}`, csrDer: key.der });
  return { answer: await anonymous.post(wl(tenant, 'renew'), { proof, csr: key.csr }), key };
}

async function bundleOf(tenant: 'acme' | 'globex'): Promise<TrustBundle> {
  const answer = await anonymous.get(wl(tenant, 'bundle'));
  expect(answer.status).toBe(200);
  const bundle = parseSpiffeBundleJson(TD[tenant], answer.body);
  expect(Number(answer.headers.get('x-verity-bundle-sequence'))).toBe(bundle.sequence);
  return bundle;
}

describe('the workload lifecycle', () => {
  let api: Held;

  it('registers, mints a join token, attests with a CSR; the SVID verifies against the bundle; the token works once', async () => {
    const created = await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/api', selectors: ['unix:uid:1000'], x509_ttl_sec: 900 });
    expect(created?.status).toBe(201);
    expect(created?.body).toEqual({ id: expect.any(String), tenant: 'acme', spiffe_id: 'spiffe://acme.example/api', selectors: ['unix:uid:1000'], attestor: 'join_token', x509_ttl_sec: 900, jwt_ttl_sec: 300, created_at: expect.any(String) });
    expect(changes).toContainEqual({ tenant: 'acme', kind: 'workload' });
    const listed = await authors.acme?.get(admin$('acme', 'workloads'));
    expect(listed?.body).toEqual({ workloads: [created?.body] });

    const minted = await authors.acme?.post(admin$('acme', `workloads/${created?.body.id}/join-tokens`), { ttl_sec: 120 });
    expect(minted?.status).toBe(201);
    expect(Object.keys(minted?.body).sort()).toEqual(['expires_at', 'join_token']);
    expect(minted?.headers.get('cache-control')).toBe('no-store');

    const key = await newKey();
    const attested = await anonymous.post(wl('acme', 'attest'), { attestor: 'join_token', join_token: minted?.body.join_token, csr: key.csr });
    expect(attested.status).toBe(200);
    expect(Object.keys(attested.body).sort()).toEqual(['bundle', 'bundle_sequence', 'expires_at', 'spiffe_id', 'x509_svid']);
    expect(attested.body.spiffe_id).toBe('spiffe://acme.example/api');
    const bundle = parseSpiffeBundleJson(TD.acme, attested.body.bundle);
    expect(bundle.sequence).toBe(attested.body.bundle_sequence);
    const verified = verifyX509Svid(attested.body.x509_svid, bundle);
    expect(verified.spiffeId).toBe('spiffe://acme.example/api');
    expect(Math.abs(verified.expiresAtMs - (Date.now() + 900_000))).toBeLessThan(15_000);
    expect(await bundleOf('acme')).toEqual(bundle);

    const again = await anonymous.post(wl('acme', 'attest'), { attestor: 'join_token', join_token: minted?.body.join_token, csr: (await newKey()).csr });
    expect([again.status, again.body.code]).toEqual([401, 'ERR_JOIN_TOKEN_INVALID']);
    api = { id: created?.body.id, svid: { spiffeId: 'spiffe://acme.example/api', certChainPem: attested.body.x509_svid, privateKeyPem: key.privateKeyPem, expiresAtMs: verified.expiresAtMs, issuedAtMs: Date.now() } };
  });

  it('renews with a proof of the current SVID (once per proof), and issues a JWT-SVID that verifies', async () => {
    const { answer, key } = await renew('acme', api.svid);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const bundle = parseSpiffeBundleJson(TD.acme, answer.body.bundle);
    expect(verifyX509Svid(answer.body.x509_svid, bundle).spiffeId).toBe('spiffe://acme.example/api');
    api.svid = { ...api.svid, certChainPem: answer.body.x509_svid, privateKeyPem: key.privateKeyPem };

    const proof = await createSvidProof({ svid: api.svid, audience: `${server.url}${wl('acme', 'jwt-svid')}` });
    const jwt = await anonymous.post(wl('acme', 'jwt-svid'), { proof, audience: ['https://orders.acme.example'] });
    expect(jwt.status, JSON.stringify(jwt.body)).toBe(200);
    expect(Object.keys(jwt.body).sort()).toEqual(['expires_at', 'token']);
    expect(await verifyJwtSvid(jwt.body.token, { bundle: await bundleOf('acme'), audience: 'https://orders.acme.example' })).toMatchObject({ spiffeId: 'spiffe://acme.example/api' });
    expect(await server.components.workloads.verifyJwtSvid('acme', jwt.body.token, 'https://orders.acme.example')).toEqual({ spiffeId: 'spiffe://acme.example/api', trustDomain: 'acme.example' });
    const replay = await anonymous.post(wl('acme', 'jwt-svid'), { proof, audience: ['https://orders.acme.example'] });
    expect([replay.status, replay.body.code]).toEqual([401, 'ERR_SVID_INVALID']);
  });

  it('refuses an SVID of another tenant\'s CA on renew, and an expired join token', async () => {
    const foreign = await enrol('globex', 'spiffe://globex.verity.internal/api');
    const { answer } = await renew('acme', foreign.svid);
    expect([answer.status, answer.body.code]).toEqual([401, 'ERR_SVID_UNTRUSTED']);

    const created = await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/batch' });
    const minted = await authors.acme?.post(admin$('acme', `workloads/${created?.body.id}/join-tokens`), { ttl_sec: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = await anonymous.post(wl('acme', 'attest'), { attestor: 'join_token', join_token: minted?.body.join_token, csr: (await newKey()).csr });
    expect([late.status, late.body.code]).toEqual([401, 'ERR_JOIN_TOKEN_INVALID']);
  });

  it('removes a workload: renew refused (ERR_SVID_REVOKED), /denied lists it for the tenant\'s PEPs only', async () => {
    const removed = await authors.acme?.request('DELETE', admin$('acme', `workloads/${api.id}`));
    expect(removed?.status).toBe(200);
    expect(removed?.body).toEqual({ removed: true, denied_until: expect.any(String) });
    // Denied until the last SVID issued to it (the 900 s X.509-SVID) has expired.
    expect(Date.parse(removed?.body.denied_until)).toBeGreaterThanOrEqual(api.svid.expiresAtMs - 15_000);
    expect(server.components.workloads.isDenied('acme', 'spiffe://acme.example/api')).toBe(true);

    const { answer } = await renew('acme', api.svid);
    expect([answer.status, answer.body.code]).toEqual([401, 'ERR_SVID_REVOKED']);

    const denied = await peps.acme?.get(wl('acme', 'denied'));
    expect(denied?.status).toBe(200);
    expect(denied?.body).toEqual({ denied: [{ spiffe_id: 'spiffe://acme.example/api', until: removed?.body.denied_until }], sequence: expect.any(Number) });
    expect(denied?.body.sequence).toBe((await bundleOf('acme')).sequence);
    expect((await anonymous.get(wl('acme', 'denied'))).status).toBe(401);
    expect((await peps.globex?.get(wl('acme', 'denied')))?.body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await authors.acme?.request('DELETE', admin$('acme', `workloads/${api.id}`)))?.body.code).toBe('ERR_WORKLOAD_NOT_FOUND');

    // The refusals are in the tenant's audit, by SPIFFE id where it was proven.
    const events = await server.components.store.audit.query('acme', { limit: 100, decision: 'deny' });
    expect(events.map((e) => [e.principal.id, e.action.id, e.errors[0]?.message])).toEqual(
      expect.arrayContaining([
        ['unauthenticated', 'workload.attest', 'ERR_JOIN_TOKEN_INVALID'],
        ['spiffe://acme.example/api', 'workload.jwt-svid', 'ERR_SVID_INVALID'],
        ['unauthenticated', 'workload.renew', 'ERR_SVID_UNTRUSTED'],
        ['spiffe://acme.example/api', 'workload.renew', 'ERR_SVID_REVOKED'],
      ]),
    );
  });

  it('rotates the CA: two roots in the bundle, old SVIDs still verify, new ones chain to the new root only', async () => {
    const before = await enrol('acme', 'spiffe://acme.example/web');
    const oldBundle = await bundleOf('acme');
    expect(oldBundle.x509Authorities).toHaveLength(1);
    const published = changes.length;

    const rotated = await authors.acme?.post(admin$('acme', 'ca/rotate'));
    expect(rotated?.status).toBe(200);
    expect(rotated?.body.trust_domain).toBe(TD.acme);
    expect(rotated?.body.authorities.map((a: { state: string }) => a.state)).toEqual(['retiring', 'active']);
    expect(rotated?.body.authorities[0]).toMatchObject({ root_pem: oldBundle.x509Authorities[0], retire_after: expect.any(String) });
    expect(rotated?.body.jwt_authorities.map((k: { state: string }) => k.state)).toEqual(['retiring', 'active']);
    expect(JSON.stringify(rotated?.body)).not.toMatch(/PRIVATE KEY|"d":/);
    expect(changes.slice(published)).toContainEqual({ tenant: 'acme', kind: 'workload' });
    expect((await authors.acme?.get(admin$('acme', 'ca')))?.body).toEqual(rotated?.body);

    const bundle = await bundleOf('acme');
    expect(bundle.x509Authorities).toHaveLength(2);
    expect(bundle.sequence).toBeGreaterThan(oldBundle.sequence);
    expect(verifyX509Svid(before.svid.certChainPem, bundle).spiffeId).toBe('spiffe://acme.example/web');

    const after = await enrol('acme', 'spiffe://acme.example/worker');
    const newRootOnly = { ...bundle, x509Authorities: [rotated?.body.authorities[1].root_pem] };
    const oldRootOnly = { ...bundle, x509Authorities: [rotated?.body.authorities[0].root_pem] };
    expect(verifyX509Svid(after.svid.certChainPem, newRootOnly).spiffeId).toBe('spiffe://acme.example/worker');
    expect(() => verifyX509Svid(after.svid.certChainPem, oldRootOnly)).toThrow(expect.objectContaining({ code: 'ERR_SVID_UNTRUSTED' }));
    // A workload of the old CA renews into the new one.
    const { answer } = await renew('acme', before.svid);
    expect(answer.status).toBe(200);
    expect(verifyX509Svid(answer.body.x509_svid, newRootOnly).spiffeId).toBe('spiffe://acme.example/web');
  });
});

describe('tenant isolation and input checks', () => {
  it('refuses another tenant\'s admin, an id outside the trust domain, unknown keys and oversized CSRs', async () => {
    const foreign = await authors.acme?.post(admin$('globex', 'workloads'), { spiffe_id: 'spiffe://globex.verity.internal/x' });
    expect([foreign?.status, foreign?.body.code]).toEqual([403, 'ERR_AUTH_FORBIDDEN']);
    expect((await authors.acme?.get(admin$('globex', 'workloads')))?.status).toBe(403);
    expect((await authors.acme?.post(admin$('globex', 'ca/rotate')))?.status).toBe(403);
    expect((await peps.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/x' }))?.status).toBe(403);
    expect((await anonymous.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/x' })).status).toBe(401);

    // Outside acme's trust domain: the deployment's own name (no tenant's), globex's, and the
    // default name acme would have had without its setting.
    for (const [tenant, spiffeId] of [
      ['acme', 'spiffe://verity.internal/x'],
      ['acme', 'spiffe://globex.verity.internal/x'],
      ['acme', 'spiffe://acme.verity.internal/x'],
      ['globex', 'spiffe://verity.internal/x'],
      ['globex', 'spiffe://acme.example/x'],
    ] as const) {
      const outside = await authors[tenant]?.post(admin$(tenant, 'workloads'), { spiffe_id: spiffeId });
      expect([outside?.status, outside?.body.code], `${tenant} ${spiffeId}`).toEqual([400, 'ERR_WORKLOAD_INVALID']);
    }
    const malformed = await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/../x' });
    expect(malformed?.body.code).toBe('ERR_SPIFFE_ID_INVALID');
    expect((await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/x', admin: true }))?.body.code).toBe('ERR_WORKLOAD_INVALID');
    const twice = await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/worker' });
    expect([twice?.status, twice?.body.code]).toEqual([409, 'ERR_WORKLOAD_EXISTS']);

    const unknown = await anonymous.post(wl('acme', 'attest'), { attestor: 'join_token', join_token: 'vjt_x', csr: 'x', spiffe_id: 'spiffe://acme.example/admin' });
    expect([unknown.status, unknown.body.code]).toEqual([400, 'ERR_REQUEST_INVALID']);
    const huge = await anonymous.post(wl('acme', 'attest'), { attestor: 'join_token', join_token: 'vjt_x', csr: 'x'.repeat(9000) });
    expect([huge.status, huge.body.code]).toEqual([413, 'ERR_REQUEST_TOO_LARGE']);
    const nine = await anonymous.post(wl('acme', 'jwt-svid'), { proof: 'p', audience: Array.from({ length: 9 }, (_, i) => `a${i}`) });
    expect(nine.body.code).toBe('ERR_REQUEST_INVALID');
    expect((await anonymous.post(wl('nope', 'attest'), { attestor: 'join_token', join_token: 'vjt_x', csr: 'x' })).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await anonymous.get(wl('_system', 'bundle'))).status).toBe(403);
  });
});

describe('one owning tenant per trust domain', () => {
  const patch = (tenant: string, settings: Record<string, unknown>) => admin.request('PATCH', `/admin/v1/tenants/${tenant}`, { settings });
  const settingsOf = async (tenant: string) => (await admin.get(`/admin/v1/tenants/${tenant}`)).body.settings;

  it('refuses a trust_domain another tenant holds, or the deployment\'s name or one under it but the tenant\'s own; a refusal changes nothing', async () => {
    const tenantsBefore = (await admin.get('/admin/v1/tenants')).body;
    for (const trustDomain of [TD.acme, 'verity.internal', 'globex.verity.internal']) {
      const created = await admin.post('/admin/v1/tenants', { id: 'initech', settings: { trust_domain: trustDomain } });
      expect([created.status, created.body.code], trustDomain).toEqual([400, 'ERR_TENANT_INVALID']);
    }
    expect((await admin.get('/admin/v1/tenants/initech')).status).toBe(404);
    expect((await admin.get('/admin/v1/tenants')).body).toEqual(tenantsBefore);

    const globexBefore = await settingsOf('globex');
    expect(globexBefore.trust_domain).toBeUndefined();
    for (const trustDomain of ['verity.internal', 'acme.verity.internal', TD.acme]) {
      const refused = await patch('globex', { trust_domain: trustDomain });
      expect([refused.status, refused.body.code], trustDomain).toEqual([400, 'ERR_TENANT_INVALID']);
      expect(await settingsOf('globex')).toEqual(globexBefore);
    }
    expect(await settingsOf('acme')).toMatchObject({ trust_domain: TD.acme });
    expect((await bundleOf('acme')).trustDomain).toBe(TD.acme);
    expect((await bundleOf('globex')).trustDomain).toBe(TD.globex);

    // Its own default name, set explicitly, is its own: accepted, and its trust domain is unchanged.
    const own = await patch('globex', { trust_domain: TD.globex });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.settings).toMatchObject({ trust_domain: TD.globex });
    expect((await bundleOf('globex')).trustDomain).toBe(TD.globex);
    expect((await patch('globex', { trust_domain: null })).status).toBe(200);
    expect(await settingsOf('globex')).toEqual(globexBefore);
  });

  it('a decision in another tenant is denied (verity:workload) once the caller\'s owner removes it; a malformed caller is refused', async () => {
    const orders = await enrol('acme', 'spiffe://acme.example/orders');
    const pushed = await authors.globex?.post(admin$('globex', 'policies'), { files: { 'p.cedar': `@id("orders-reads") permit(principal, action == Action::"read", resource) when { context has caller && context.caller == "${orders.svid.spiffeId}" };` } });
    expect(pushed?.status, JSON.stringify(pushed?.body)).toBe(201);
    const pep = peps.globex as Client;
    const decide = (caller: unknown) => pep.post('/tenants/globex/access/v1/evaluation', { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { caller } });

    const before = await decide(orders.svid.spiffeId);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body.decision).toBe(true);
    expect(before.body.context.reason_admin).toMatchObject({ determining_policies: ['orders-reads'], errors: [] });
    // Another caller is not the one the policy names.
    expect((await decide('spiffe://acme.example/web')).body.decision).toBe(false);

    const removed = await authors.acme?.request('DELETE', admin$('acme', `workloads/${orders.id}`));
    expect(removed?.status).toBe(200);
    // Only acme, its trust domain's owner, registered (and so denies) the id; globex's decisions hear it.
    expect(server.components.workloads.isDenied('acme', orders.svid.spiffeId)).toBe(true);
    expect(server.components.workloads.isDenied('globex', orders.svid.spiffeId)).toBe(false);

    const after = await decide(orders.svid.spiffeId);
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body.decision).toBe(false);
    expect(after.body.context.reason_admin).toMatchObject({ determining_policies: [], errors: [{ policyId: 'verity:workload', message: expect.stringContaining(orders.svid.spiffeId) }] });

    const malformed = await decide('orders');
    expect([malformed.status, malformed.body.code]).toEqual([400, 'ERR_REQUEST_INVALID']);
    // A refused subject token is audited with the caller that presented it.
    const badToken = await pep.post('/tenants/globex/access/v1/evaluation', { token: 'e30.e30.sig', action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { caller: 'spiffe://acme.example/web' } });
    expect(badToken.status).toBe(401);
    await server.components.audit.flush();
    const refusals = await authors.globex?.get(`${admin$('globex', 'audit')}?caller=${encodeURIComponent('spiffe://acme.example/web')}&decision=deny`);
    expect(refusals?.body.events.map((e: { principal: { type: string } }) => e.principal.type)).toContain('Verity::Token');
  });
});

describe('Kubernetes service-account attestation', () => {
  it('attests a pod of the registered namespace and service account, and refuses another namespace', async () => {
    const created = await authors.acme?.post(admin$('acme', 'workloads'), { spiffe_id: 'spiffe://acme.example/ns/payments/sa/api', attestor: 'k8s_psat', selectors: ['k8s:ns:payments', 'k8s:sa:api'] });
    expect(created?.status).toBe(201);
    const key = await newKey();
    const attested = await anonymous.post(wl('acme', 'attest'), { attestor: 'k8s_psat', token: await k8s.token(), csr: key.csr });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
    expect(verifyX509Svid(attested.body.x509_svid, await bundleOf('acme')).spiffeId).toBe('spiffe://acme.example/ns/payments/sa/api');

    const wrong = await anonymous.post(wl('acme', 'attest'), { attestor: 'k8s_psat', token: await k8s.token({ namespace: 'default' }), csr: key.csr });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'ERR_ATTESTATION_FAILED']);
    // globex trusts no cluster.
    const elsewhere = await anonymous.post(wl('globex', 'attest'), { attestor: 'k8s_psat', token: await k8s.token(), csr: key.csr });
    expect([elsewhere.status, elsewhere.body.code]).toEqual([401, 'ERR_ATTESTATION_FAILED']);
    // No join token for a k8s_psat registration.
    expect((await authors.acme?.post(admin$('acme', `workloads/${created?.body.id}/join-tokens`), {}))?.body.code).toBe('ERR_WORKLOAD_INVALID');
  });
});
