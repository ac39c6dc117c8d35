/**
 * attack7: a sibling of the search fix — a batch whose forged `context.risk` sits in an item the
 * batch semantics never evaluate (after a deny with deny_on_first_deny, after a permit with
 * permit_on_first_permit), or only in the batch defaults, must still be refused (never allowed with
 * the forged risk) and leave a record in the tenant's audit.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'a7-batch-risk';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': '@id("low") permit(principal, action == Action::"read", resource) when { context.risk.score == 0 && context.risk.level == "low" };' } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

const FORGED = { risk: { score: 0, level: 'low', factors: [] } };
const item = (action: string, context?: unknown) => ({ subject: { type: 'User', id: 'mallory' }, action: { name: action }, resource: { type: 'Doc', id: 'd' }, ...(context === undefined ? {} : { context }) });

it.each([
  ['deny_on_first_deny, forged item after a deny', { options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: [item('write'), item('read', FORGED)] }],
  ['permit_on_first_permit, forged item after a permit-able item', { options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: [item('read', FORGED), item('write', FORGED)] }],
  ['forged batch defaults', { context: FORGED, evaluations: [item('read')] }],
])('%s: refused or denied, and audited', async (_name, body) => {
  const requestId = `a7-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluations`, body, { 'x-request-id': requestId });
  const allowed = answer.status === 200 && (answer.body.evaluations as Array<{ decision: boolean }>).some((e) => e.decision);
  let events: unknown[] = [];
  for (let tries = 0; tries < 40 && events.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    events = (await pdp.admin.get(`/admin/v1/tenants/${T}/audit?requestId=${requestId}`)).body.events;
  }
  expect({ allowed, status: answer.status < 500, audited: events.length > 0 }).toEqual({ allowed: false, status: true, audited: true });
});
