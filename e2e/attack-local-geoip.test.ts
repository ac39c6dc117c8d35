/**
 * From an outsider's attack (issue 12): local mode must decide exactly as the PDP (docs/continuous-verification.md "Location":
 * the client IP is located by the tenant's table first, then by the server's MaxMind database).
 * A PDP started with --geoip-db locates 192.0.2.5 in KP and 100.64.1.1 as a VPN exit and denies
 * (forbid on country / vpn); a local-mode PEP deciding from the tenant's bundle does not locate
 * them at all: it must not allow them (it refuses: only the PDP places them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLocalDecisionSource, type DecisionRequest } from '@verity/enforce';
import { buildTestMmdb } from '../packages/server/src/network/test-helpers.js';
import { startTestServer } from './helpers/verity.js';

const T = 'local-geoip';
const ISSUER = 'http://127.0.0.1/atk-issuer';
const AUD = 'api';
const POLICIES = `@id("read") permit(principal, action, resource) when { context.risk.level == "low" };
@id("no-kp") forbid(principal, action, resource) when { context.risk has location && context.risk.location has country && context.risk.location.country == "KP" };
@id("no-vpn") forbid(principal, action, resource) when { context.risk has location && context.risk.location has vpn && context.risk.location.vpn };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idpKey: CryptoKey;
let dir: string;
let pinned: string[];
let pepLocal: string;

function userToken(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: `${sub}-${Math.random()}`, auth_time: now - 60 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject(sub).setIssuedAt(now).setExpirationTime(now + 300).sign(idpKey);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atk-geoip-'));
  const geoipDb = join(dir, 'city.mmdb');
  await buildTestMmdb(geoipDb, [
    { cidr: '192.0.2.0/24', record: { location: { latitude: 39.0, longitude: 125.7 }, country: { iso_code: 'KP' } } },
    { cidr: '100.64.0.0/16', record: { location: { latitude: 1.3, longitude: 103.8 }, country: { iso_code: 'SG' }, is_anonymous_vpn: true } },
  ] as any);
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  pdp = await startTestServer({ geoipDb });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
  pinned = (await pdp.admin.get(`/tenants/${T}/bundle/keys`)).body.thumbprints;
  pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: T })).body.token;
}, 60_000);

afterAll(async () => {
  await pdp?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('a local PEP denies what the PDP denies by the MaxMind location (country, VPN)', async () => {
  const source = createLocalDecisionSource({ url: pdp.url, tenant: T, credential: pepLocal, bundleKeyThumbprints: pinned, follow: false });
  try {
    await source.ready;
    for (const ip of ['192.0.2.5', '100.64.1.1']) {
      const token = await userToken('ann');
      const remote = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { client_ip: ip } });
      expect(remote.status).toBe(200);
      expect(remote.body.decision, `PDP ${ip}`).toBe(false);
      const request = { tenant: T, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { client_ip: ip }, requestId: `geo-${ip}`, tier: 't', audience: AUD, token } as DecisionRequest;
      let local: string;
      try {
        local = (await source.decide(request)).decision;
      } catch (error) {
        local = (error as { code?: string }).code ?? 'error';
      }
      // Only the PDP's database places it: the local PEP refuses to decide (fails closed).
      expect(local, `local PEP for ${ip} (the PDP denies)`).toBe('ERR_ENFORCE_LOCAL_UNSUPPORTED');
    }
    // A request without a client IP is still decided locally, as the PDP decides it.
    const token = await userToken('ann');
    const plain = { tenant: T, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: {}, requestId: 'geo-none', tier: 't', audience: AUD, token } as DecisionRequest;
    const remote = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: {} });
    expect((await source.decide(plain)).decision).toBe(remote.body.decision ? 'allow' : 'deny');
  } finally {
    await source.close();
  }
});
