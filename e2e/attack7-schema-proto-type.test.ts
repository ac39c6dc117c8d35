/**
 * attack7: the compiled evaluator resolves schema type names through a plain-object table of
 * extension types (`EXTENSIONS[name]`), checked before the declared entity types. An entity type
 * the schema names `toString` or `constructor` (Object.prototype members) must still be an entity
 * type: decisions must equal cedar-wasm's.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startTestServer } from './helpers/verity.js';

const SCHEMA = `entity toString; entity constructor; entity User = { owner: toString, maker: constructor }; entity Doc; action read appliesTo { principal: User, resource: Doc };`;
const POLICIES: Record<string, string> = {
  p: 'permit(principal, action == Action::"read", resource) when { principal.owner == toString::"x" && principal.maker == constructor::"y" };',
};
const ENTITIES = [
  { uid: { type: 'User', id: 'u' }, attrs: { owner: { __entity: { type: 'toString', id: 'x' } }, maker: { __entity: { type: 'constructor', id: 'y' } } }, parents: [] },
  { uid: { type: 'User', id: 'v' }, attrs: { owner: { __entity: { type: 'toString', id: 'z' } }, maker: { __entity: { type: 'constructor', id: 'y' } } }, parents: [] },
];
const T = 'a7-schema-proto';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': Object.entries(POLICIES).map(([id, p]) => `@id("${id}") ${p}`).join('\n') }, schema: SCHEMA });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  const imported = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities: ENTITIES, mode: 'replace' });
  expect(imported.status, JSON.stringify(imported.body)).toBeLessThan(300);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('entity types named toString / constructor decide as Cedar decides them', async () => {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const id of ['u', 'v']) {
    const r = await pdp.admin.post(`/tenants/${T}/cedar/v1/is-authorized`, { principal: { type: 'User', id }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' } });
    got[id] = r.status === 200 ? r.body.decision : `${r.status} ${r.body?.code}`;
    const a = cedar.isAuthorized({ principal: { type: 'User', id }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {}, policies: { staticPolicies: POLICIES }, entities: ENTITIES, schema: SCHEMA, validateRequest: true } as never) as any;
    want[id] = a.type === 'success' ? a.response.decision : JSON.stringify(a.errors);
  }
  expect(got).toEqual(want);
});
