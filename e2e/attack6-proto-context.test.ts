/**
 * attack6: a JSON key `__proto__` in a request's context (or nested in a context value, or in a
 * subject's properties) is a plain data key to Cedar: cedar-wasm's isAuthorized sees
 * `context has "__proto__"`. Verity must decide the same — a forbid on that key must hold —
 * on the AuthZEN, token-free path (risk engine off and on) and on the Cedar-native endpoint.
 * (Verity's toCedarRecord copies with `out[key] = value`, which for `__proto__` sets the record's
 * prototype instead: the key is gone and the forbid never fires.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startTestServer } from './helpers/verity.js';

const POLICIES: Record<string, string> = {
  p: 'permit(principal, action, resource);',
  f1: 'forbid(principal, action, resource) when { context has "__proto__" };',
  f2: 'forbid(principal, action, resource) when { context has constructor };',
  f3: 'forbid(principal, action, resource) when { context has "toString" };',
  f4: 'forbid(principal, action, resource) when { context has nested && context.nested has "__proto__" };',
  f5: 'forbid(principal, action, resource) when { context has deny };',
  f6: 'forbid(principal, action, resource) when { principal has "__proto__" };',
};
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  for (const [t, settings] of [['a6p-off', {}], ['a6p-on', { risk: { enabled: true } }]] as const) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: t, settings })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${t}/policies`, { files: { 'p.cedar': Object.entries(POLICIES).map(([id, p]) => `@id("${id}") ${p}`).join('\n') } })).status).toBe(201);
  }
}, 60_000);
afterAll(async () => { await pdp?.close(); });

/** cedar-wasm's decision for the same request (the subject's properties as its entity's attributes). */
function truth(context: unknown, attrs: unknown = {}): boolean | string {
  const entities = [{ uid: { type: 'User', id: 'u' }, attrs, parents: [] }];
  const answer = cedar.isAuthorized({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: context as never, policies: { staticPolicies: POLICIES }, entities } as never);
  return answer.type === 'success' ? answer.response.decision === 'allow' : 'refused';
}

const CONTEXTS = ['{"__proto__":{"x":1}}', '{"__proto__":1}', '{"__proto__":{"deny":true},"y":1}', '{"nested":{"__proto__":{"deny":true}}}', '{"constructor":{"x":1}}', '{"toString":"s"}'];

async function post(path: string, body: string) {
  const res = await fetch(`${pdp.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { decision?: boolean | string; code?: string };
  return res.status === 200 ? json.decision === true || json.decision === 'allow' : `${res.status} ${json.code}`;
}

it.each(['a6p-off', 'a6p-on'])('%s: AuthZEN context keys are decided as Cedar decides them', async (t) => {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const text of CONTEXTS) {
    got[text] = await post(`/tenants/${t}/access/v1/evaluation`, `{"subject":{"type":"User","id":"u"},"action":{"name":"read"},"resource":{"type":"Doc","id":"d"},"context":${text}}`);
    const ctx = JSON.parse(text);
    if (t === 'a6p-on') ctx.risk = { score: 0, level: 'low', factors: [] };
    want[text] = truth(ctx);
  }
  expect(got).toEqual(want);
});

it('Cedar-native context and AuthZEN subject properties are decided as Cedar decides them', async () => {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const text of CONTEXTS) {
    got[`cedar ${text}`] = await post('/tenants/a6p-off/cedar/v1/is-authorized', `{"principal":{"type":"User","id":"u"},"action":{"type":"Action","id":"read"},"resource":{"type":"Doc","id":"d"},"context":${text}}`);
    want[`cedar ${text}`] = truth(JSON.parse(text));
  }
  got['properties __proto__'] = await post('/tenants/a6p-off/access/v1/evaluation', '{"subject":{"type":"User","id":"u","properties":{"__proto__":1}},"action":{"name":"read"},"resource":{"type":"Doc","id":"d"}}');
  want['properties __proto__'] = truth({}, JSON.parse('{"__proto__":1}'));
  expect(got).toEqual(want);
});
