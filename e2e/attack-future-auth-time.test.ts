/**
 * From an outsider's attack (issue 12): authentication age (docs/continuous-verification.md "Authentication age" / step-up
 * max_age). A verified token whose `auth_time` lies in the future (an hour, a year, the year
 * 33658) is treated as a *fresh* login: `context.risk.authentication.age_sec` comes out negative,
 * so "MFA within the last 5 minutes" (`age_sec <= 300`) holds for ever and the token never ages
 * into aging/stale. The exchange at the tenant's token service copies the claim on, too.
 * An auth_time ahead of now (beyond the clock tolerance) must not count as a recent login.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const T = 'future-auth';
const ISSUER = 'http://127.0.0.1/atk-issuer';
const AUD = 'api';
const POLICIES = `@id("recent-mfa") @step_up_acr("mfa") @step_up_max_age("300")
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

it('a token whose auth_time is in the future is not a login within the last 5 minutes', async () => {
  const now = Math.floor(Date.now() / 1000);
  // Sanity: a real recent MFA login is allowed, an hour-old one is not.
  const pay = async (authTime: number) => {
    const token = await idp.token({ acr: 'mfa', auth_time: authTime });
    const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'pay' }, resource: { type: 'Doc', id: 'd' } });
    return answer.status === 200 ? answer.body.decision : answer.body.code;
  };
  expect(await pay(now - 60)).toBe(true);
  expect(await pay(now - 3600)).toBe(false);
  const results: Record<string, unknown> = {};
  for (const [label, authTime] of [['+1h', now + 3600], ['+1y', now + 365 * 86_400], ['year 33658', 1e12]] as const) results[label] = await pay(authTime);
  // Such a token is refused (a login after the token was issued is a broken or lying issuer).
  expect(results).toEqual({ '+1h': 'ERR_TOKEN_CLAIMS', '+1y': 'ERR_TOKEN_CLAIMS', 'year 33658': 'ERR_TOKEN_CLAIMS' });
});
