/**
 * attack7: `settings.typeMapping` is looked up as `typeMapping[type] ?? type`. On a tenant that
 * maps any type, an AuthZEN type that names an Object.prototype member (`constructor`,
 * `toString`, `__proto__`, `hasOwnProperty`) must still be that type itself (Cedar decides
 * `Type::"id"` as sent), not the prototype's function or object: a decision, never a 5xx.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startTestServer } from './helpers/verity.js';

const T = 'a7-typemap';
const POLICIES = '@id("p") permit(principal, action, resource);\n@id("f") forbid(principal is constructor, action, resource);';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { typeMapping: { identity: 'User' } } })).status).toBe(201);
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  expect((await pdp.admin.post('/admin/v1/tenants', { id: `${T}-other` })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}-other/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

function truth(type: string): string {
  const a = cedar.isAuthorized({ principal: { type, id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {}, policies: { staticPolicies: { p: 'permit(principal, action, resource);', f: 'forbid(principal is constructor, action, resource);' } }, entities: [] } as never) as any;
  return a.type === 'success' ? a.response.decision : 'refused';
}

it('prototype member names as AuthZEN types are decided as those types', async () => {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const type of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__']) {
    const r = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type, id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    got[`subject ${type}`] = r.status === 200 ? (r.body.decision ? 'allow' : 'deny') : `${r.status} ${r.body?.code}`;
    want[`subject ${type}`] = truth(type) === 'refused' ? got[`subject ${type}`] : truth(type);
    const res = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'identity', id: 'u' }, action: { name: 'read' }, resource: { type, id: 'd' } });
    got[`resource ${type}`] = res.status < 500 ? 'no 5xx' : `${res.status} ${res.body?.code}`;
    want[`resource ${type}`] = 'no 5xx';
    const s = await pdp.admin.post(`/tenants/${T}/access/v1/search/resource`, { subject: { type: 'identity', id: 'u' }, action: { name: 'read' }, resource: { type } });
    got[`search ${type}`] = s.status < 500 ? 'no 5xx' : `${s.status} ${s.body?.code}`;
    want[`search ${type}`] = 'no 5xx';
    const ss = await pdp.admin.post(`/tenants/${T}/access/v1/search/subject`, { subject: { type }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    got[`search subject ${type}`] = ss.status < 500 ? 'no 5xx' : `${ss.status} ${ss.body?.code}`;
    want[`search subject ${type}`] = 'no 5xx';
  }
  const other = await pdp.admin.post(`/tenants/${T}-other/access/v1/evaluation`, { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  got.other = other.status;
  want.other = 200;
  expect(got).toEqual(want);
  expect((await pdp.admin.get(`/admin/v1/tenants/${T}/audit/verify`)).status).toBe(200);
});
