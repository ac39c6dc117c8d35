/**
 * Outsider attack on device certificates (docs/continuous-verification.md "Or a device
 * certificate" and "Caching: how long a decision that read the risk may be reused").
 *
 * A decision that bound a device by its certificate depends on that certificate being in its
 * validity period ("every certificate in its validity period"). The certificate's notAfter is a
 * signal that "changes by itself", yet the PDP's `context.verity_cache_until` ignores it (it is
 * the device's patch-age horizon, weeks away), so a PEP's decision cache keeps allowing a device
 * whose certificate (leaf or intermediate) expired: the PDP itself now denies the very same
 * request, the cached PEP (remote or local mode) still allows it. Never allow where it must deny.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDecisionCache, createEnforcer, createLocalDecisionSource, createRemoteDecisionSource, type DecisionSource } from '@verity/enforce';
import { startTestServer } from './helpers/verity.js';
import { buildCert, type TestCert } from '../packages/workload/src/test-helpers.js';

const T = 'atk2-cert-expiry';
const ISSUER = 'http://127.0.0.1/atk2-issuer';
const AUD = 'api';
const POLICIES = `@id("trusted-device") permit(principal, action, resource) when { !context.risk.factors.contains("unknown_device") && !context.risk.factors.contains("device_noncompliant") };`;
const GOOD = { patch_level: new Date().toISOString().slice(0, 10), disk_encryption: true, screen_lock: true };
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let key: CryptoKey;
let root: TestCert;
let pep: string;
let pepLocal: string;
let pinned: string[];
const closers: Array<() => Promise<unknown>> = [];

const token = () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key);
const evaluate = (tk: string, chain: string) => pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token: tk, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { device_certificate: chain } });

async function until(check: () => Promise<boolean>, attempts = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  root = await buildCert({ ca: true, subject: 'CN=MDM Root' });
  pdp = await startTestServer();
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true, devices: { certificate_authorities: [root.pem] } } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/devices/good-laptop`)).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/devices/good-laptop/posture`, GOOD)).status).toBe(200);
  pep = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant: T })).body.token;
  pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: T })).body.token;
  pinned = (await pdp.admin.get(`/tenants/${T}/bundle/keys`)).body.thumbprints;
}, 60_000);
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await pdp?.close();
});

it("the PDP's verity_cache_until for a decision bound by a certificate is no later than the chain's notAfter", async () => {
  const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 30_000);
  const leaf = await buildCert({ issuer: root, subject: 'CN=good-laptop', notAfter });
  const answer = await evaluate(await token(), leaf.pem);
  expect(answer.body.decision, JSON.stringify(answer.body)).toBe(true);
  expect(answer.body.context.verity_cache_until).toBeLessThanOrEqual(notAfter.getTime());
  // The same with an intermediate that expires first.
  const intermediate = await buildCert({ issuer: root, ca: true, subject: 'CN=MDM Issuing', notAfter });
  const leaf2 = await buildCert({ issuer: intermediate, subject: 'CN=good-laptop', notAfter: new Date(Date.now() + 3_600_000) });
  const viaIntermediate = await evaluate(await token(), leaf2.pem + intermediate.pem);
  expect(viaIntermediate.body.decision, JSON.stringify(viaIntermediate.body)).toBe(true);
  expect(viaIntermediate.body.context.verity_cache_until).toBeLessThanOrEqual(notAfter.getTime());
});

for (const mode of ['remote', 'local'] as const) {
  it(`a ${mode} PEP with a decision cache stops allowing once the device certificate expired (the PDP already denies)`, async () => {
    let source: DecisionSource;
    if (mode === 'remote') {
      source = createRemoteDecisionSource({ url: pdp.url, credential: pep });
    } else {
      const local = createLocalDecisionSource({ url: pdp.url, tenant: T, credential: pepLocal, bundleKeyThumbprints: pinned, follow: false, retryBackoff: { initialMs: 20, maxMs: 100 } });
      closers.push(() => local.close());
      await local.ready;
      source = local;
    }
    const enforcer = createEnforcer({ source, cache: createDecisionCache({ ttlMs: 60_000 }), tenant: T, audience: AUD, tier: 'atk2' });
    const leaf = await buildCert({ issuer: root, subject: 'CN=good-laptop', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Math.floor(Date.now() / 1000) * 1000 + 3_000) });
    const tk = await token();
    const enforce = async () => (await enforcer.enforce({ token: tk, requestId: `atk2-${crypto.randomUUID()}`, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { device_certificate: leaf.pem } } as never)).status;
    expect(await enforce()).toBe(200);
    // Bounded wait until the certificate has expired in the PDP's eyes.
    expect(await until(async () => (await evaluate(tk, leaf.pem)).body.decision === false)).toBe(true);
    // The PEP must not keep allowing what the PDP denies.
    expect(await enforce()).toBe(403);
  }, 30_000);
}
