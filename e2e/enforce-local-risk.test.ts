/**
 * Local mode with the risk engine on: a PEP deciding from its bundle weighs the login's age, the
 * device and the client IP exactly as the PDP does (the bundle carries the tenant's devices and
 * threat lists; the location table is in its settings), refuses a request
 * that names `context.risk` itself as the PDP does, sees a posture push through the change
 * stream, and ships the risk it measured to the PDP's audit.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditShipper, createEnforcer, createLocalDecisionSource, type DecisionRequest, type LocalDecisionSource } from '@verity/enforce';
import { startTestServer } from './helpers/verity.js';
import { buildCert } from '../packages/workload/src/test-helpers.js';

const TENANT = 'watchful-local';
const ISSUER = 'http://127.0.0.1/risk-issuer';
const AUDIENCE = 'api';
const POLICIES = `@id("low-risk-read") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("any-write") permit(principal, action == Action::"write", resource);
@id("risky-write") forbid(principal, action == Action::"write", resource) when { context.risk.score >= 40 };
@id("bad-device") forbid(principal, action, resource) when { context.risk.factors.contains("device_noncompliant") };
@id("bad-ip") forbid(principal, action, resource) when { context.risk.factors.contains("known_malicious_ip") };
@id("no-writes-from-xx") forbid(principal, action == Action::"write", resource) when { context.risk has location && context.risk.location has country && context.risk.location.country == "XX" };`;
const LOCATIONS = [{ cidr: '198.51.100.0/24', lat: 10, lon: 10, country: 'XX' }, { cidr: '192.0.2.0/24', lat: 48.85, lon: 2.35, country: 'FR' }];
const TODAY = new Date().toISOString().slice(0, 10);
const GOOD = { patch_level: TODAY, disk_encryption: true, screen_lock: true };

let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idpKey: CryptoKey;
let pinned: string[];
let pepLocal: string;
let pepToken: string;
/** The tenants' identity source (the test's own issuer). */
let identitySource: Record<string, unknown>;
const closers: Array<() => Promise<unknown> | void> = [];

/** A user token authenticated `ageSec` ago (no auth_time when undefined), bound to `device` (none when undefined). */
function userToken(sub: string, ageSec: number | undefined, device: string | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...(ageSec === undefined ? {} : { auth_time: now - ageSec }), ...(device === undefined ? {} : { device_id: device }) };
  return new SignJWT({ jti: `${sub}-${Math.random()}`, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(sub).setIssuedAt(now).setExpirationTime(now + 300).sign(idpKey);
}

function localSource(options: Partial<Parameters<typeof createLocalDecisionSource>[0]> = {}): LocalDecisionSource {
  const source = createLocalDecisionSource({ url: pdp.url, tenant: TENANT, credential: pepLocal, bundleKeyThumbprints: pinned, retryBackoff: { initialMs: 20, maxMs: 100 }, ...options });
  closers.push(() => source.close());
  return source;
}

const ask = (overrides: Partial<DecisionRequest>): DecisionRequest => ({ tenant: TENANT, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: {}, requestId: 'req-local-risk', tier: 'local-risk', audience: AUDIENCE, ...overrides });

async function until(check: () => Promise<boolean> | boolean, attempts = 200): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  pdp = await startTestServer();
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT, settings: { risk: { enabled: true, devices: {}, locations: LOCATIONS } } })).status).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/threat-lists/feed-a`, { entries: ['203.0.113.0/24'], expires_at: new Date(Date.now() + 3_600_000).toISOString() })).status).toBe(200);
  expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  identitySource = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUDIENCE], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, identitySource)).status).toBe(200);
  for (const [id, posture] of [['good-laptop', GOOD], ['bad-laptop', { ...GOOD, disk_encryption: false }]] as const) {
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/devices/${id}`)).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/devices/${id}/posture`, posture)).status).toBe(200);
  }
  pinned = (await pdp.admin.get(`/tenants/${TENANT}/bundle/keys`)).body.thumbprints;
  pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: TENANT })).body.token;
  pepToken = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT, label: 'local-risk' })).body.token;
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await pdp?.close();
});

describe('local mode with the risk engine on', () => {
  it('decides exactly as the PDP does over login ages, devices (registered, non-compliant, unknown, none) and client IPs (listed, located, neither, none)', async () => {
    const source = localSource({ follow: false });
    await source.ready;
    const outcomes = new Set<string>();
    for (const ageSec of [600, 5 * 3600, 13 * 3600, undefined]) {
      for (const device of ['good-laptop', 'bad-laptop', 'stranger', undefined]) {
        for (const [action, ip] of [['read', undefined], ['write', undefined], ['read', '203.0.113.9'], ['write', '198.51.100.7'], ['write', '192.0.2.1']] as const) {
          const token = await userToken('ann', ageSec, device);
          const context = ip === undefined ? {} : { client_ip: ip };
          const local = await source.decide(ask({ token, action, context }));
          const remote = await pdp.admin.post(`/tenants/${TENANT}/access/v1/evaluation`, { token, audience: AUDIENCE, action: { name: action }, resource: { type: 'Doc', id: 'd1' }, context });
          expect(remote.status).toBe(200);
          const what = `${action} ${ageSec} ${device} ${ip}`;
          expect({ allow: local.decision === 'allow', reasons: [...local.reasons].sort() }, what).toEqual({ allow: remote.body.decision, reasons: [...remote.body.context.reason_admin.determining_policies].sort() });
          expect(local.cacheUntil, what).toBe(remote.body.context.verity_cache_until);
          outcomes.add(`${action}:${local.decision}`);
        }
      }
    }
    // Both answers of both actions occurred: the grid exercises every rule.
    expect([...outcomes].sort()).toEqual(['read:allow', 'read:deny', 'write:allow', 'write:deny']);
  });

  it('binds a device by certificate as the PDP does when the tenant names its device CA (verified, forged, none, malformed)', async () => {
    const CERT_TENANT = 'watchful-certs';
    const root = await buildCert({ ca: true, subject: 'CN=MDM Root' });
    const stranger = await buildCert({ ca: true, subject: 'CN=MDM Root' });
    const leaf = await buildCert({ issuer: root, subject: 'CN=good-laptop' });
    const forged = await buildCert({ issuer: stranger, subject: 'CN=good-laptop' });
    expect((await pdp.admin.post('/admin/v1/tenants', { id: CERT_TENANT, settings: { risk: { enabled: true, devices: { certificate_authorities: [root.pem] } } } })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${CERT_TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${CERT_TENANT}/identity-sources/corp`, identitySource)).status).toBe(200);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${CERT_TENANT}/devices/good-laptop`)).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${CERT_TENANT}/devices/good-laptop/posture`, GOOD)).status).toBe(200);
    const pinnedKeys = (await pdp.admin.get(`/tenants/${CERT_TENANT}/bundle/keys`)).body.thumbprints;
    const credential = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: CERT_TENANT })).body.token;
    const source$ = localSource({ tenant: CERT_TENANT, credential, bundleKeyThumbprints: pinnedKeys, follow: false });
    await source$.ready;
    const outcomes: string[] = [];
    for (const certificate of [leaf.pem, forged.pem, undefined, 'not pem']) {
      const token = await userToken('ann', 600, 'good-laptop');
      const context = certificate === undefined ? {} : { device_certificate: certificate };
      const remote = await pdp.admin.post(`/tenants/${CERT_TENANT}/access/v1/evaluation`, { token, audience: AUDIENCE, action: { name: 'write' }, resource: { type: 'Doc', id: 'd1' }, context });
      let local: string;
      try {
        local = (await source$.decide(ask({ tenant: CERT_TENANT, token, action: 'write', context }))).decision;
      } catch (error) {
        local = `refused ${(error as { pdpCode?: string }).pdpCode}`;
      }
      const pdpSays = remote.status === 200 ? (remote.body.decision ? 'allow' : 'deny') : `refused ${remote.body.code}`;
      expect(local, String(certificate).slice(0, 30)).toBe(pdpSays);
      outcomes.push(local);
    }
    // The verified certificate binds the compliant laptop; the rest bind none (the claim does not count).
    expect(outcomes).toEqual(['allow', 'deny', 'deny', 'refused ERR_DECISION_INVALID_REQUEST']);
  });

  it('refuses a request that names context.risk itself, as the PDP does (400), so a caller cannot lower its own risk', async () => {
    const source = localSource({ follow: false });
    await source.ready;
    const token = await userToken('ann', 13 * 3600, 'stranger');
    const forged = { risk: { score: 0, level: 'low', factors: [] } };
    await expect(source.decide(ask({ token, context: forged }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED' });
    const remote = await pdp.admin.post(`/tenants/${TENANT}/access/v1/evaluation`, { token, audience: AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: forged });
    expect(remote.status).toBe(400);
    expect(remote.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });

  it('sees a device fall out of compliance through the change stream, and ships the risk it measured to the audit', async () => {
    const shipper = createAuditShipper({ url: pdp.url, tenant: TENANT, credential: pepToken, spoolDir: null, flushMs: 10, retryBackoff: { initialMs: 20, maxMs: 100 } });
    closers.push(() => shipper.close({ timeoutMs: 100 }));
    const source = localSource({ shipper });
    await source.ready;
    const enforcer = createEnforcer({ source, tenant: TENANT, audience: AUDIENCE, tier: 'local-risk' });
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/devices/flaky-laptop`)).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/devices/flaky-laptop/posture`, GOOD)).status).toBe(200);
    const token = await userToken('ann', 600, 'flaky-laptop');
    const read = async (requestId: string) => (await enforcer.enforce({ token, requestId, action: 'read', resource: { type: 'Doc', id: 'd1' } })).status;
    expect(await until(async () => (await read(`flaky-ok-${crypto.randomUUID()}`)) === 200)).toBe(true);
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/devices/flaky-laptop/posture`, { ...GOOD, screen_lock: false })).status).toBe(200);
    expect(await until(async () => (await read(`flaky-late-${crypto.randomUUID()}`)) === 403)).toBe(true);
    const requestId = `flaky-denied-${crypto.randomUUID()}`;
    expect(await read(requestId)).toBe(403);
    let events: any[] = [];
    expect(await until(async () => (events = (await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${requestId}`)).body.events).length === 1)).toBe(true);
    expect(events[0]).toMatchObject({ decision: 'deny', reasons: ['bad-device'], reportedBy: expect.any(String), risk: { score: 25, level: 'medium', factors: [{ name: 'device_noncompliant', weight: 25, detail: 'screen_lock' }] } });
  });
});
