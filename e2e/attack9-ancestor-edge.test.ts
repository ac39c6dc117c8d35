/**
 * attack9 coverage: MAX_ANCESTOR_PAIRS at its exact edge (10,000 allowed, 10,001 refused), with
 * parents stored and parents outside the slice; diamonds/lattices whose path count is huge but whose
 * pairs are few are allowed; full chains around the 30/31/32-uid size decide.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenantWithPolicies, startTestServer } from './helpers/verity.js';

const T = 'a9-probe4';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
const POL = `@id("p") permit(principal in Group::"top", action, resource);`;
beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  await createTenantWithPolicies(pdp.admin, T, POL);
}, 60_000);
afterAll(async () => { await pdp?.close(); });
const e = (type: string, id: string, parents: any[] = []) => ({ uid: { type, id }, attrs: {}, parents });

function pairs(ents: any[], roots: any[]) {
  const by = new Map(ents.map((x) => [JSON.stringify([x.uid.type, x.uid.id]), x]));
  const k = (u: any) => JSON.stringify([u.type, u.id]);
  const seen = new Set<string>(); const stack = roots.map(k);
  while (stack.length) { const u = stack.pop()!; if (seen.has(u)) continue; seen.add(u); const x = by.get(u); if (x) for (const p of x.parents) stack.push(k(p)); }
  let n = 0;
  for (const u of seen) { const anc = new Set<string>(); const st = [...(by.get(u)?.parents ?? []).map(k)]; while (st.length) { const a = st.pop()!; if (anc.has(a)) continue; anc.add(a); for (const p of by.get(a)?.parents ?? []) st.push(k(p)); } n += anc.size; }
  return { uids: seen.size, stored: [...seen].filter((u) => by.has(u)).length, pairs: n };
}
let c = 0;
async function ask(ents: any[], principal: any, resource = { type: 'Doc', id: 'd' }) {
  const tenant = `${T}-${c++}`;
  await pdp.admin.post('/admin/v1/tenants', { id: tenant });
  await pdp.admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'p.cedar': POL } });
  const put = await pdp.admin.request('PUT', `/admin/v1/tenants/${tenant}/entities`, { entities: ents, mode: 'replace' });
  if (put.status !== 200) return `put ${put.status} ${put.body.code}`;
  const r = await pdp.admin.post(`/tenants/${tenant}/cedar/v1/is-authorized`, { principal, action: { type: 'Action', id: 'read' }, resource });
  return { ...pairs(ents, [principal, resource, { type: 'Action', id: 'read' }]), answer: r.status === 200 ? r.body.decision : `${r.status} ${r.body.code} ${r.body.message}` };
}
function chain(n: number, prefix = 'g', top = true) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(e('Group', `${prefix}${i}`, i === n - 1 ? (top ? [{ type: 'Group', id: 'top' }] : []) : [{ type: 'Group', id: `${prefix}${i + 1}` }]));
  return out;
}
it('boundaries', async () => {
  const out: any = {};
  // chain of n groups + top stored: user -> g0 -> ... -> g(n-1) -> top
  for (const n of [] as number[]) {
    const ents = [e('User', 'u', [{ type: 'Group', id: 'g0' }]), ...chain(n), e('Group', 'top')];
    out[`chain${n}`] = await ask(ents, { type: 'User', id: 'u' });
  }
  // exact 10000: chain 139 gives (141 uids) pairs = ? ; add resource with k unstored direct parents
  const base = [e('User', 'u', [{ type: 'Group', id: 'g0' }]), ...chain(139), e('Group', 'top')];
  const bp = pairs(base, [{ type: 'User', id: 'u' }]).pairs;
  for (const extra of [10000 - bp, 10001 - bp]) {
    const doc = e('Doc', 'd', Array.from({ length: extra }, (_, i) => ({ type: 'Folder', id: `f${i}` })));
    out[`exact+${extra}-unstored`] = await ask([...base, doc], { type: 'User', id: 'u' });
    const doc2 = e('Doc', 'd', Array.from({ length: extra }, (_, i) => ({ type: 'Folder', id: `f${i}` })));
    out[`exact+${extra}-stored`] = await ask([...base, doc2, ...Array.from({ length: extra }, (_, i) => e('Folder', `f${i}`))], { type: 'User', id: 'u' });
  }
  // lattice: L layers of width W fully connected
  for (const [L, W] of [[40, 2]] as Array<[number, number]>) {
    const ents: any[] = [e('User', 'u', Array.from({ length: W }, (_, j) => ({ type: 'Group', id: `l0_${j}` })))];
    for (let l = 0; l < L; l++) for (let j = 0; j < W; j++) ents.push(e('Group', `l${l}_${j}`, l === L - 1 ? [{ type: 'Group', id: 'top' }] : Array.from({ length: W }, (_, m) => ({ type: 'Group', id: `l${l + 1}_${m}` }))));
    ents.push(e('Group', 'top'));
    out[`lattice${L}x${W}`] = await ask(ents, { type: 'User', id: 'u' });
  }
  // small full chains around 30/31/32/33 uids
  for (const n of [28, 29, 30]) {
    const ents = [e('User', 'u', [{ type: 'Group', id: 'g0' }]), ...chain(n), e('Group', 'top')];
    out[`small${n}`] = await ask(ents, { type: 'User', id: 'u' });
  }
  const ans = (k: string) => (typeof out[k] === 'string' ? out[k] : out[k].answer);
  expect(ans('exact+130-unstored')).toBe('allow');
  expect(ans('exact+130-stored')).toBe('allow');
  expect(ans('exact+131-unstored')).toMatch(/^400 ERR_DECISION_LIMIT.*MAX_ANCESTOR_PAIRS/);
  expect(ans('exact+131-stored')).toMatch(/^400 ERR_DECISION_LIMIT.*MAX_ANCESTOR_PAIRS/);
  for (const k of Object.keys(out).filter((k) => k.startsWith('lattice') || k.startsWith('small'))) expect(ans(k), k).toBe('allow');
}, 120_000);
