/**
 * The network signals (issue 12): the client IP a PEP reports (`context.client_ip`) or a gateway
 * sets (`X-Real-IP`) is located — the tenant's CIDR table first, then the server's MaxMind
 * database (built here with MaxMind's writer) — into `context.risk.location` for policies, and
 * checked against the tenant's imported threat lists (`known_malicious_ip`, audited with its
 * source). Lists live in memory per replica, refreshed by the `threat` change on the feed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { buildTestMmdb } from '../packages/server/src/network/test-helpers.js';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { eventually } from './helpers/eventually.js';

const TENANT = 'netsig';
// Allowed from Germany, unless the IP is on a threat list; never from a VPN exit.
const POLICIES = `@id("from-germany") permit(principal, action == Action::"read", resource)
  when { context.risk has location && context.risk.location has country && context.risk.location.country == "DE" && !context.risk.factors.contains("known_malicious_ip") };
@id("no-vpn") forbid(principal, action, resource) when { context.risk has location && context.risk.location has vpn && context.risk.location.vpn };`;
const LOCATIONS = [
  { cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' },
  { cidr: '203.0.113.0/24', lat: 48.8566, lon: 2.3522, country: 'FR', city: 'Paris' },
  { cidr: '2001:db8:5::/48', lat: 50.11, lon: 8.68, country: 'DE', vpn: true },
];
const ISSUER = 'https://idp.netsig.example';
const AUDIENCE = 'https://app.netsig.example';

let dir: string;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let key: CryptoKey;

async function decide(context: Record<string, unknown> | undefined, tenant = TENANT) {
  const requestId = `net-${crypto.randomUUID()}`;
  const body = { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' }, ...(context === undefined ? {} : { context }) };
  const answer = await admin.request('POST', `/tenants/${tenant}/access/v1/evaluation`, body, { 'x-request-id': requestId });
  return { ...answer, record: () => auditRecordOf(admin, tenant, requestId) };
}


const lists$ = (path = '') => `/admin/v1/tenants/${TENANT}/threat-lists${path}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-netsig-'));
  const geoipDb = join(dir, 'city.mmdb');
  await buildTestMmdb(geoipDb, [
    // The tenant's table says Berlin for this range: the table is asked first.
    { cidr: '198.51.100.0/24', record: { location: { latitude: 40.71, longitude: -74.0 }, country: { iso_code: 'US' } } },
    { cidr: '192.0.2.0/24', record: { location: { latitude: 53.55, longitude: 9.99 }, country: { iso_code: 'DE' }, city: { names: { en: 'Hamburg' } } } },
  ]);
  server = await startTestServer({ decisionAuth: 'open', geoipDb });
  admin = server.admin;
  const settings = { risk: { enabled: true, locations: LOCATIONS }, gatewayRoutes: ['/docs/{id}'], gatewayAudience: AUDIENCE };
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants', { id: 'riskless' })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants/riskless/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUDIENCE], claims: { principalType: 'User' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('threat lists (admin API)', () => {
  it('imports, lists and removes a list; refuses bad imports and unknown lists with stable codes', async () => {
    const imported = await admin.request('PUT', lists$('/scratch'), { entries: ['192.0.2.0/25', '2001:db8:dead::/48'], expires_at: '2099-01-01T00:00:00Z' });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body).toMatchObject({ source: 'scratch', entries: 2, expires_at: '2099-01-01T00:00:00.000Z', expired: false });
    expect((await admin.get(lists$())).body.threat_lists.map((list: { source: string }) => list.source)).toContain('scratch');
    expect((await admin.request('DELETE', lists$('/scratch'))).body).toEqual({ removed: true });
    for (const [method, path, body, status, code] of [
      ['DELETE', '/scratch', undefined, 404, 'ERR_THREAT_LIST_NOT_FOUND'],
      ['PUT', '/scratch', { entries: ['not-an-ip'] }, 400, 'ERR_THREAT_LIST_INVALID'],
      ['PUT', '/scratch', { entries: [], expires_at: '2000-01-01T00:00:00Z' }, 400, 'ERR_THREAT_LIST_INVALID'],
      ['PUT', '/bad%20source', { entries: [] }, 400, 'ERR_THREAT_LIST_INVALID'],
    ] as const) {
      const answer = await admin.request(method, lists$(path), body);
      expect(answer.status, `${method} ${path}`).toBe(status);
      expect(answer.body.code).toBe(code);
    }
    expect((await createClient(server.url, null).get(lists$())).status).toBe(401);
    // The tenant's feed importer holds a policy-author credential; a PEP credential may not import.
    const author = createClient(server.url, (await admin.post('/admin/v1/credentials', { role: 'policy-author', tenant: TENANT })).body.token);
    expect((await author.request('PUT', lists$('/by-author'), { entries: ['192.0.2.0/30'] })).status).toBe(200);
    expect((await author.request('DELETE', lists$('/by-author'))).status).toBe(200);
    const pep = createClient(server.url, (await admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT })).body.token);
    expect((await pep.request('PUT', lists$('/by-pep'), { entries: [] })).status).toBe(403);
    expect((await pep.get(lists$())).status).toBe(403);
    expect((await admin.request('PUT', '/admin/v1/tenants/nope/threat-lists/x', { entries: [] })).status).toBe(404);
  });
});

describe('location and IP reputation in decisions', () => {
  beforeAll(async () => {
    expect((await admin.request('PUT', lists$('/feed-a'), { entries: ['198.51.100.64/26'] })).status).toBe(200);
  });

  it('puts the location into context.risk.location: a policy decides by the country; the table wins over MaxMind', async () => {
    const berlin = await decide({ client_ip: '198.51.100.7' });
    expect(berlin.status, JSON.stringify(berlin.body)).toBe(200);
    expect(berlin.body.decision).toBe(true);
    expect((await berlin.record()).risk).toEqual({ score: 0, level: 'low', factors: [] });
    expect((await decide({ client_ip: '203.0.113.9' })).body.decision).toBe(false);
    // Not in the table: MaxMind says Hamburg; IPv4-mapped IPv6 is the same address.
    expect((await decide({ client_ip: '192.0.2.10' })).body.decision).toBe(true);
    expect((await decide({ client_ip: '::ffff:192.0.2.10' })).body.decision).toBe(true);
    // In neither, and no IP at all: no location, so no country to allow by.
    expect((await decide({ client_ip: '100.64.0.1' })).body.decision).toBe(false);
    expect((await decide(undefined)).body.decision).toBe(false);
  });

  it('reads context.client_ip of Cedar-native requests and of each evaluation of a batch', async () => {
    const cedar = (clientIp: string) => admin.request('POST', `/tenants/${TENANT}/cedar/v1/is-authorized`, {
      principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd-1' }, context: { client_ip: clientIp },
    });
    expect((await cedar('198.51.100.7')).body.decision).toBe('allow');
    expect((await cedar('203.0.113.9')).body.decision).toBe('deny');
    const batch = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluations`, {
      subject: { type: 'User', id: 'alice' },
      action: { name: 'read' },
      evaluations: ['198.51.100.7', '198.51.100.66', '203.0.113.9'].map((clientIp) => ({ resource: { type: 'Doc', id: 'd-1' }, context: { client_ip: clientIp } })),
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(200);
    expect(batch.body.evaluations.map((evaluation: { decision: boolean }) => evaluation.decision)).toEqual([true, false, false]);
  });

  it('a VPN exit is forbidden by the policy reading context.risk.location.vpn', async () => {
    const vpn = await decide({ client_ip: '2001:db8:5::1' });
    expect(vpn.body.decision).toBe(false);
    expect((await vpn.record()).reasons).toEqual(['no-vpn']);
  });

  it('an IP on a threat list adds known_malicious_ip with its source to the audit, and is denied', async () => {
    const listed = await decide({ client_ip: '198.51.100.66' });
    expect(listed.body.decision).toBe(false);
    expect((await listed.record()).risk).toEqual({ score: 60, level: 'high', factors: [{ name: 'known_malicious_ip', weight: 60, detail: 'feed-a' }] });
  });

  it('refuses a client_ip that is no address literal when the risk engine is on, and ignores it when off', async () => {
    for (const clientIp of ['999.1.1.1', '198.51.100.7:443', 'fe80::1%eth0', 42]) {
      const refused = await decide({ client_ip: clientIp });
      expect(refused.status, String(clientIp)).toBe(400);
      expect(refused.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    }
    expect((await decide({ client_ip: '999.1.1.1' }, 'riskless')).body.decision).toBe(true);
  });

  it("reads a gateway's X-Real-IP", async () => {
    const pep = (await admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT })).body.token as string;
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(key);
    const ask = (realIp: string | undefined) => server.app.inject({
      method: 'GET',
      url: `/tenants/${TENANT}/gateway/v1/nginx`,
      headers: {
        'x-verity-credential': `Bearer ${pep}`,
        authorization: `Bearer ${token}`,
        'x-original-method': 'read',
        'x-original-uri': '/docs/1',
        ...(realIp === undefined ? {} : { 'x-real-ip': realIp }),
      },
    });
    expect((await ask('198.51.100.7')).statusCode).toBe(200);
    expect((await ask('203.0.113.9')).statusCode).toBe(403);
    expect((await ask('198.51.100.66')).statusCode).toBe(403);
    expect((await ask(undefined)).statusCode).toBe(403);
    // A malformed header is a recorded deny (fail closed), not an allow.
    expect((await ask('not an ip')).statusCode).toBe(403);
  });

  it("another replica's import reaches this replica through the change feed (bounded retry), with no store read per decision", async () => {
    expect((await decide({ client_ip: '198.51.100.200' })).body.decision).toBe(true);
    // Another replica's import: its write to the shared store, then its NOTIFY on the feed.
    const { store } = server.components;
    await store.threatLists.put(TENANT, { source: 'feed-b', entries: ['198.51.100.192/26'], expiresAtMs: null }, Date.now());
    expect((await decide({ client_ip: '198.51.100.200' })).body.decision).toBe(true);
    await store.db.query('SELECT pg_notify($1, $2)', ['verity_changes', JSON.stringify({ tenant: TENANT, kind: 'threat' })]);
    await eventually(async () => {
      expect((await decide({ client_ip: '198.51.100.200' })).body.decision).toBe(false);
    });
    const record = await (await decide({ client_ip: '198.51.100.200' })).record();
    expect(record.risk.factors).toEqual([{ name: 'known_malicious_ip', weight: 60, detail: 'feed-b' }]);
  });
});
