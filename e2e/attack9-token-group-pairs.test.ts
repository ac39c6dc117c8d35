/**
 * attack9 coverage: a token's groups add parents to its principal and count toward MAX_ANCESTOR_PAIRS
 * exactly (stored chain of 9,870 pairs + 130 groups = 10,000 allowed; 131 refused; a group the store
 * already lists, or one named twice, is not counted twice); a group that closes a cycle is refused.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const T = 'a9-tok';
const ISSUER = 'https://idp.a9.example'; const AUD = 'api';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;
const POL = `@id("p") permit(principal in Group::"top", action, resource);`;
const e = (type: string, id: string, parents: any[] = []) => ({ uid: { type, id }, attrs: {}, parents });
function chain(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(e('Group', `g${i}`, i === n - 1 ? [{ type: 'Group', id: 'top' }] : [{ type: 'Group', id: `g${i + 1}` }]));
  return out;
}
beforeAll(async () => {
  idp = await createInlineIdp({ issuer: ISSUER, audience: AUD });
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POL } })).status).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, idp.source({ principalType: 'User', groupsClaim: 'groups', groupType: 'Group' }))).status).toBe(200);
  const put = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities: [e('User', 'alice', [{ type: 'Group', id: 'g0' }]), ...chain(139), e('Group', 'top'), e('Group', 'cyc', [{ type: 'User', id: 'alice' }])], mode: 'replace' });
  expect(put.status).toBe(200);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('token groups', async () => {
  const out: any = {};
  const ask = async (groups: string[]) => { const token = await idp.token({ groups }); const r = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } }); return r.status === 200 ? r.body.decision + ' ' + JSON.stringify(r.body.context?.reason_admin?.errors).slice(0, 150) : `${r.status} ${r.body.code} ${String(r.body.message).slice(0, 80)}`; };
  out.none = await ask([]);
  out.g130 = await ask(Array.from({ length: 130 }, (_, i) => `n${i}`));
  out.g131 = await ask(Array.from({ length: 131 }, (_, i) => `n${i}`));
  out.g131dupStored = await ask(['g0', ...Array.from({ length: 130 }, (_, i) => `n${i}`)]);
  out.g131dupSelf = await ask([...Array.from({ length: 130 }, (_, i) => `n${i}`), 'n0']);
  out.cycle = await ask(['cyc']);
  out.cycleOnly = await ask(['cyc', 'x']);
  expect(out.none.startsWith('true')).toBe(true);
  expect(out.g130.startsWith('true')).toBe(true);
  expect(out.g131).toMatch(/^400 ERR_DECISION_LIMIT/);
  expect(out.g131dupStored.startsWith('true')).toBe(true);
  expect(out.g131dupSelf.startsWith('true')).toBe(true);
  expect(out.cycle).toMatch(/^400 /);
});
