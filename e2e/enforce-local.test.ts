/**
 * @verity/enforce in local mode against a real Verity PDP: decisions made in-process on the
 * signed bundle equal the PDP's; the bundle needs a pep-local credential and verifies only with
 * the bundle key pinned out of band; a policy push and a revocation reach the local source through
 * the change stream within a second; an altered bundle is refused (the last good one stays; with
 * none, createEnforcer answers 503); local decisions reach the PDP's audit with tier and request
 * id, through a PDP outage, exactly once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnforcer, type DecisionRequest } from '@verity/enforce';
import { createAuditShipper, createLocalDecisionSource, type AuditShipper, type LocalDecisionSource } from '@verity/enforce';
import { startTestServer } from './helpers/verity.js';

const TENANT = 'shop';
const ISSUER = 'http://127.0.0.1/test-issuer';
const AUDIENCE = 'api';
const POLICIES = `@id("staff-read") permit(principal in Group::"staff", action == Action::"read", resource);
@id("senior-write") permit(principal, action == Action::"write", resource) when { principal has level && principal.level >= 5 };
@id("scoped-list") permit(principal, action == Action::"list", resource) when { context has scopes && context.scopes.contains("docs:list") };
@id("no-secrets") forbid(principal, action, resource == Doc::"secret");`;
const LOCKDOWN = `${POLICIES}\n@id("lockdown") forbid(principal, action == Action::"read", resource);`;
const ENTITIES = [
  { uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [] },
  { uid: { type: 'User', id: 'carol' }, attrs: { level: 7 }, parents: [] },
];

let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idpKey: CryptoKey;
let stsSecret: string;
/** The bundle key's thumbprints, read over the admin API as `verity tenant bundle-key` does. */
let pinned: string[];
/** A pep-local credential for the tenant: decisions and its bundle. */
let pepLocal: string;
/** The audit ingest takes records only from a PEP credential of the tenant. */
let pepToken: string;
const closers: Array<() => Promise<unknown> | void> = [];

function userToken(sub: string, claims: Record<string, unknown> = {}, audience = AUDIENCE): Promise<string> {
  return new SignJWT({ jti: `${sub}-${Math.random()}`, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(audience).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(idpKey);
}

async function stsToken(): Promise<string> {
  const response = await fetch(`${pdp.url}/tenants/${TENANT}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`jobs:${stsSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE, scope: 'docs:list' }).toString(),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function localSource(options: Partial<Parameters<typeof createLocalDecisionSource>[0]> = {}): LocalDecisionSource {
  const source = createLocalDecisionSource({ url: pdp.url, tenant: TENANT, credential: pepLocal, bundleKeyThumbprints: pinned, retryBackoff: { initialMs: 20, maxMs: 100 }, ...options });
  closers.push(() => source.close());
  return source;
}

function shipperTo(url: string): AuditShipper {
  const shipper = createAuditShipper({ url, tenant: TENANT, credential: pepToken, spoolDir: null, flushMs: 10, retryBackoff: { initialMs: 20, maxMs: 100 } });
  closers.push(() => shipper.close({ timeoutMs: 100 }));
  return shipper;
}

const ask = (overrides: Partial<DecisionRequest>): DecisionRequest => ({ tenant: TENANT, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: {}, requestId: 'req-local', tier: 'orders-local', ...overrides });

async function until(check: () => Promise<boolean> | boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

const auditOf = async (requestId: string) => (await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${encodeURIComponent(requestId)}`)).body.events as any[];

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  pdp = await startTestServer();
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/entities`, { entities: ENTITIES })).status).toBe(200);
  pepToken = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT, label: 'orders-local' })).body.token;
  const source = {
    issuer: ISSUER,
    keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] },
    audiences: [AUDIENCE],
    claims: { principalType: 'User', groupsClaim: 'groups', attributes: { level: 'lvl' }, context: { scopes: 'scope' } },
  };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
  const client = await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/clients/jobs`, { principal: { type: 'Client', id: 'jobs' }, audiences: [AUDIENCE], scopes: ['docs:list'], secret: true });
  expect(client.status).toBe(200);
  stsSecret = client.body.clientSecret;
  pinned = (await pdp.admin.get(`/tenants/${TENANT}/bundle/keys`)).body.thumbprints;
  pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: TENANT })).body.token;
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await pdp?.close();
});

describe('@verity/enforce, local decision source against a real PDP', () => {
  it("decides exactly as the PDP does: subjects, users' tokens, the tenant STS's tokens, refused tokens", async () => {
    const source = localSource({ follow: false });
    await source.ready;
    expect(source.policyVersion).toBe(1);
    const cases: Array<Partial<DecisionRequest>> = [
      { subject: { type: 'User', id: 'ann' } },
      { subject: { type: 'User', id: 'bob' } },
      { subject: { type: 'User', id: 'ann' }, resource: { type: 'Doc', id: 'secret' } },
      { subject: { type: 'User', id: 'carol' }, action: 'write' },
      { subject: { type: 'User', id: 'bob', properties: { level: 9 } }, action: 'write' },
      { token: await userToken('ann') },
      { token: await userToken('bob') },
      { token: await userToken('bob', { groups: ['staff'] }) },
      { token: await userToken('bob', { lvl: 6 }), action: 'write' },
      { token: await userToken('carol'), action: 'write' },
      { token: await userToken('bob', { scope: 'docs:list' }), action: 'list' },
      { token: await userToken('bob', { scope: 'docs:read' }), action: 'list' },
      { token: await stsToken(), action: 'list' },
      { token: await userToken('ann', {}, 'elsewhere') },
      { token: 'not.a.jwt' },
    ];
    const outcomes = new Set<string>();
    for (const overrides of cases) {
      const request = ask({ ...overrides, ...(overrides.token === undefined ? {} : { audience: AUDIENCE }) });
      const local = await source.decide(request);
      outcomes.add(local.code ?? local.decision);
      const identity = request.token !== undefined ? { token: request.token, audience: AUDIENCE } : { subject: request.subject };
      const remote = await pdp.admin.post(`/tenants/${TENANT}/access/v1/evaluation`, { ...identity, action: { name: request.action }, resource: request.resource, context: {} });
      if (remote.status === 401) {
        expect(local).toMatchObject({ decision: 'deny', reasons: ['unauthenticated'], code: remote.body.code });
        continue;
      }
      expect(remote.status).toBe(200);
      expect({ allow: local.decision === 'allow', version: local.policyVersion, reasons: [...local.reasons].sort() }).toEqual({
        allow: remote.body.decision,
        version: remote.body.context.reason_admin.policy_version,
        reasons: [...remote.body.context.reason_admin.determining_policies].sort(),
      });
    }
    expect([...outcomes].sort()).toEqual(['ERR_TOKEN_AUDIENCE', 'ERR_TOKEN_MALFORMED', 'allow', 'deny']);
  });

  it('a policy push reaches the local source through the change stream within a second', async () => {
    const source = localSource();
    await source.ready;
    const enforcer = createEnforcer({ source, tenant: TENANT, audience: AUDIENCE, tier: 'orders-local' });
    const token = await userToken('ann');
    const read = async () => (await enforcer.enforce({ token, action: 'read', resource: { type: 'Doc', id: 'd1' } })).status;
    expect(await read()).toBe(200);
    const before = source.policyVersion as number;
    const pushedAt = Date.now();
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': LOCKDOWN }, message: 'lockdown' })).status).toBe(201);
    expect(await until(async () => (await read()) === 403, 1000)).toBe(true);
    expect(Date.now() - pushedAt).toBeLessThan(1000);
    expect(source.policyVersion).toBe(before + 1);
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES }, message: 'lift' })).status).toBe(201);
    expect(await until(async () => (await read()) === 200, 1000)).toBe(true);
  });

  it('a revocation reaches the local source through the change stream within a second', async () => {
    const source = localSource();
    await source.ready;
    const enforcer = createEnforcer({ source, tenant: TENANT, audience: AUDIENCE, tier: 'orders-local' });
    const token = await userToken('dave', { groups: ['staff'] });
    const read = () => enforcer.enforce({ token, action: 'read', resource: { type: 'Doc', id: 'd1' } });
    expect((await read()).status).toBe(200);
    const revokedAt = Date.now();
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/revocations`, { subject: 'dave' })).status).toBe(201);
    expect(await until(async () => (await read()).status === 401, 1000)).toBe(true);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect((await read()).decision).toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  it('refuses an altered bundle and keeps the last good one; with no good one the enforcer fails closed (503)', async () => {
    let tamper = false;
    /** A proxying fetch that grants everyone everything inside the bundle's payload, keeping its signature. */
    const tampering: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!tamper || !String(input).endsWith('/bundle') || response.status !== 200) return response;
      const body = (await response.json()) as { bundle: string };
      const [header, payload, signature] = body.bundle.split('.');
      const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8'));
      // The bundle travels as JSON text in its claim.
      const inner = JSON.parse(claims.bundle);
      inner.content.policies.backdoor = 'permit(principal, action, resource);';
      claims.bundle = JSON.stringify(inner);
      return Response.json({ ...body, bundle: `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}` });
    };
    const errors: any[] = [];
    const source = localSource({ fetch: tampering, onError: (error) => errors.push(error) });
    await source.ready;
    const good = source.policyVersion as number;
    const enforcer = createEnforcer({ anyAudience: true, source, tenant: TENANT, tier: 'orders-local' });
    const bobReads = async () => (await enforcer.enforce({ subject: { type: 'User', id: 'bob' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).status;
    expect(await bobReads()).toBe(403);

    tamper = true;
    expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': `${POLICIES}\n@id("touch") permit(principal == User::"nobody", action, resource);` }, message: 'touch' })).status).toBe(201);
    expect(await until(() => errors.some((error) => error?.code === 'ERR_ENFORCE_PDP_RESPONSE'), 2000)).toBe(true);
    expect(source.policyVersion).toBe(good);
    expect(await bobReads()).toBe(403);

    const fresh = localSource({ fetch: tampering, follow: false });
    await fresh.ready;
    expect(fresh.policyVersion).toBeNull();
    const closed = await createEnforcer({ anyAudience: true, source: fresh, tenant: TENANT, tier: 'orders-local' }).enforce({ subject: { type: 'User', id: 'bob' }, action: 'read', resource: { type: 'Doc', id: 'd1' } });
    expect(closed).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_RESPONSE' } });
    tamper = false;
  });

  it('needs a pep-local credential: a plain pep one gets no bundle, and the source fails closed', async () => {
    const pep = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT })).body.token as string;
    const source = localSource({ follow: false, credential: pep });
    await source.ready;
    expect(source.policyVersion).toBeNull();
    await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpStatus: 403, pdpCode: 'ERR_AUTH_FORBIDDEN' });
  });

  it('refuses a bundle signed by whoever controls the channel, even served with their own keys', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const rogueJwk = { ...(await exportJWK(publicKey)), kid: 'rogue', alg: 'ES256', use: 'sig' };
    /** Between the PEP and the PDP: a bundle granting everything, signed with the channel's own key, and that key at /bundle/keys. */
    const hijacking: typeof fetch = async (input, init) => {
      const url = String(input);
      if (url.endsWith('/bundle/keys')) return Response.json({ keys: [rogueJwk], thumbprints: ['rogue'] });
      if (!url.endsWith('/bundle')) return fetch(input, init);
      const body = (await (await fetch(input, init)).json()) as { bundle: string };
      const inner = JSON.parse(JSON.parse(Buffer.from(body.bundle.split('.')[1] as string, 'base64url').toString('utf8')).bundle);
      inner.content.policies.backdoor = 'permit(principal, action, resource);';
      const forged = await new SignJWT({ bundle: JSON.stringify(inner) })
        .setProtectedHeader({ alg: 'ES256', kid: 'rogue', typ: 'verity-bundle+jwt' })
        .setIssuer(`${pdp.url}/tenants/${TENANT}`)
        .setAudience('verity:pep')
        .setSubject(TENANT)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
      return Response.json({ ...body, bundle: forged });
    };
    const source = localSource({ follow: false, fetch: hijacking });
    await source.ready;
    expect(source.policyVersion).toBeNull();
    await expect(source.decide(ask({ subject: { type: 'User', id: 'bob' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_KEY' });
  });

  it("ships local decisions to the PDP's audit with the tier and request id", async () => {
    const shipper = shipperTo(pdp.url);
    const source = localSource({ follow: false, shipper });
    const enforcer = createEnforcer({ source, tenant: TENANT, audience: AUDIENCE, tier: 'orders-local' });
    const allowed = await enforcer.enforce({ token: await userToken('ann'), action: 'read', resource: { type: 'Doc', id: 'd1' }, requestId: 'local-audit-1' });
    const denied = await enforcer.enforce({ subject: { type: 'User', id: 'bob' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, requestId: 'local-audit-2' });
    expect([allowed.status, denied.status]).toEqual([200, 403]);
    await shipper.flush();
    expect(await auditOf('local-audit-1')).toEqual([
      expect.objectContaining({ decisionId: allowed.decision?.decisionId, tier: 'orders-local', decision: 'allow', principal: { type: 'User', id: 'ann' }, policyVersion: source.policyVersion }),
    ]);
    expect(await auditOf('local-audit-2')).toEqual([expect.objectContaining({ decisionId: denied.decision?.decisionId, tier: 'orders-local', decision: 'deny' })]);
    expect((await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body.ok).toBe(true);
  });

  it('local decisions survive a PDP outage and arrive exactly once, even when an acknowledgement is lost', async () => {
    // Between the shipper and the PDP: first the PDP is "down", then one batch reaches it but
    // the answer is lost (so the shipper sends it again), then everything passes.
    let phase: 'down' | 'lose-ack' | 'up' = 'down';
    const arrivals: number[] = [];
    const proxy: Server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        arrivals.push(Date.now());
        if (phase === 'down') return response.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"ERR_STORE_UNAVAILABLE"}');
        void fetch(`${pdp.url}${request.url}`, { method: request.method ?? 'POST', headers: { 'content-type': 'application/json', authorization: request.headers.authorization ?? '' }, body }).then(async (answer) => {
          const text = await answer.text();
          if (phase === 'lose-ack') {
            phase = 'up';
            return response.writeHead(502).end();
          }
          response.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => proxy.close(resolve)));
    const shipper = shipperTo(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    const source = localSource({ follow: false, shipper });
    await source.ready;

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const decision = await source.decide(ask({ subject: { type: 'User', id: i % 2 ? 'ann' : 'bob' }, requestId: `outage-${i}` }));
      ids.push(decision.decisionId as string);
    }
    expect(await until(() => shipper.stats().failedAttempts >= 2, 2000)).toBe(true);
    expect(shipper.stats().pending).toBe(5);
    expect(await auditOf('outage-0')).toEqual([]);

    phase = 'lose-ack';
    await shipper.flush();
    expect(phase).toBe('up');
    expect(shipper.stats()).toMatchObject({ pending: 0, delivered: 5, dropped: 0 });
    for (let i = 0; i < 5; i++) {
      const events = await auditOf(`outage-${i}`);
      expect(events.map((event) => event.decisionId)).toEqual([ids[i]]);
      expect(events[0]).toMatchObject({ tier: 'orders-local', policyVersion: source.policyVersion });
    }
    expect((await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body.ok).toBe(true);
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
  });
});
