/**
 * attack8 (coverage): a step-up noted in one decision's audit `risk` (single or batch) never leaks
 * into another decision of the same token sharing its risk outcome, and the chain verifies.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';
import { atSecondStart } from './helpers/risk-harness.js';

const AUD = 'api';
const MFA = 'urn:verity:acr:mfa';
const POLICIES = `@id("low") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("mfa-recent")
@step_up_acr("urn:verity:acr:mfa")
@step_up_max_age("300")
permit(principal, action == Action::"pay", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "urn:verity:acr:mfa" && context.risk.authentication has age_sec && context.risk.authentication.age_sec <= 300 };
@id("other")
@step_up_acr("urn:verity:acr:hw")
permit(principal, action == Action::"sign", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "urn:verity:acr:hw" };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;
async function decide(token: string, action: string) {
  const requestId = `a8-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/s/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }, { 'x-request-id': requestId });
  return { status: answer.status, body: answer.body, record: () => auditRecordOf(pdp.admin, 's', requestId) };
}
beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  idp = await createInlineIdp({ issuer: 'https://idp.example.com', audience: AUD });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: 's', settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/s/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/s/identity-sources/corp`, idp.source())).status).toBe(200);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('a step-up noted on one decision does not leak into another decision of the same token', async () => {
  const token = await idp.token({ acr: 'pwd', auth_time: Math.floor(Date.now() / 1000) - 60 });
  await atSecondStart();
  const r1 = await decide(token, 'read');
  const p = await decide(token, 'pay');
  const s = await decide(token, 'sign');
  const r2 = await decide(token, 'read');
  const p2 = await decide(token, 'pay');
  expect([r1.status, p.status, s.status, r2.status, p2.status]).toEqual([200, 200, 200, 200, 200]);
  expect(p.body.context.step_up).toEqual({ acr_values: MFA, max_age: 300 });
  expect(s.body.context.step_up).toEqual({ acr_values: 'urn:verity:acr:hw' });
  expect(p2.body.context.step_up).toEqual({ acr_values: MFA, max_age: 300 });
  const recs = [await r1.record(), await p.record(), await s.record(), await r2.record(), await p2.record()];
  expect(recs.map((r) => r.risk.stepUp ?? null)).toEqual([null, { acr: MFA, maxAgeSec: 300 }, { acr: 'urn:verity:acr:hw' }, null, { acr: MFA, maxAgeSec: 300 }]);
  expect((await pdp.admin.get(`/admin/v1/tenants/s/audit/verify`)).body).toMatchObject({ ok: true });
});

it('a batch mixing step-up denies and allows', async () => {
  const token = await idp.token({ acr: 'pwd', auth_time: Math.floor(Date.now() / 1000) - 60 });
  const requestId = `a8-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/s/access/v1/evaluations`, { token, audience: AUD, resource: { type: 'Doc', id: 'd1' }, options: { verity_context: true }, evaluations: [{ action: { name: 'pay' } }, { action: { name: 'read' } }, { action: { name: 'sign' } }, { action: { name: 'read' } }] }, { 'x-request-id': requestId });
  expect(answer.status).toBe(200);
  expect(answer.body.evaluations.map((e: any) => e.decision)).toEqual([false, true, false, true]);
  expect(answer.body.evaluations.map((e: any) => e.context?.step_up ?? null)).toEqual([{ acr_values: MFA, max_age: 300 }, null, { acr_values: 'urn:verity:acr:hw' }, null]);
  let events: any[] = [];
  for (let i = 0; i < 100 && events.length < 4; i++) { events = (await pdp.admin.get(`/admin/v1/tenants/s/audit?requestId=${requestId}`)).body.events; await new Promise((r) => setTimeout(r, 20)); }
  const byDecision = events.map((e) => [e.decision, e.risk.stepUp ?? null]);
  expect(byDecision.filter(([d]) => d === 'allow').every(([, s]) => s === null)).toBe(true);
});
