/**
 * attack8 (coverage): within one second, the same token's decisions see a threat list imported
 * meanwhile, a client IP on or off a list, a device posture push, a VPN row vs the plain row of the
 * same city, and a step-up re-evaluation (acr mfa, age 0) is never reused after an SSF raise of
 * the acr (acr mfa in force, but the login still an hour old).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SignJWT, type CryptoKey } from 'jose';
import type { InlineIdp } from './helpers/inline-idp.js';
import { atSecondStart, startRiskHarness, type RiskHarness } from './helpers/risk-harness.js';

const AUD = 'api';
const ISSUER = 'https://idp.example.com';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const TX = 'https://tx.example.com';
const MFA = 'urn:verity:acr:mfa';
const POLICIES = `@id("low") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("novpn") forbid(principal, action, resource) when { context.risk has location && context.risk.location has vpn && context.risk.location.vpn };
@id("mfa-recent")
@step_up_acr("urn:verity:acr:mfa")
@step_up_max_age("300")
permit(principal, action == Action::"pay", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "urn:verity:acr:mfa" && context.risk.authentication has age_sec && context.risk.authentication.age_sec <= 300 };
@id("mfa-any-age") permit(principal, action == Action::"view", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "urn:verity:acr:mfa" };`;
const GOOD = { patch_level: new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), disk_encryption: true, screen_lock: true, compliant: true };
let h: RiskHarness;
let pdp: RiskHarness['pdp'];
let idp: InlineIdp;
let txKey: CryptoKey;
const decide = (...args: Parameters<RiskHarness['decide']>) => h.decide(...args);
const LOCATIONS = [{ cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' }, { cidr: '198.51.100.7/32', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin', vpn: true }];

beforeAll(async () => {
  h = await startRiskHarness({ issuer: ISSUER, audience: AUD, policies: POLICIES });
  ({ pdp, idp, txKey } = h);
  await h.tenant('threat', { enabled: true });
  await h.tenant('threat2', { enabled: true });
  await h.tenant('dev', { enabled: true, devices: {} });
  await h.tenant('loc', { enabled: true, locations: LOCATIONS });
  await h.tenant('step', { enabled: true });
  await h.transmitter('step', TX);
  expect((await pdp.admin.request('PUT', '/admin/v1/tenants/threat2/threat-lists/feed', { entries: ['203.0.113.0/24'] })).status).toBe(200);
  expect((await pdp.admin.request('PUT', '/admin/v1/tenants/dev/devices/dev1')).status).toBe(201);
  expect((await pdp.admin.post('/admin/v1/tenants/dev/devices/dev1/posture', GOOD)).status).toBe(200);
}, 60_000);
afterAll(async () => { await h?.close(); });

it('threat list imported within the second', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 60 });
  await atSecondStart();
  const a = await decide('threat', token, 'read', { client_ip: '203.0.113.9' });
  expect((await pdp.admin.request('PUT', '/admin/v1/tenants/threat/threat-lists/feed', { entries: ['203.0.113.0/24'] })).status).toBe(200);
  const b = await decide('threat', token, 'read', { client_ip: '203.0.113.9' });
  expect([a.decision, b.decision]).toEqual([true, false]);
});

it('same token, no ip then malicious ip then no ip within the second', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 60 });
  await atSecondStart();
  const a = await decide('threat2', token);
  const b = await decide('threat2', token, 'read', { client_ip: '203.0.113.9' });
  const c = await decide('threat2', token);
  const d = await decide('threat2', token, 'read', { client_ip: '198.51.100.1' });
  expect([a.decision, b.decision, c.decision, d.decision]).toEqual([true, false, true, true]);
});

it('device posture push within the second', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 60, device_id: 'dev1' });
  await atSecondStart();
  const a = await decide('dev', token);
  expect((await pdp.admin.post('/admin/v1/tenants/dev/devices/dev1/posture', { ...GOOD, compliant: false })).status).toBe(200);
  const b = await decide('dev', token);
  expect((await pdp.admin.post('/admin/v1/tenants/dev/devices/dev1/posture', GOOD)).status).toBe(200);
  const c = await decide('dev', token);
  // device_noncompliant (25) is medium: the push takes effect at once, and the compliant push again.
  expect([a.decision, b.decision, c.decision]).toEqual([true, false, true]);
});

it('vpn vs non-vpn in same city within the second', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 60 });
  await atSecondStart();
  const a = await decide('loc', token, 'read', { client_ip: '198.51.100.1' });
  const b = await decide('loc', token, 'read', { client_ip: '198.51.100.7' });
  const c = await decide('loc', token, 'read', { client_ip: '198.51.100.1' });
  expect([a.decision, b.decision, c.decision]).toEqual([true, false, true]);
});

it('step-up re-evaluation, then an SSF raise of the acr within the second', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 3600, acr: 'pwd', sub: 'dave' });
  await atSecondStart();
  const a = await decide('step', token, 'pay');
  expect(a.body.context.step_up).toEqual({ acr_values: MFA, max_age: 300 });
  const t = Math.floor(Date.now() / 1000);
  const set = await new SignJWT({ iss: TX, aud: `${pdp.url}/ssf/v1/tenants/step`, iat: t, jti: crypto.randomUUID(), sub_id: { format: 'opaque', id: 'dave' }, events: { [`${CAEP}assurance-level-change`]: { namespace: 'custom', current_level: MFA, change_direction: 'increase', event_timestamp: t } } })
    .setProtectedHeader({ alg: 'ES256', kid: 'tx1', typ: 'secevent+jwt' }).sign(txKey);
  const r = await fetch(`${pdp.url}/ssf/v1/tenants/step/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
  expect(r.status).toBe(202);
  const b = await decide('step', token, 'pay');
  // the SSF level is in force (an MFA acr of any age is allowed), but the login is still an hour old
  expect((await decide('step', token, 'view')).decision).toBe(true);
  const ms = Date.now() % 1000;
  expect(b.decision, `at ${ms}`).toBe(false);
  expect((await b.record()).risk).toMatchObject({ score: 0 });
});
