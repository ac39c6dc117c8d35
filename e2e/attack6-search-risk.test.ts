/**
 * attack6: search answers what decisions would permit, so on a tenant whose risk engine is on a
 * search that names `context.risk` itself must be refused (400 ERR_DECISION_INVALID_REQUEST) and
 * audited — whether or not the tenant holds candidates of the searched type — and never list a
 * resource on the strength of the caller's own risk.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'a6-search-risk';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true, weights: { stale_authentication: 90 } } } })).status).toBe(201);
  const policy = '@id("low") permit(principal, action == Action::"read", resource) when { context has risk && context.risk.level == "low" && context.risk.score == 0 && context has note };';
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': policy } })).status).toBe(201);
  const entities = [{ uid: { type: 'Doc', id: 'd1' }, attrs: {}, parents: [] }, { uid: { type: 'User', id: 'mallory' }, attrs: {}, parents: [] }];
  const put = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/entities`, { entities });
  expect([200, 201, 204], JSON.stringify(put.body)).toContain(put.status);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function audited(requestId: string): Promise<number> {
  let events: unknown[] = [];
  for (let tries = 0; tries < 40 && events.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    events = (await pdp.admin.get(`/admin/v1/tenants/${T}/audit?requestId=${requestId}`)).body.events ?? [];
  }
  return events.length;
}

it('search/resource naming context.risk is refused and audited (with and without candidates)', async () => {
  const got: Record<string, unknown> = {};
  for (const type of ['Doc', 'Nothing']) {
    const requestId = `a6s-${crypto.randomUUID()}`;
    const answer = await pdp.admin.post(`/tenants/${T}/access/v1/search/resource`, { subject: { type: 'User', id: 'mallory' }, action: { name: 'read' }, resource: { type }, context: { note: 1, risk: { score: 0, level: 'low', factors: [] } } }, { 'x-request-id': requestId });
    got[type] = { status: answer.status, code: answer.body.code, audited: (await audited(requestId)) > 0 };
  }
  expect(got).toEqual({ Doc: { status: 400, code: 'ERR_DECISION_INVALID_REQUEST', audited: true }, Nothing: { status: 400, code: 'ERR_DECISION_INVALID_REQUEST', audited: true } });
});

it('sanity: without its own risk, the search lists the document', async () => {
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/search/resource`, { subject: { type: 'User', id: 'mallory' }, action: { name: 'read' }, resource: { type: 'Doc' }, context: { note: 1 } });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body.results).toEqual([{ type: 'Doc', id: 'd1' }]);
});
