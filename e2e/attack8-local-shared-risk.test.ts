/**
 * attack8 (coverage): SDK local mode and the PDP in one process, same token: different weights per
 * tenant, extension-typed acr per tenant schema, and a settings change reaching the local PEP.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditShipper, createEnforcer, createLocalDecisionSource, type DecisionRequest, type LocalDecisionSource } from '@verity/enforce';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const AUD = 'api';
const POLICIES = `@id("low") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("ip") permit(principal, action == Action::"ipr", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr.isIpv4() };
@id("str") permit(principal, action == Action::"strr", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "10.0.0.1" };`;
const SCHEMA = (ipType: string) => `entity User; entity Doc;
action read, ipr appliesTo { principal: User, resource: Doc, context: { risk: { score: Long, level: String, factors: Set<String>, authentication?: { acr?: ${ipType}, amr: Set<String>, age_sec?: Long }, location?: { country?: String, city?: String, vpn?: Bool } } } };
action strr appliesTo { principal: User, resource: Doc, context: { risk: { score: Long, level: String, factors: Set<String>, authentication?: { acr?: String, amr: Set<String>, age_sec?: Long }, location?: { country?: String, city?: String, vpn?: Bool } } } };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;
const sources: Record<string, LocalDecisionSource> = {};
const TENANTS: Record<string, any> = { lenient: { risk: { enabled: true, weights: { stale_authentication: 5 } } }, strict: { risk: { enabled: true } }, ipa: { risk: { enabled: true }, validateRequests: true }, ipb: { risk: { enabled: true }, validateRequests: false } };

beforeAll(async () => {
  pdp = await startTestServer();
  idp = await createInlineIdp({ issuer: 'https://idp.example.com', audience: AUD });
  for (const [id, settings] of Object.entries(TENANTS)) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id, settings })).status).toBe(201);
    const p = await pdp.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': POLICIES }, schema: SCHEMA(id === 'ipb' ? 'String' : 'ipaddr'), validationMode: 'off' });
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${id}/identity-sources/corp`, idp.source())).status).toBe(200);
    const pinned = (await pdp.admin.get(`/tenants/${id}/bundle/keys`)).body.thumbprints;
    const pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: id })).body.token;
    sources[id] = createLocalDecisionSource({ url: pdp.url, tenant: id, credential: pepLocal, bundleKeyThumbprints: pinned });
    await sources[id]!.ready;
  }
}, 60_000);
afterAll(async () => { for (const s of Object.values(sources)) await s.close(); await pdp?.close(); });

const ask = (tenant: string, token: string, action = 'read'): DecisionRequest => ({ tenant, action, resource: { type: 'Doc', id: 'd1' }, context: {}, requestId: `r-${crypto.randomUUID()}`, tier: 't', audience: AUD, token }) as DecisionRequest;
async function local(tenant: string, token: string, action = 'read') { try { return (await sources[tenant]!.decide(ask(tenant, token, action))).decision; } catch (e) { return (e as any).code ?? String(e); } }
async function remote(tenant: string, token: string, action = 'read') { const a = await pdp.admin.post(`/tenants/${tenant}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }); return a.status === 200 ? (a.body.decision ? 'allow' : 'deny') : `status ${a.status}`; }

it('local vs PDP: two tenants with different weights, the same token', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 13 * 3600 });
  const got = [await local('lenient', token), await local('strict', token), await remote('strict', token), await remote('lenient', token), await local('lenient', token), await local('strict', token)];
  expect(got).toEqual(['allow', 'deny', 'deny', 'allow', 'allow', 'deny']);
});

it('local vs PDP: extension-typed acr per tenant schema', async () => {
  const token = await idp.token({ acr: '10.0.0.1', auth_time: Math.floor(Date.now() / 1000) - 60 });
  const got: string[] = [];
  for (const t of ['ipa', 'ipb', 'ipa']) for (const a of ['ipr', 'strr']) got.push(`${t} ${a} ${await local(t, token, a)} ${await remote(t, token, a)}`);
  expect(got.every((g) => { const [, , l, r] = g.split(' '); return l === r; }), got.join('\n')).toBe(true);
});

it('local: settings change reaches the local PEP', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 13 * 3600 });
  expect(await local('strict', token)).toBe('deny');
  expect((await pdp.admin.request('PATCH', '/admin/v1/tenants/strict', { settings: { risk: { enabled: true, weights: { stale_authentication: 5 } } } })).status).toBe(200);
  expect(await remote('strict', token)).toBe('allow');
  let l = '';
  for (let i = 0; i < 100 && l !== 'allow'; i++) { l = await local('strict', token); await new Promise((r) => setTimeout(r, 25)); }
  expect(l).toBe('allow');
});

it('local mode ships, per tenant, the risk that decided (same token, two weights, one second)', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 13 * 3600 });
  const ids: Record<string, string> = {};
  const statuses: Record<string, number> = {};
  for (const tenant of ['lenient', 'ipa']) {
    const pep = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant })).body.token;
    const pinned = (await pdp.admin.get(`/tenants/${tenant}/bundle/keys`)).body.thumbprints;
    const pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant })).body.token;
    const shipper = createAuditShipper({ url: pdp.url, tenant, credential: pep, spoolDir: null, flushMs: 10 });
    const source = createLocalDecisionSource({ url: pdp.url, tenant, credential: pepLocal, bundleKeyThumbprints: pinned, shipper });
    await source.ready;
    const enforcer = createEnforcer({ source, tenant, audience: AUD, tier: 'a8' });
    ids[tenant] = `a8-ship-${crypto.randomUUID()}`;
    statuses[tenant] = (await enforcer.enforce({ token, requestId: ids[tenant], action: 'read', resource: { type: 'Doc', id: 'd1' } })).status;
    let events: any[] = [];
    for (let i = 0; i < 200 && events.length === 0; i++) { events = (await pdp.admin.get(`/admin/v1/tenants/${tenant}/audit?requestId=${ids[tenant]}`)).body.events; await new Promise((r) => setTimeout(r, 25)); }
    await source.close(); await shipper.close({ timeoutMs: 100 });
    expect(events[0], tenant).toMatchObject(tenant === 'lenient' ? { decision: 'allow', risk: { score: 5, level: 'low' } } : { decision: 'deny', risk: { score: 30, level: 'medium' } });
  }
  expect(statuses).toEqual({ lenient: 200, ipa: 403 });
});
