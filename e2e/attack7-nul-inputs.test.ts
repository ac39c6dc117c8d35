/**
 * attack7: text that PostgreSQL cannot store (NUL) reaching the server by routes the JSON body
 * check does not cover: form bodies (OAuth token / revoke), HTTP Basic client ids, percent-encoded
 * path parameters and query strings. None may answer 5xx, and decisions of other tenants, and
 * the audit (written for every tenant by one writer), must keep working.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'a7nul';
const O = 'a7nul-other';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let secret: string;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  for (const t of [T, O]) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: t, settings: { risk: { enabled: true, activity: {} } } })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${t}/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
  }
  const client = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/clients/c1`, { principal: { type: 'Client', id: 'c1' }, audiences: ['orders'], scopes: ['orders:read'], secret: true });
  expect(client.status, JSON.stringify(client.body)).toBeLessThan(300);
  secret = client.body.clientSecret;
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function raw(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(pdp.url + path, { method, headers: { authorization: `Bearer ${(pdp.admin as any).token ?? ''}`, ...init.headers }, ...(init.body === undefined ? {} : { body: init.body }) });
  return { status: res.status, text: (await res.text()).slice(0, 200) };
}

it('no NUL-bearing input answers 5xx, and every tenant keeps deciding and auditing', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const basic = (id: string, s: string) => ({ ...form, authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(s)}`).toString('base64')}` });
  const basicRaw = (id: string, s: string) => ({ ...form, authorization: `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}` });
  const adminAuth = { authorization: `Bearer ${process.env.__unused ?? ''}` };
  void adminAuth;
  const cases: Array<[string, string, string, { body?: string; headers?: Record<string, string> }]> = [
    ['form client_id', 'POST', `/tenants/${T}/oauth2/token`, { headers: form, body: `grant_type=client_credentials&client_id=c%001&client_secret=x&audience=orders` }],
    ['basic client id (encoded)', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c\u00001', 'x'), body: 'grant_type=client_credentials&audience=orders' }],
    ['basic client id (raw)', 'POST', `/tenants/${T}/oauth2/token`, { headers: basicRaw('c\u00001', 'x'), body: 'grant_type=client_credentials&audience=orders' }],
    ['basic secret raw', 'POST', `/tenants/${T}/oauth2/token`, { headers: basicRaw('c1', 'x\u0000'), body: 'grant_type=client_credentials&audience=orders' }],
    ['audience', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c1', secret ?? ''), body: 'grant_type=client_credentials&audience=ord%00ers' }],
    ['scope', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c1', secret ?? ''), body: 'grant_type=client_credentials&audience=orders&scope=orders%00read' }],
    ['grant_type', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c1', secret ?? ''), body: 'grant_type=client%00credentials&audience=orders' }],
    ['resource', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c1', secret ?? ''), body: 'grant_type=client_credentials&resource=http://x/%00&audience=orders' }],
    ['param key', 'POST', `/tenants/${T}/oauth2/token`, { headers: basic('c1', secret ?? ''), body: 'grant_type=client_credentials&audience=orders&a%00b=1' }],
    ['revoke token', 'POST', `/tenants/${T}/oauth2/revoke`, { headers: basic('c1', secret ?? ''), body: 'token=a%00b' }],
    ['revoke hint', 'POST', `/tenants/${T}/oauth2/revoke`, { headers: basic('c1', secret ?? ''), body: 'token=ab&token_type_hint=%00' }],
    ['revoke client', 'POST', `/tenants/${T}/oauth2/revoke`, { headers: basicRaw('c\u00001', 'x'), body: 'token=ab' }],
    ['tenant path', 'POST', `/tenants/a%00b/access/v1/evaluation`, { headers: { 'content-type': 'application/json' }, body: '{"subject":{"type":"U","id":"u"},"action":{"name":"r"},"resource":{"type":"D","id":"d"}}' }],
    ['tenant path search', 'POST', `/tenants/a%00b/access/v1/search/resource`, { headers: { 'content-type': 'application/json' }, body: '{"subject":{"type":"U","id":"u"},"action":{"name":"r"},"resource":{"type":"D"}}' }],
    ['tenant path cedar', 'POST', `/tenants/a%00b/cedar/v1/is-authorized`, { headers: { 'content-type': 'application/json' }, body: '{"principal":{"type":"U","id":"u"},"action":{"type":"Action","id":"r"},"resource":{"type":"D","id":"d"}}' }],
    ['tenant path oauth', 'POST', `/tenants/a%00b/oauth2/token`, { headers: form, body: 'grant_type=client_credentials' }],
    ['tenant path bundle', 'GET', `/tenants/a%00b/bundle`, {}],
    ['tenant path changes', 'GET', `/tenants/a%ED%A0%80b/bundle`, {}],
    ['well-known', 'GET', `/.well-known/authzen-configuration/tenants/a%00b`, {}],
    ['ssf events tenant', 'POST', `/ssf/v1/tenants/a%00b/events`, { headers: { 'content-type': 'application/secevent+jwt' }, body: 'a.b.c' }],
    ['workload bundle', 'GET', `/workload/v1/tenants/a%00b/bundle`, {}],
    ['jwks', 'GET', `/tenants/a%00b/.well-known/jwks.json`, {}],
  ];
  const got: Record<string, number> = {};
  for (const [name, method, path, init] of cases) {
    const r = await raw(method, path, init);
    got[name] = r.status;
    if (r.status >= 500) got[`${name} body`] = r.text as never;
  }
  // admin, with the platform admin's credential
  const adminCases: Array<[string, string, string]> = [
    ['admin tenant', 'GET', `/admin/v1/tenants/a%00b`],
    ['admin audit requestId', 'GET', `/admin/v1/tenants/${T}/audit?requestId=a%00b`],
    ['admin drift requestId', 'GET', `/admin/v1/tenants/${T}/audit/drift?requestId=a%00b`],
    ['admin activity subject', 'DELETE', `/admin/v1/tenants/${T}/activity?subject=a%00b`],
    ['admin entity', 'GET', `/admin/v1/tenants/${T}/entities/U/a%00b`],
    ['admin entity delete', 'DELETE', `/admin/v1/tenants/${T}/entities/U/a%00b`],
    ['admin client', 'GET', `/admin/v1/tenants/${T}/clients/a%00b`],
    ['admin client delete', 'DELETE', `/admin/v1/tenants/${T}/clients/a%00b`],
    ['admin idsource', 'DELETE', `/admin/v1/tenants/${T}/identity-sources/a%00b`],
    ['admin version', 'GET', `/admin/v1/tenants/${T}/policies/versions/1%00`],
    ['admin credential revoke', 'POST', `/admin/v1/credentials/a%00b/revoke`],
    ['admin job revoke', 'POST', `/admin/v1/tenants/${T}/jobs/a%00b/revoke`],
    ['admin device', 'DELETE', `/admin/v1/tenants/${T}/devices/a%00b`],
    ['admin workload', 'DELETE', `/admin/v1/tenants/${T}/workloads/a%00b`],
    ['admin threat', 'DELETE', `/admin/v1/tenants/${T}/threat-lists/a%00b`],
    ['admin ssf', 'DELETE', `/admin/v1/tenants/${T}/ssf/transmitters/a%00b`],
    ['admin diff', 'GET', `/admin/v1/tenants/${T}/policies/diff?from=1%00&to=1`],
    ['admin audit after', 'GET', `/admin/v1/tenants/${T}/audit?after=%00`],
  ];
  for (const [name, method, path] of adminCases) {
    const r = await pdp.admin.request(method, path).catch((e) => ({ status: 999, body: String(e) }));
    got[name] = r.status;
    if (r.status >= 500) got[`${name} body`] = JSON.stringify(r.body).slice(0, 200) as never;
  }
  const fiveXX = Object.fromEntries(Object.entries(got).filter(([, s]) => typeof s !== 'number' || s >= 500));
  // Other tenants (and this one) still decide and audit.
  const decide = async (t: string) => (await pdp.admin.post(`/tenants/${t}/access/v1/evaluation`, { subject: { type: 'User', id: 'bob' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).status;
  const after = { [T]: await decide(T), [O]: await decide(O), verifyT: (await pdp.admin.get(`/admin/v1/tenants/${T}/audit/verify`)).status, verifySystem: (await pdp.admin.get(`/admin/v1/tenants/_system/audit/verify`)).status };
  expect({ fiveXX, after }).toEqual({ fiveXX: {}, after: { [T]: 200, [O]: 200, verifyT: 200, verifySystem: 200 } });
});
