/**
 * attack6: the audit record takes the risk assessment "as scoreRisk made it storable" — but the
 * step-up level it gets on a deny comes from a policy annotation (`@step_up_acr`), which Cedar
 * lets hold a NUL (`"\0"`), and nothing made its acr storable. Now such a level is dropped (no
 * challenge text, docs/continuous-verification.md) and the audit writer makes every text of every
 * record storable. The record must still be stored (text made storable, as every other quoted text in a record), the deny
 * answered (not 5xx), and the audit stay writable — for this tenant and for every other one (a
 * policy author bound to one tenant must not be able to stop every tenant's decisions).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const T = 'a6-stepup-nul';
const ISSUER = 'http://127.0.0.1/a6-issuer';
const AUD = 'api';
const POLICIES = String.raw`@id("mfa-pay") @step_up_acr("mfa\0x")
permit(principal, action == Action::"pay", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "mfa\0x" };
@id("read") permit(principal, action == Action::"read", resource);`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;

beforeAll(async () => {
  idp = await createInlineIdp({ issuer: ISSUER, audience: AUD });
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  const source = idp.source();
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
  expect((await pdp.admin.post('/admin/v1/tenants', { id: `${T}-other` })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}-other/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function ask(action: string) {
  const now = Math.floor(Date.now() / 1000);
  const token = await idp.token({ acr: 'pwd', auth_time: now - 60 });
  const requestId = `a6-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd' } }, { 'x-request-id': requestId });
  return { answer, requestId };
}

it('a deny whose step-up acr holds a NUL is answered and audited, and the audit stays writable', async () => {
  const { answer, requestId } = await ask('pay');
  const after = await ask('read');
  const other = await pdp.admin.post(`/tenants/${T}-other/access/v1/evaluation`, { subject: { type: 'User', id: 'bob' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  // The deny answered (with its step-up), and the tenant's next decision too.
  expect({
    pay: [answer.status, answer.body.decision ?? answer.body.code],
    read: [after.answer.status, after.answer.body.decision ?? after.answer.body.code],
    otherTenant: [other.status, other.body.decision ?? other.body.code],
  }).toEqual({ pay: [200, false], read: [200, true], otherTenant: [200, true] });
  let events: Array<Record<string, any>> = [];
  for (let tries = 0; tries < 50 && events.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    events = (await pdp.admin.get(`/admin/v1/tenants/${T}/audit?requestId=${requestId}`)).body.events ?? [];
  }
  expect(events).toHaveLength(1);
  const verify = await pdp.admin.get(`/admin/v1/tenants/${T}/audit/verify`);
  expect(verify.status, JSON.stringify(verify.body)).toBe(200);
});
