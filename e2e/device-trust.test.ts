/**
 * Device trust (issue 12): a tenant with `settings.risk.devices` scores the device its users'
 * tokens name. A registered device whose MDM reports it compliant adds nothing; a non-compliant
 * push turns the very next decision into a deny (`device_noncompliant`, audited); a device nobody
 * registered, or a token without the claim, is `unknown_device`. Each replica reads devices from
 * memory, refreshed by the `device` change another replica publishes on the change feed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';
import { buildCert } from '../packages/workload/src/test-helpers.js';

const TENANT = 'devices';
const POLICIES = '@id("low-risk") permit(principal is User, action == Action::"read", resource) when { context.risk.level == "low" };';
const GOOD = { patch_level: new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), disk_encryption: true, screen_lock: true, compliant: true };

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;

/** alice's access token, naming `deviceId` in its `device_id` claim (no claim when undefined). */
async function token(deviceId: string | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'alice', iat: now, exp: now + 600, auth_time: now - 60, ...(deviceId === undefined ? {} : { device_id: deviceId }) })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

/** Decide for alice on `deviceId`; the decision and its audit record. */
async function decide(deviceId: string | undefined) {
  const requestId = `device-${crypto.randomUUID()}`;
  const answer = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: await token(deviceId), audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' } }, { 'x-request-id': requestId });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return { allowed: answer.body.decision as boolean, record: () => auditRecordOf(admin, TENANT, requestId) };
}


const devices$ = (path = '') => `/admin/v1/tenants/${TENANT}/devices${path}`;

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  admin = server.admin;
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings: { risk: { enabled: true, devices: {} } } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('device trust', () => {
  it('registers a device once, takes its posture, lists and removes it (admin API)', async () => {
    const created = await admin.request('PUT', devices$('/kiosk-1'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: 'kiosk-1', tenant: TENANT, posture: {}, compliant: false, issues: ['disk_encryption', 'screen_lock', 'patch_level'] });
    expect((await admin.request('PUT', devices$('/kiosk-1'))).status).toBe(200);
    const reported = await admin.post(devices$('/kiosk-1/posture'), GOOD);
    expect(reported.status, JSON.stringify(reported.body)).toBe(200);
    expect(reported.body).toMatchObject({ posture: GOOD, compliant: true, issues: [] });
    expect((await admin.get(devices$())).body.devices.map((device: { id: string }) => device.id)).toContain('kiosk-1');
    expect((await admin.request('DELETE', devices$('/kiosk-1'))).body).toEqual({ removed: true });
    for (const [method, path, body, status, code] of [
      ['DELETE', '/kiosk-1', undefined, 404, 'ERR_DEVICE_NOT_FOUND'],
      ['POST', '/kiosk-1/posture', GOOD, 404, 'ERR_DEVICE_NOT_FOUND'],
      ['PUT', `/${'x'.repeat(129)}`, undefined, 400, 'ERR_DEVICE_INVALID'],
      ['PUT', `/${'x'.repeat(128)}`, undefined, 201, undefined],
      ['PUT', '/a%20b', undefined, 400, 'ERR_DEVICE_INVALID'],
    ] as const) {
      const answer = await admin.request(method, devices$(path), body);
      expect([answer.status, answer.body.code], `${method} ${path}`).toEqual([status, code]);
    }
    await admin.request('PUT', devices$('/kiosk-2'));
    for (const body of [{ disk_encryption: 'yes' }, { patch_level: 'yesterday' }, { extra: true }]) {
      const answer = await admin.post(devices$('/kiosk-2/posture'), body);
      expect([answer.status, answer.body.code], JSON.stringify(body)).toEqual([400, 'ERR_DEVICE_INVALID']);
    }
    const refused = await admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { risk: { enabled: true, devices: { max_patch_age_days: 0 } } } });
    expect([refused.status, refused.body.code]).toEqual([400, 'ERR_TENANT_INVALID']);
  });

  it("is the tenant's authors' and platform admins' only: a PEP, or another tenant's author, is refused", async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'neighbour' })).status).toBe(201);
    const credential = async (tenant: string, role: string) => createClient(server.url, (await admin.post(`/admin/v1/tenants/${tenant}/credentials`, { role })).body.token as string);
    const author = await credential(TENANT, 'policy-author');
    expect((await author.request('PUT', devices$('/author-made'))).status).toBe(201);
    expect((await author.post(devices$('/author-made/posture'), GOOD)).status).toBe(200);
    expect((await author.get(devices$())).status).toBe(200);
    for (const outsider of [await credential(TENANT, 'pep'), await credential('neighbour', 'policy-author')]) {
      for (const answer of [await outsider.request('PUT', devices$('/x')), await outsider.post(devices$('/author-made/posture'), GOOD), await outsider.get(devices$()), await outsider.request('DELETE', devices$('/author-made'))]) {
        expect([answer.status, answer.body.code]).toEqual([403, 'ERR_AUTH_FORBIDDEN']);
      }
    }
  });

  it('allows on a compliant device; the MDM reports it non-compliant and the very next decision is a deny', async () => {
    await admin.request('PUT', devices$('/laptop-1'));
    expect((await admin.post(devices$('/laptop-1/posture'), GOOD)).status).toBe(200);
    const before = await decide('laptop-1');
    expect(before.allowed).toBe(true);
    expect((await before.record()).risk).toEqual({ score: 0, level: 'low', factors: [] });

    expect((await admin.post(devices$('/laptop-1/posture'), { ...GOOD, disk_encryption: false })).body).toMatchObject({ compliant: false, issues: ['disk_encryption'] });
    const after = await decide('laptop-1');
    expect(after.allowed).toBe(false);
    expect((await after.record()).risk).toEqual({ score: 25, level: 'medium', factors: [{ name: 'device_noncompliant', weight: 25, detail: 'disk_encryption' }] });
  });

  it('binds the device only by a certificate the PEP\'s handshake verified once the tenant names its device CA', async () => {
    const root = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Devices' });
    const stranger = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Devices' });
    const leaf = await buildCert({ issuer: root, subject: 'CN=cert-laptop, O=Devices' });
    const forged = await buildCert({ issuer: stranger, subject: 'CN=cert-laptop, O=Devices' });
    expect((await admin.request('PUT', devices$('/cert-laptop'))).status).toBe(201);
    expect((await admin.post(devices$('/cert-laptop/posture'), GOOD)).status).toBe(200);
    // Without authorities a certificate binds nothing: the claim (a device nobody registered) counts.
    const ask = async (certificate: string) => {
      const requestId = `device-cert-${crypto.randomUUID()}`;
      const answer = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: await token('stranger-box'), audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' }, context: { device_certificate: certificate } }, { 'x-request-id': requestId });
      return { status: answer.status, body: answer.body, record: () => auditRecordOf(admin, TENANT, requestId) };
    };
    expect((await ask(leaf.pem)).body.decision).toBe(false);
    const settings = (authorities: string[] | undefined) => admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { risk: { enabled: true, devices: authorities === undefined ? {} : { certificate_authorities: authorities } } } });
    expect((await settings([leaf.pem])).body.code).toBe('ERR_TENANT_INVALID');
    expect((await settings(['not a certificate'])).body.code).toBe('ERR_TENANT_INVALID');
    expect((await settings([root.pem])).status).toBe(200);
    try {
      // The certificate chains to the tenant's CA: the device is the one it names, registered and compliant.
      const bound = await ask(leaf.pem);
      expect(bound.body.decision, JSON.stringify(bound.body)).toBe(true);
      expect((await bound.record()).risk).toEqual({ score: 0, level: 'low', factors: [] });
      // One that does not chain binds no device at all (not even the claim's): unknown, and why.
      const refused = await ask(forged.pem);
      expect(refused.body.decision).toBe(false);
      expect((await refused.record()).risk.factors).toEqual([{ name: 'unknown_device', weight: 40, detail: expect.stringContaining('device certificate refused') }]);
      // Not PEM: the request is refused, not decided without the certificate.
      const malformed = await ask('MIIB…');
      expect([malformed.status, malformed.body.code]).toEqual([400, 'ERR_DECISION_INVALID_REQUEST']);
    } finally {
      expect((await settings(undefined)).status).toBe(200);
    }
  });

  it('counts a device nobody registered, and a token that names none, as unknown', async () => {
    for (const deviceId of ['stranger-7', undefined]) {
      const answer = await decide(deviceId);
      expect(answer.allowed, String(deviceId)).toBe(false);
      expect((await answer.record()).risk).toEqual({ score: 40, level: 'medium', factors: [{ name: 'unknown_device', weight: 40 }] });
    }
  });

  it("reads devices from memory, refreshed by another replica's device change on the feed", async () => {
    await admin.request('PUT', devices$('/laptop-2'));
    await admin.post(devices$('/laptop-2/posture'), GOOD);
    expect((await decide('laptop-2')).allowed).toBe(true);
    // Another replica's report: its write to the shared store, then its NOTIFY on the feed.
    // Until the change arrives this replica decides from what it holds (no store read per decision).
    const { store } = server.components;
    await store.devices.report(TENANT, { id: 'laptop-2', posture: { ...GOOD, compliant: false }, compliant: false, issues: ['mdm_noncompliant'] }, Date.now());
    expect((await decide('laptop-2')).allowed).toBe(true);
    const heard = new Promise((resolve) => {
      const stop = server.components.changes.subscribe((change) => {
        if (change.tenant === TENANT && change.kind === 'device') resolve((stop(), change));
      });
    });
    await store.db.query('SELECT pg_notify($1, $2)', ['verity_changes', JSON.stringify({ tenant: TENANT, kind: 'device' })]);
    expect(await heard).toEqual({ tenant: TENANT, kind: 'device' });
    const started = Date.now();
    let last = await decide('laptop-2');
    while (last.allowed && Date.now() - started < 1000) last = await decide('laptop-2');
    expect(last.allowed).toBe(false);
    expect((await last.record()).risk.factors).toEqual([{ name: 'device_noncompliant', weight: 25, detail: 'mdm_noncompliant' }]);
  });
});
