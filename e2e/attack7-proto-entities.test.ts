/**
 * attack7: `__proto__` keys in stored entities (admin entities API: bulk and single, attrs and
 * tags), in Cedar-native request entities, and next to `context` in AuthZEN batch items. Each
 * must be a plain data key, decided as cedar-wasm decides it (and the stored entity read back with it).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startTestServer } from './helpers/verity.js';

const POLICIES: Record<string, string> = {
  p: 'permit(principal, action, resource);',
  f1: 'forbid(principal, action, resource) when { principal has "__proto__" };',
  f2: 'forbid(principal, action, resource) when { resource has "__proto__" };',
  f3: 'forbid(principal, action, resource) when { principal has nested && principal.nested has "__proto__" };',
  f4: 'forbid(principal, action, resource) when { principal.hasTag("__proto__") };',
  f5: 'forbid(principal, action, resource) when { context has "__proto__" };',
};
const T = 'a7-proto-ent';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': Object.entries(POLICIES).map(([id, p]) => `@id("${id}") ${p}`).join('\n') } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

function truth(entities: unknown[], principalId: string, context: unknown = {}): string {
  const a = cedar.isAuthorized({ principal: { type: 'User', id: principalId }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: context as never, policies: { staticPolicies: POLICIES }, entities: entities as never } as never) as any;
  return a.type === 'success' ? a.response.decision : `refused`;
}
async function raw(method: string, path: string, body: string) {
  const res = await fetch(pdp.url + path, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${(await import('./helpers/verity.js')).ADMIN_TOKEN}` }, body });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}
async function ask(principalId: string) {
  const r = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: principalId }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  return r.status === 200 ? (r.body.decision ? 'allow' : 'deny') : `${r.status} ${r.body.code}`;
}

const ENTITIES: Array<[string, string]> = [
  ['attr', '{"uid":{"type":"User","id":"ATTR"},"attrs":{"__proto__":1},"parents":[]}'],
  ['attr-obj', '{"uid":{"type":"User","id":"ATTROBJ"},"attrs":{"__proto__":{"x":1}},"parents":[]}'],
  ['nested', '{"uid":{"type":"User","id":"NESTED"},"attrs":{"nested":{"__proto__":true}},"parents":[]}'],
  ['tag', '{"uid":{"type":"User","id":"TAG"},"attrs":{},"parents":[],"tags":{"__proto__":"t"}}'],
];

it('stored entities (bulk import) with __proto__ keys decide as Cedar', async () => {
  const imported = await raw('PUT', `/admin/v1/tenants/${T}/entities`, `{"entities":[${ENTITIES.map(([, e]) => e).join(',')}],"mode":"merge"}`);
  expect(imported.status, JSON.stringify(imported.body)).toBeLessThan(300);
  const got: Record<string, string> = {};
  const want: Record<string, string> = {};
  for (const [name, text] of ENTITIES) {
    const e = JSON.parse(text);
    got[name] = await ask(e.uid.id);
    want[name] = truth([e], e.uid.id);
  }
  expect(got).toEqual(want);
});

it('a single stored entity (PUT one) with a __proto__ attr decides as Cedar and reads back with it', async () => {
  const put = await raw('PUT', `/admin/v1/tenants/${T}/entities/User/ONE`, '{"uid":{"type":"User","id":"ONE"},"attrs":{"__proto__":{"a":1}},"parents":[]}');
  expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
  const read = await fetch(`${pdp.url}/admin/v1/tenants/${T}/entities/User/ONE`, { headers: { authorization: `Bearer ${(await import('./helpers/verity.js')).ADMIN_TOKEN}` } });
  const text = await read.text();
  expect({ decision: await ask('ONE'), hasKey: text.includes('__proto__') }).toEqual({ decision: truth([JSON.parse('{"uid":{"type":"User","id":"ONE"},"attrs":{"__proto__":{"a":1}},"parents":[]}')], 'ONE'), hasKey: true });
});

it('Cedar-native request entities with __proto__ keys decide as Cedar', async () => {
  const got: Record<string, string> = {};
  const want: Record<string, string> = {};
  for (const [name, text] of ENTITIES) {
    const e = JSON.parse(text);
    const id = `R${e.uid.id}`;
    const body = text.replace(`"id":"${e.uid.id}"`, `"id":"${id}"`);
    const r = await raw('POST', `/tenants/${T}/cedar/v1/is-authorized`, `{"principal":{"type":"User","id":"${id}"},"action":{"type":"Action","id":"read"},"resource":{"type":"Doc","id":"d"},"entities":[${body}]}`);
    got[name] = r.status === 200 ? r.body.decision : `${r.status} ${r.body?.code}`;
    want[name] = truth([JSON.parse(body)], id);
    const b = await raw('POST', `/tenants/${T}/cedar/v1/batch-is-authorized`, `{"requests":[{"principal":{"type":"User","id":"${id}"},"action":{"type":"Action","id":"read"},"resource":{"type":"Doc","id":"d"}}],"entities":[${body}]}`);
    got[`batch ${name}`] = b.status === 200 ? b.body.results?.[0]?.decision : `${b.status} ${b.body?.code}`;
    want[`batch ${name}`] = want[name];
  }
  // resource properties in AuthZEN
  const rp = await raw('POST', `/tenants/${T}/access/v1/evaluation`, '{"subject":{"type":"User","id":"plain"},"action":{"name":"read"},"resource":{"type":"Doc","id":"d","properties":{"__proto__":1}}}');
  got['resource properties'] = rp.body.decision ? 'allow' : 'deny';
  want['resource properties'] = truth([{ uid: { type: 'User', id: 'plain' }, attrs: {}, parents: [] }, JSON.parse('{"uid":{"type":"Doc","id":"d"},"attrs":{"__proto__":1},"parents":[]}')], 'plain');
  expect(got).toEqual(want);
});

it('AuthZEN batch items: a __proto__ key beside context, and a context with __proto__ in an item and the defaults', async () => {
  const item = (extra: string) => `{"subject":{"type":"User","id":"plain"},"action":{"name":"read"},"resource":{"type":"Doc","id":"d"}${extra}}`;
  const r = await raw('POST', `/tenants/${T}/access/v1/evaluations`, `{"context":{"__proto__":1},"evaluations":[${item('')},${item(',"__proto__":{"context":{}}')},${item(',"context":{"__proto__":2}')},${item(',"context":{}')}]}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  // The first two take the defaults' context (which holds __proto__): denied, as the third; the fourth has its own empty context.
  expect(r.body.evaluations.map((e: any) => e.decision)).toEqual([false, false, false, true]);
});
