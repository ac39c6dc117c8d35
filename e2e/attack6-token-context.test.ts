/**
 * attack6: the order of the Cedar context's sources after the spread-free rewrite — the caller's
 * `context`, then the token's claim-mapped entries (they win), then the risk engine's
 * `context.risk` (it wins over both). A claim mapped onto `risk` never lowers the risk; a caller
 * entry never beats a token entry of the same name; a caller context that is empty or holds
 * only keys the token also sets still gets every token entry.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const ISSUER = 'http://127.0.0.1/a6-tok';
const AUD = 'api';
const POLICIES = `@id("low") permit(principal, action == Action::"pay", resource) when { context has risk && context.risk.level == "low" };
@id("dept") permit(principal, action == Action::"read", resource) when { context has dept && context.dept == "finance" };
@id("no-caller-dept") forbid(principal, action == Action::"read", resource) when { context has dept && context.dept == "caller" };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;

beforeAll(async () => {
  idp = await createInlineIdp({ issuer: ISSUER, audience: AUD });
  pdp = await startTestServer({ decisionAuth: 'open' });
  const source = idp.source({ principalType: 'User', context: { risk: 'rk', dept: 'department' } });
  for (const [t, settings] of [['a6t-on', { risk: { enabled: true } }], ['a6t-off', {}]] as const) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: t, settings })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${t}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    const put = await pdp.admin.request('PUT', `/admin/v1/tenants/${t}/identity-sources/corp`, source);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  }
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function token(claims: Record<string, unknown>, ageSec: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return idp.token({ auth_time: now - ageSec, ...claims });
}

async function ask(t: string, body: Record<string, unknown>) {
  const answer = await pdp.admin.post(`/tenants/${t}/access/v1/evaluation`, { audience: AUD, resource: { type: 'Doc', id: 'd' }, ...body });
  return answer.status === 200 ? answer.body.decision : `${answer.status} ${answer.body.code}`;
}

it('a claim mapped onto risk never lowers the engine risk (stale login, the claim says low)', async () => {
  const forged = { rk: { score: 0, level: 'low', factors: [] } };
  const got = {
    staleWithClaim: await ask('a6t-on', { token: await token(forged, 13 * 3600), action: { name: 'pay' } }),
    staleWithClaimAndContext: await ask('a6t-on', { token: await token(forged, 13 * 3600), action: { name: 'pay' }, context: { x: 1 } }),
    staleBatch: JSON.stringify((await pdp.admin.post('/tenants/a6t-on/access/v1/evaluations', { token: await token(forged, 13 * 3600), audience: AUD, action: { name: 'pay' }, evaluations: [{ resource: { type: 'Doc', id: 'd' } }, { resource: { type: 'Doc', id: 'e' }, context: { y: 2 } }] })).body.evaluations?.map((e: { decision: boolean }) => e.decision)),
    fresh: await ask('a6t-on', { token: await token({}, 60), action: { name: 'pay' } }),
  };
  expect(got).toEqual({ staleWithClaim: false, staleWithClaimAndContext: false, staleBatch: '[false,false]', fresh: true });
});

it('the token entry wins over the caller entry of the same name (risk on and off)', async () => {
  const got: Record<string, unknown> = {};
  for (const t of ['a6t-on', 'a6t-off']) {
    got[`${t} token wins`] = await ask(t, { token: await token({ department: 'finance' }, 60), action: { name: 'read' }, context: { dept: 'caller' } });
    got[`${t} caller alone`] = await ask(t, { token: await token({}, 60), action: { name: 'read' }, context: { dept: 'finance' } });
    got[`${t} __proto__ beside`] = await ask(t, { token: await token({ department: 'finance' }, 60), action: { name: 'read' }, context: JSON.parse('{"__proto__":{"dept":"caller"},"dept":"caller"}') });
  }
  expect(got).toEqual({
    'a6t-on token wins': true, 'a6t-on caller alone': true, 'a6t-on __proto__ beside': true,
    'a6t-off token wins': true, 'a6t-off caller alone': true, 'a6t-off __proto__ beside': true,
  });
});

it('a body own __proto__ key beside the token names no subject: the token is who asks (single and batch)', async () => {
  const t = await token({ department: 'finance' }, 60);
  const single = `{"__proto__":{"subject":{"type":"User","id":"root"},"context":{"dept":"caller"}},"token":${JSON.stringify(t)},"audience":"${AUD}","action":{"name":"read"},"resource":{"type":"Doc","id":"d"}}`;
  const batch = `{"token":${JSON.stringify(t)},"audience":"${AUD}","action":{"name":"read"},"resource":{"type":"Doc","id":"d"},"evaluations":[{"__proto__":{"subject":{"type":"User","id":"root"}}},{"context":{"dept":"caller"}}]}`;
  const got: Record<string, unknown> = {};
  for (const [name, path, body] of [['single', 'evaluation', single], ['batch', 'evaluations', batch]] as const) {
    const requestId = `a6t-${crypto.randomUUID()}`;
    const res = await fetch(`${pdp.url}/tenants/a6t-off/access/v1/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': requestId }, body });
    const json = (await res.json()) as { decision?: boolean; evaluations?: Array<{ decision: boolean }>; code?: string };
    got[name] = res.status === 200 ? (json.evaluations?.map((e) => e.decision) ?? json.decision) : `${res.status} ${json.code}`;
  }
  expect(got).toEqual({ single: true, batch: [true, true] });
});
