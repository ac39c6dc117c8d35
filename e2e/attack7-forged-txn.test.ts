/**
 * attack7: "`context.txn` is the PDP's alone: a request that sets it is `400`" (docs/identity.md
 * §3a). Every decision route must hold to it — AuthZEN single, batch (item and defaults),
 * search, Cedar-native single and batch: a forged `context.txn` must never reach a policy that
 * trusts it (no allow), on tenants with the risk engine off and on.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const TXN = { id: 't-1', sub: 'alice', scope: ['orders:read'], req_wl: 'spiffe://x/y' };
const POLICY = '@id("txn") permit(principal, action, resource) when { context has txn && context.txn.sub == "alice" };';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  for (const [t, settings] of [['a7txn-off', {}], ['a7txn-on', { risk: { enabled: true } }]] as const) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: t, settings })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${t}/policies`, { files: { 'p.cedar': POLICY } })).status).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${t}/entities`, { entities: [{ uid: { type: 'Doc', id: 'd' }, attrs: {}, parents: [] }, { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }] })).status).toBeLessThan(300);
  }
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it.each(['a7txn-off', 'a7txn-on'])('%s: no route decides with a request-made context.txn', async (t) => {
  const s = { type: 'User', id: 'alice' };
  const a = { name: 'read' };
  const r = { type: 'Doc', id: 'd' };
  const allowed: Record<string, unknown> = {};
  const single = await pdp.admin.post(`/tenants/${t}/access/v1/evaluation`, { subject: s, action: a, resource: r, context: { txn: TXN } });
  allowed.single = single.status === 200 ? single.body.decision : single.status;
  const item = await pdp.admin.post(`/tenants/${t}/access/v1/evaluations`, { evaluations: [{ subject: s, action: a, resource: r, context: { txn: TXN } }] });
  allowed.batchItem = item.status === 200 ? item.body.evaluations[0].decision : item.status;
  const defaults = await pdp.admin.post(`/tenants/${t}/access/v1/evaluations`, { context: { txn: TXN }, evaluations: [{ subject: s, action: a, resource: r }] });
  allowed.batchDefaults = defaults.status === 200 ? defaults.body.evaluations[0].decision : defaults.status;
  const sres = await pdp.admin.post(`/tenants/${t}/access/v1/search/resource`, { subject: s, action: a, resource: { type: 'Doc' }, context: { txn: TXN } });
  allowed.searchResource = sres.status === 200 ? sres.body.results.length > 0 : sres.status;
  const ssub = await pdp.admin.post(`/tenants/${t}/access/v1/search/subject`, { subject: { type: 'User' }, action: a, resource: r, context: { txn: TXN } });
  allowed.searchSubject = ssub.status === 200 ? ssub.body.results.length > 0 : ssub.status;
  const sact = await pdp.admin.post(`/tenants/${t}/access/v1/search/action`, { subject: s, resource: r, context: { txn: TXN } });
  allowed.searchAction = sact.status === 200 ? sact.body.results.length > 0 : sact.status;
  const cedarOne = await pdp.admin.post(`/tenants/${t}/cedar/v1/is-authorized`, { principal: s, action: { type: 'Action', id: 'read' }, resource: r, context: { txn: TXN } });
  allowed.cedar = cedarOne.status === 200 ? cedarOne.body.decision : cedarOne.status;
  const cedarBatch = await pdp.admin.post(`/tenants/${t}/cedar/v1/batch-is-authorized`, { requests: [{ principal: s, action: { type: 'Action', id: 'read' }, resource: r, context: { txn: TXN } }] });
  allowed.cedarBatch = cedarBatch.status === 200 ? cedarBatch.body.results[0].decision : cedarBatch.status;
  const noAllow = Object.fromEntries(Object.entries(allowed).filter(([, v]) => v === true || v === 'allow' || (typeof v === 'number' && v >= 500)));
  expect(noAllow).toEqual({});
});
