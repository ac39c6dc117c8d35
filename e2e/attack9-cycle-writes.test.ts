/**
 * attack9: a parent cycle in a tenant's stored entities. Cedar refuses any entity set with a
 * cycle ("input graph has a cycle"), and the bulk import `PUT /entities` (mode replace) refuses
 * one with 400 ERR_ENTITY_INVALID. The same cycle written through the single-entity PUT, or a
 * bulk `merge` that closes it against the stored entities, is accepted; from then on the
 * tenant's complete entity set is one Cedar refuses for every request, while Verity goes on
 * answering (allow) every request whose slice does not reach the cycle (security.md
 * guarantee 1: Cedar's answer on the complete entities, or a refusal).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { createTenantWithPolicies, startTestServer } from './helpers/verity.js';

const T = 'a9-cycle-writes';
const POL = '@id("p") permit(principal in Group::"top", action, resource);';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
const e = (type: string, id: string, parents: Array<{ type: string; id: string }> = []) => ({ uid: { type, id }, attrs: {}, parents });
const g = (id: string) => ({ type: 'Group', id });

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  await createTenantWithPolicies(pdp.admin, T, POL);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

const BASE = [e('User', 'alice', [g('top')]), e('Group', 'top'), e('Group', 'a', [g('b')]), e('Group', 'b')];
const CLOSING = e('Group', 'b', [g('a')]);

function oracle(entities: unknown[]): string {
  const a = cedar.isAuthorized({ principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {}, policies: { staticPolicies: POL }, entities } as never) as any;
  return a.type === 'success' ? a.response.decision : 'refused';
}
async function decide(): Promise<string> {
  const r = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  return r.status === 200 ? (r.body.decision ? 'allow' : 'deny') : `refused ${r.status} ${r.body.code}`;
}

it('the bulk import refuses a cycle (the baseline)', async () => {
  const put = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities: [...BASE.filter((x) => x.uid.id !== 'b'), CLOSING], mode: 'replace' });
  expect(put.status).toBe(400);
  expect(oracle([...BASE.filter((x) => x.uid.id !== 'b'), CLOSING])).toBe('refused');
});

for (const [name, write] of [
  ['single-entity PUT', () => pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities/Group/b`, CLOSING)],
  ['bulk merge', () => pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities: [CLOSING], mode: 'merge' })],
] as const) {
  it(`a ${name} that closes a cycle is refused as the bulk import refuses it, or no request is decided on the cyclic store`, async () => {
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities: BASE, mode: 'replace' })).status).toBe(200);
    expect(await decide()).toBe('allow');
    const w = await write();
    const complete = w.status < 300 ? [...BASE.filter((x) => x.uid.id !== 'b'), CLOSING] : BASE;
    // Cedar on the tenant's complete entities, against Verity's answer (a refusal is fine on either side only if both refuse).
    const want = oracle(complete);
    const got = await decide();
    expect({ write: w.status, got: got.startsWith('refused') ? 'refused' : got }).toEqual({ write: w.status, got: want === 'refused' ? 'refused' : want });
  });
}
