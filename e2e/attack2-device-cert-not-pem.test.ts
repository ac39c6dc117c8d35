/**
 * Outsider attack on `context.device_certificate` input validation (docs/continuous-verification.md
 * "Or a device certificate": "`context.device_certificate` (PEM, leaf first, 1–3 certificates)
 * … A value that is not PEM certificates is `400 ERR_DECISION_INVALID_REQUEST`").
 *
 * A value that is not "PEM certificates" is decided anyway, and bound: free text before the
 * first block, junk between blocks, and even a `PRIVATE KEY` block (the device's key, which a PEP
 * must never forward and Verity must never take in) after the certificate are accepted and the
 * device is bound (allow). The PDP and the local PEP agree, so this is input validation, not
 * divergence: low severity, but the documented contract is a 400.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { buildCert, type TestCert } from '../packages/workload/src/test-helpers.js';

const T = 'atk2-not-pem';
const ISSUER = 'http://127.0.0.1/atk2-pem-issuer';
const AUD = 'api';
const POLICIES = `@id("trusted-device") permit(principal, action, resource) when { !context.risk.factors.contains("unknown_device") && !context.risk.factors.contains("device_noncompliant") };`;
const GOOD = { patch_level: new Date().toISOString().slice(0, 10), disk_encryption: true, screen_lock: true };
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let key: CryptoKey;
let root: TestCert;

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
}, 60_000);
afterAll(async () => {
  await pdp?.close();
});

it('refuses a device_certificate that is not PEM certificates only (junk, a private key block) with 400', async () => {
  const leaf = await buildCert({ issuer: root, subject: 'CN=good-laptop' });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key);
  const outcomes: Record<string, string> = {};
  for (const [what, value] of [
    ['private key block after the leaf', leaf.pem + leaf.keyPem],
    ['junk between blocks', leaf.pem + 'not a certificate\n' + root.pem],
    ['free text before the leaf', 'hello\n' + leaf.pem],
  ] as const) {
    const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { device_certificate: value } });
    outcomes[what] = answer.status === 200 ? `200 ${answer.body.decision ? 'allow' : 'deny'}` : `${answer.status} ${answer.body.code}`;
  }
  expect(outcomes).toEqual({
    'private key block after the leaf': '400 ERR_DECISION_INVALID_REQUEST',
    'junk between blocks': '400 ERR_DECISION_INVALID_REQUEST',
    'free text before the leaf': '400 ERR_DECISION_INVALID_REQUEST',
  });
});
