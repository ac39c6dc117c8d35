/**
 * From an outsider's attack (issue 12): a step-up hint that would NOT lift the deny. The policy needs acr "mfa" within the
 * last 5 minutes but is annotated with `@step_up_acr("mfa")` only (no `@step_up_max_age`). A
 * token that already has acr "mfa", authenticated an hour ago, is denied with
 * `step_up: {acr_values: "mfa"}` and no max_age — the PDP's re-evaluation assumed the new login
 * happens "now", but the hint does not ask for that: the client re-authenticates with
 * acr_values=mfa, the IdP answers from its SSO session with the same hour-old auth_time (the
 * token already satisfies acr=mfa), and the request is denied again, forever. A hint must name
 * what would lift the deny (here max_age), or there must be no hint.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const T = 'stepup-nolift';
const ISSUER = 'http://127.0.0.1/atk-issuer';
const AUD = 'api';
const POLICIES = `@id("recent-mfa") @step_up_acr("mfa")
permit(principal, action == Action::"pay", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "mfa" && context.risk.authentication has age_sec && context.risk.authentication.age_sec <= 300 };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;

beforeAll(async () => {
  idp = await createInlineIdp({ issuer: ISSUER, audience: AUD });
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = idp.source();
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, source)).status).toBe(200);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('does not answer a hint that the same acr (without max_age) cannot satisfy', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = await idp.token({ acr: 'mfa', auth_time: now - 3600 });
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'pay' }, resource: { type: 'Doc', id: 'd' } });
  expect(answer.status).toBe(200);
  expect(answer.body.decision).toBe(false);
  const stepUp = answer.body.context.step_up;
  // Either no hint, or one that asks for a fresh login (max_age), not just the acr the token already has.
  if (stepUp !== undefined) expect(stepUp, 'a hint naming only the acr the token already has cannot lift this deny').toHaveProperty('max_age');
});
