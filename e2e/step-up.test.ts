/**
 * Step-up authentication (RFC 9470) and deny reasons, end to end (issue 12): a real PDP with the
 * risk engine on, a policy needing a recent MFA (`context.risk.authentication`) for payroll
 * changes and saying so with `@step_up_acr` / `@step_up_max_age`; a password-only token is
 * denied with `context.step_up`, which a node:http service behind @verity/enforce turns into a
 * 401 `insufficient_user_authentication` challenge; the same user with a fresh MFA token is
 * allowed. A deny no authentication could lift (a forbid) has no step-up, and says why from the
 * forbid's `@reason_user` / `@reason_admin`; a deny no policy determined takes the tenant's
 * default reason. The re-evaluations are never audited: one record per decision.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createEnforcer, createRemoteDecisionSource } from '@verity/enforce';
import { withVerity } from '@verity/enforce/node-http';
import { startTestServer } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const TENANT = 'payroll';
const MFA = 'urn:verity:acr:mfa';
const PWD = 'urn:verity:acr:pwd';
const POLICIES = `@id("payroll-needs-recent-mfa")
@step_up_acr("urn:verity:acr:mfa")
@step_up_max_age("300")
permit(principal is User, action == Action::"POST", resource == route::"/payroll")
when { context has risk && context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "urn:verity:acr:mfa" && context.risk.authentication has age_sec && context.risk.authentication.age_sec <= 300 };

@id("read-payroll")
permit(principal is User, action == Action::"GET", resource == route::"/payroll");

@id("no-contractors")
@reason_user("Contractors may not change payroll.")
@reason_admin("forbid no-contractors: mallory is a contractor")
forbid(principal == User::"mallory", action == Action::"POST", resource == route::"/payroll");`;
const DEFAULT_REASON = 'This request is not permitted.';

let idp: TestIssuer;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let service: Server;
let payrollUrl: string;

/** An access token for `sub`, authenticated `ageSec` ago at level `acr`. */
async function token(sub: string, acr: string, ageSec: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub, iat: now, exp: now + 600, auth_time: now - ageSec, acr, amr: acr === MFA ? ['pwd', 'otp'] : ['pwd'] })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

async function evaluate(bearer: string, method = 'POST') {
  const requestId = `step-up-${crypto.randomUUID()}`;
  const answer = await pdp.admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: bearer, audience: API_AUDIENCE, action: { name: method }, resource: { type: 'route', id: '/payroll' }, context: {} }, { 'x-request-id': requestId });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return { ...answer, requestId };
}

async function auditOf(requestId: string): Promise<any[]> {
  for (let tries = 0; tries < 100; tries++) {
    const events = (await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit?requestId=${encodeURIComponent(requestId)}`)).body.events as any[];
    if (events.length > 0) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no audit record for ${requestId}`);
}

async function callService(bearer: string) {
  const response = await fetch(`${payrollUrl}/payroll`, { method: 'POST', headers: { authorization: `Bearer ${bearer}` } });
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as any };
}

beforeAll(async () => {
  idp = await startTestIssuer();
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT, settings: { risk: { enabled: true }, reasons: { default_user: DEFAULT_REASON } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);

  const enforcer = createEnforcer({ source: createRemoteDecisionSource({ url: pdp.url, timeoutMs: 5000 }), tenant: TENANT, audience: API_AUDIENCE, tier: 'payroll' });
  service = createServer(withVerity(enforcer, { route: '/payroll' }, (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"paid":true}')));
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  payrollUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
});

afterAll(async () => {
  service?.closeAllConnections();
  if (service) await new Promise((resolve) => service.close(resolve));
  await pdp?.close();
  await idp?.close();
});

describe('step-up authentication (RFC 9470)', () => {
  it('denies a password-only token with the step-up that would lift it, audited once with the step-up noted', async () => {
    const answer = await evaluate(await token('alice', PWD, 60));
    expect(answer.body.decision).toBe(false);
    expect(answer.body.context.step_up).toEqual({ acr_values: MFA, max_age: 300 });
    expect(answer.body.context.reason_user).toEqual({ en: DEFAULT_REASON });
    expect(answer.body.context.reason_admin).toMatchObject({ determining_policies: [], policy_version: 1 });
    const records = await auditOf(answer.requestId);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ decision: 'deny', reasons: [], risk: { stepUp: { acr: MFA, maxAgeSec: 300 } } });
    // The step-up is part of the hashed record: the chain still verifies once it is stored.
    expect((await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body).toMatchObject({ ok: true });
  });

  it('asks an MFA session that is too old to authenticate again (the same level, max_age)', async () => {
    const answer = await evaluate(await token('alice', MFA, 3600));
    expect(answer.body.decision).toBe(false);
    expect(answer.body.context.step_up).toEqual({ acr_values: MFA, max_age: 300 });
  });

  it('through the SDK: deny → 401 insufficient_user_authentication → re-authenticate with MFA → allow', async () => {
    const weak = await callService(await token('alice', PWD, 60));
    expect(weak.status).toBe(401);
    expect(weak.challenge).toBe(`Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${MFA}", max_age="300"`);
    expect(weak.body.code).toBe('ERR_ENFORCE_STEP_UP_REQUIRED');

    const strong = await token('alice', MFA, 5);
    const allowed = await evaluate(strong);
    expect(allowed.body.decision).toBe(true);
    expect(allowed.body.context.step_up).toBeUndefined();
    expect(allowed.body.context.reason_user).toBeUndefined();
    expect(await callService(strong)).toMatchObject({ status: 200, body: { paid: true } });
  });

  it('gives no step-up for a deny that no authentication could lift, and says why from the forbid\'s annotations', async () => {
    for (const bearer of [await token('mallory', PWD, 60), await token('mallory', MFA, 5)]) {
      const answer = await evaluate(bearer);
      expect(answer.body.decision).toBe(false);
      expect(answer.body.context.step_up).toBeUndefined();
      expect(answer.body.context.reason_user).toEqual({ en: 'Contractors may not change payroll.' });
      expect(answer.body.context.reason_admin).toMatchObject({ determining_policies: ['no-contractors'], en: 'forbid no-contractors: mallory is a contractor' });
      expect((await auditOf(answer.requestId))[0].risk.stepUp).toBeUndefined();
    }
    const refused = await callService(await token('mallory', MFA, 5));
    expect(refused).toMatchObject({ status: 403, challenge: null, body: { code: 'ERR_ENFORCE_DENIED' } });
  });

  it('gives neither step-up nor reasons on an allow, nor a step-up once the risk engine is off', async () => {
    const read = await evaluate(await token('alice', PWD, 60), 'GET');
    expect(read.body.decision).toBe(true);
    // Besides its identity, only how long it may be reused (the login ages past 4 h then).
    expect(Object.keys(read.body.context).sort()).toEqual(['id', 'reason_admin', 'verity_cache_until']);

    expect((await pdp.admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { risk: { enabled: false } } })).status).toBe(200);
    try {
      const answer = await evaluate(await token('alice', MFA, 5));
      expect(answer.body.decision).toBe(false);
      expect(answer.body.context.step_up).toBeUndefined();
    } finally {
      expect((await pdp.admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { risk: { enabled: true } } })).status).toBe(200);
    }
  });

  it('refuses bad reason settings whole', async () => {
    for (const reasons of [{ default_user: '' }, { default_user: 7 }, { nope: 'x' }, 'text', { default_admin: 'x'.repeat(501) }]) {
      const refused = await pdp.admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { reasons } });
      expect(refused.status, JSON.stringify(reasons)).toBe(400);
      expect(refused.body.code).toBe('ERR_TENANT_INVALID');
    }
  });
});
