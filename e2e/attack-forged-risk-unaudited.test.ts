/**
 * From an outsider's attack (issue 12): "security failures audited". A request that tries to set its own `context.risk` (the
 * one thing docs/continuous-verification.md says is "never the caller's to say") is refused with
 * 400 — but leaves no trace in the tenant's audit, so an admin never learns that a PEP (or
 * whoever holds its credential) tried to lower its own risk. The gateway endpoints record every
 * refusal as a deny; the AuthZEN and Cedar-native refusals of a forged risk should be recorded too.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'forged-risk-audit';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': 'permit(principal, action, resource) when { context.risk.level == "low" };' } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('records a request that names context.risk itself in the audit', async () => {
  const requestId = `forged-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: 'mallory' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'payroll' }, context: { risk: { score: 0, level: 'low', factors: [] } } }, { 'x-request-id': requestId });
  expect(answer.status).toBe(400);
  let events: unknown[] = [];
  for (let tries = 0; tries < 50 && events.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    events = (await pdp.admin.get(`/admin/v1/tenants/${T}/audit?requestId=${requestId}`)).body.events;
  }
  expect(events, 'an audit record of the refused forged-risk request').toHaveLength(1);
});
