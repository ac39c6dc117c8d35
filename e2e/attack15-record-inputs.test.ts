/**
 * Attack 15: the tenant setting `recordDecisionInputs: false` keeps no decision input in any
 * audit record of the tenant, whatever made the decision (AuthZEN evaluation and batch, search,
 * the Cedar-native endpoints, the nginx gateway, the token service, the SDK's local mode, a PEP
 * reporting an input), replay counts those decisions as skipped, and the setting's changes
 * (PATCH, null, bad values, rollback) behave as documented.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditShipper, createLocalDecisionSource } from '@verity/enforce';
import { ADMIN_TOKEN, createClient, startTestServer } from './helpers/verity.js';

const T = 'ri15';
const base = `/admin/v1/tenants/${T}`;
const ISSUER = 'http://127.0.0.1/attack15-issuer';
const AUDIENCE = 'api15';
const POLICIES = `@id("read") permit(principal, action == Action::"read", resource) when { context has secret };
@id("gw") permit(principal, action, resource);`;
const SECRET = 'TOP-SECRET-CONTEXT-VALUE';

let server: Awaited<ReturnType<typeof startTestServer>>;
let idpKey: CryptoKey;
let pepToken: string;
let pepLocal: string;
let pinned: string[];
let stsSecret: string;

async function allEvents(): Promise<any[]> {
  const events: any[] = [];
  for (let after = 0; ; ) {
    const page = await server.admin.get(`${base}/audit?limit=1000&after=${after}`);
    expect(page.status).toBe(200);
    events.push(...page.body.events);
    if (page.body.next === null) return events;
    after = page.body.next;
  }
}

const userToken = (sub: string) =>
  new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(idpKey);

const patch = (settings: Record<string, unknown>) => server.admin.request('PATCH', base, { settings });

/** Every decision path the brief names, once each, all with SECRET in the context where one can be given. */
async function decideEverywhere(tag: string): Promise<void> {
  const pdp = createClient(server.url, null);
  const ctx = { secret: SECRET, tag };
  const single = await pdp.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: 'ann', properties: { ssn: SECRET } }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: ctx });
  expect(single.status).toBe(200);
  const batch = await pdp.post(`/tenants/${T}/access/v1/evaluations`, {
    subject: { type: 'User', id: 'ann' },
    context: ctx,
    evaluations: [{ action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' } }, { action: { name: 'write' }, resource: { type: 'Doc', id: 'd2' }, context: { ...ctx, x: 1 } }],
  });
  expect(batch.status).toBe(200);
  for (const kind of ['subject', 'resource', 'action']) {
    const body = { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: ctx };
    expect((await pdp.post(`/tenants/${T}/access/v1/search/${kind}`, body)).status).toBe(200);
  }
  const cedar = await pdp.post(`/tenants/${T}/cedar/v1/is-authorized`, {
    principal: { type: 'User', id: 'bob' },
    action: { type: 'Action', id: 'read' },
    resource: { type: 'Doc', id: 'd1' },
    context: ctx,
    entities: [{ uid: { type: 'User', id: 'bob' }, attrs: { ssn: SECRET }, parents: [] }],
  });
  expect(cedar.status).toBe(200);
  const cedarBatch = await pdp.post(`/tenants/${T}/cedar/v1/batch-is-authorized`, { requests: [{ principal: { type: 'User', id: 'bob' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: ctx }] });
  expect(cedarBatch.status).toBe(200);
  // A stepped-up explanation path: a deny of a token request.
  const token = await userToken('carol');
  const withToken = await pdp.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: ctx });
  expect(withToken.status).toBe(200);
  // The nginx gateway: the context is the path and its params (a secret in a path segment).
  const gateway = await fetch(`${server.url}/tenants/${T}/gateway/v1/nginx`, { headers: { authorization: `Bearer ${token}`, 'x-original-method': 'GET', 'x-original-uri': `/magic/${SECRET}` } });
  expect(gateway.status).toBe(200);
  // The token service.
  const sts = await fetch(`${server.url}/tenants/${T}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`jobs:${stsSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE, scope: 'docs:list' }).toString(),
  });
  expect(sts.status, await sts.clone().text()).toBe(200);
  // A PEP reporting a record with an input.
  const reported = await createClient(server.url, pepToken).post(`/tenants/${T}/audit/v1/decisions`, {
    records: [
      {
        decisionId: randomUUID(),
        time: new Date().toISOString(),
        tenant: T,
        principal: { type: 'User', id: 'pep' },
        action: { type: 'Action', id: 'read' },
        resource: { type: 'Doc', id: 'd1' },
        decision: 'allow',
        reasons: ['read'],
        errors: [],
        policyVersion: 1,
        latencyUs: 5,
        input: JSON.stringify({ v: 1, context: ctx, overlays: [], provided: [] }),
      },
    ],
  });
  expect(reported.status, JSON.stringify(reported.body)).toBeLessThan(300);
  // The SDK's local mode, shipping its record to the PDP.
  const shipper = createAuditShipper({ url: server.url, tenant: T, credential: pepToken, spoolDir: null, flushMs: 10, retryBackoff: { initialMs: 20, maxMs: 100 } });
  const source = createLocalDecisionSource({ url: server.url, tenant: T, credential: pepLocal, bundleKeyThumbprints: pinned, follow: false, shipper, retryBackoff: { initialMs: 20, maxMs: 100 } });
  try {
    await source.ready;
    const local = await source.decide({ tenant: T, subject: { type: 'User', id: 'ann', properties: { ssn: SECRET } }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: ctx, requestId: `local-${tag}`, tier: 'local' });
    expect(local.decision).toBe('allow');
    await shipper.flush?.();
  } finally {
    await source.close();
    await shipper.close({ timeoutMs: 10_000 });
  }
  await waitFor(async () => (await server.admin.get(`${base}/audit?requestId=local-${tag}`)).body.events.length === 1);
}

/** Bounded wait, sized for a loaded box. */
async function waitFor(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  server = await startTestServer({ decisionAuth: 'open' });
  expect((await server.admin.post('/admin/v1/tenants', { id: T, settings: { gatewayRoutes: ['/magic/{token}'], gatewayAudience: AUDIENCE } })).status).toBe(201);
  expect((await server.admin.post(`${base}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  expect((await server.admin.request('PUT', `${base}/entities`, { entities: [{ uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [] }, { uid: { type: 'Doc', id: 'd1' }, attrs: {}, parents: [] }] })).status).toBe(200);
  const source = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUDIENCE], claims: { principalType: 'User' } };
  expect((await server.admin.request('PUT', `${base}/identity-sources/corp`, source)).status).toBe(200);
  const client = await server.admin.request('PUT', `${base}/clients/jobs`, { principal: { type: 'Client', id: 'jobs' }, audiences: [AUDIENCE], scopes: ['docs:list'], secret: true });
  expect(client.status).toBe(200);
  stsSecret = client.body.clientSecret;
  pepToken = (await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: T })).body.token;
  pepLocal = (await server.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: T })).body.token;
  pinned = (await server.admin.get(`/tenants/${T}/bundle/keys`)).body.thumbprints;
}, 30_000);

afterAll(async () => {
  await server?.close();
});

describe('recordDecisionInputs: false', () => {
  let before = 0;
  let off = 0;
  let offSettingsVersion = 0;

  it('records inputs by default (the attack has something to remove)', async () => {
    await decideEverywhere('on');
    const events = await allEvents();
    before = events.length;
    expect(events.filter((e) => typeof e.input === 'string' && e.input.includes(SECRET)).length).toBeGreaterThan(5);
  });

  it('after PATCH false, no record of any path keeps an input, and the chain still verifies', async () => {
    const patched = await patch({ recordDecisionInputs: false });
    expect(patched.status).toBe(200);
    expect(patched.body.settings.recordDecisionInputs).toBe(false);
    offSettingsVersion = patched.body.settingsVersion;
    await decideEverywhere('off');
    const events = await allEvents();
    const after = events.slice(before);
    off = after.length;
    expect(after.length).toBeGreaterThan(8);
    // The paths were really taken: two PEP-reported records (the ingest, the SDK's local mode), the gateway's.
    expect(after.filter((e) => e.reportedBy !== undefined && e.reportedBy !== null).length).toBe(2);
    expect(after.some((e) => e.resource.id === '/magic/{token}')).toBe(true);
    const leaking = after.filter((e) => e.input !== undefined && e.input !== null);
    expect(leaking.map((e) => `${e.action.id} ${e.resource.type}::${e.resource.id} ${e.reportedBy ?? ''} ${e.tier ?? ''}`)).toEqual([]);
    expect(JSON.stringify(after)).not.toContain(`"context":{"secret"`);
    expect((await server.admin.get(`${base}/audit/verify`)).body).toMatchObject({ ok: true, problems: [] });
  });

  it('replay counts the decisions made meanwhile as skipped', async () => {
    const report = await server.admin.post(`${base}/policies/replay`, { candidate: { files: { 'p.cedar': POLICIES } }, since: '1h' });
    expect(report.status).toBe(200);
    const events = await allEvents();
    const withInput = events.filter((e) => typeof e.input === 'string' && !e.input.includes('omitted')).length;
    expect(report.body.examined).toBe(events.length);
    expect(report.body.skipped).toBeGreaterThanOrEqual(off);
    expect(report.body.replayed + report.body.unreproducible).toBe(withInput);
  });

  it('true again records inputs again; null (the default) too; rollback restores false', async () => {
    expect((await patch({ recordDecisionInputs: true })).body.settings.recordDecisionInputs).toBe(true);
    const pdp = createClient(server.url, null);
    const ask = async (tag: string) => {
      const r = await pdp.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { secret: SECRET, tag } }, { 'x-request-id': `rq-${tag}` });
      expect(r.status).toBe(200);
      await waitFor(async () => (await server.admin.get(`${base}/audit?requestId=rq-${tag}`)).body.events.length === 1);
      return (await server.admin.get(`${base}/audit?requestId=rq-${tag}`)).body.events[0];
    };
    expect((await ask('t1')).input).toContain(SECRET);
    const offVersion = offSettingsVersion;
    expect(offVersion).toBeGreaterThan(0);
    const nulled = await patch({ recordDecisionInputs: null });
    expect(nulled.status).toBe(200);
    expect(nulled.body.settings).not.toHaveProperty('recordDecisionInputs');
    expect((await ask('t2')).input).toContain(SECRET);
    const rolled = await server.admin.post(`${base}/settings/rollback`, { version: offVersion });
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(200);
    expect(rolled.body.settings.recordDecisionInputs).toBe(false);
    expect((await ask('t3')).input ?? null).toBeNull();
    expect((await patch({ recordDecisionInputs: true })).status).toBe(200);
    expect((await ask('t4')).input).toContain(SECRET);
  });

  it('refuses bad values with 400 ERR_TENANT_INVALID and changes nothing', async () => {
    const current = (await server.admin.get(base)).body;
    for (const value of ['false', 0, 1, 'no', [], {}, [false], { __proto__: null }, 'true']) {
      const answer = await patch({ recordDecisionInputs: value });
      expect(answer.status, JSON.stringify(value)).toBe(400);
      expect(answer.body.code).toBe('ERR_TENANT_INVALID');
    }
    const created = await server.admin.post('/admin/v1/tenants', { id: 'ri15bad', settings: { recordDecisionInputs: 'false' } });
    expect(created.status).toBe(400);
    expect(created.body.code).toBe('ERR_TENANT_INVALID');
    const raw = await fetch(`${server.url}${base}`, { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{"settings":{"recordDecisionInputs":fals}}' });
    expect(raw.status).toBe(400);
    const after = (await server.admin.get(base)).body;
    expect(after.settingsVersion).toBe(current.settingsVersion);
    expect(after.settings.recordDecisionInputs).toBe(true);
  });
});
