/**
 * The risk engine in the PDP (issue 12, first signal): a tenant that turns it on gets
 * `context.risk` in every decision from the verified token's `auth_time` (the seed's 4 h / 12 h
 * rule by default, its own weights and thresholds when set), the weighted factors in the audit
 * record; a request may not name `context.risk` itself; a tenant that has not turned it on
 * decides exactly as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { startTestServer, type Client } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const POLICIES = `@id("fresh-enough") permit(principal is User, action == Action::"read", resource) when { context has risk && context.risk.level == "low" };
@id("calm") permit(principal is User, action == Action::"read", resource) when { !(context has risk) };`;

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;

/** alice's access token, authenticated `ageSec` ago (no `auth_time` when undefined). */
async function token(ageSec: number | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'alice', iat: now, exp: now + 600, ...(ageSec === undefined ? {} : { auth_time: now - ageSec }), acr: 'urn:example:pwd' })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

async function decide(tenant: string, ageSec: number | undefined, extra: Record<string, unknown> = {}) {
  const requestId = `risk-${crypto.randomUUID()}`;
  const answer = await server.admin.request('POST', `/tenants/${tenant}/access/v1/evaluation`, { token: await token(ageSec), audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' }, context: {}, ...extra }, { 'x-request-id': requestId });
  return { ...answer, requestId };
}


beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  admin = server.admin;
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } };
  for (const [tenant, settings] of [['watchful', { risk: { enabled: true } }], ['calm', {}]] as const) {
    expect((await admin.post('/admin/v1/tenants', { id: tenant, settings })).status).toBe(201);
    expect((await admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await admin.request('PUT', `/admin/v1/tenants/${tenant}/identity-sources/corp`, source)).status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('the risk engine (authentication age)', () => {
  it.each([
    ['an hour ago', 3600, true, { score: 0, level: 'low', factors: [] }],
    ['five hours ago (aging: +10, still low)', 5 * 3600, true, { score: 10, level: 'low', factors: [{ name: 'aging_authentication', weight: 10, detail: expect.stringMatching(/^180\d\d s$/) }] }],
    ['thirteen hours ago (stale: +30, medium)', 13 * 3600, false, { score: 30, level: 'medium', factors: [{ name: 'stale_authentication', weight: 30, detail: expect.stringMatching(/^468\d\d s$/) }] }],
    ['never said (no auth_time: not measured)', undefined, true, { score: 0, level: 'low', factors: [] }],
  ])('authenticated %s: context.risk as the seed scores it, and the audit records it', async (_what, ageSec, allowed, risk) => {
    const answer = await decide('watchful', ageSec);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.decision).toBe(allowed);
    const record = await auditRecordOf(admin, 'watchful', answer.requestId);
    expect(record.risk).toEqual(risk);
    expect(record.reasons).toEqual(allowed ? ['fresh-enough'] : []);
  });

  it('tells the PEP when the risk changes by itself (verity_cache_until), and says nothing when it never will', async () => {
    const before = Date.now();
    const fresh = await decide('watchful', 3600);
    const after = Date.now();
    // auth_time = now − 3600 s (whole seconds); the age passes 4 h one second after 4 h.
    const until = fresh.body.context.verity_cache_until as number;
    expect(until).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + (3 * 3600 + 1) * 1000);
    expect(until).toBeLessThanOrEqual(Math.floor(after / 1000) * 1000 + (3 * 3600 + 1) * 1000);
    expect((await decide('watchful', 13 * 3600)).body.context).not.toHaveProperty('verity_cache_until');
    expect((await decide('watchful', undefined)).body.context).not.toHaveProperty('verity_cache_until');
    expect((await decide('calm', 3600)).body.context).not.toHaveProperty('verity_cache_until');
  });

  it('uses the tenant\'s own weights and thresholds, and refuses a bad configuration whole', async () => {
    expect((await admin.request('PATCH', '/admin/v1/tenants/watchful', { settings: { risk: { enabled: true, weights: { stale_authentication: 5 } } } })).status).toBe(200);
    const answer = await decide('watchful', 13 * 3600);
    expect(answer.body.decision).toBe(true);
    expect((await auditRecordOf(admin, 'watchful', answer.requestId)).risk).toMatchObject({ score: 5, level: 'low' });
    for (const risk of [{ weights: {} }, { enabled: 'yes' }, { enabled: true, thresholds: { medium: 90 } }, { enabled: true, weights: { nope: 1 } }]) {
      const refused = await admin.request('PATCH', '/admin/v1/tenants/watchful', { settings: { risk } });
      expect(refused.status, JSON.stringify(risk)).toBe(400);
      expect(refused.body.code).toBe('ERR_TENANT_INVALID');
    }
    expect((await admin.get('/admin/v1/tenants/watchful')).body.settings.risk.weights.stale_authentication).toBe(5);
    expect((await admin.request('PATCH', '/admin/v1/tenants/watchful', { settings: { risk: { enabled: true } } })).status).toBe(200);
  });

  it('refuses a request that names context.risk itself, on every decision shape', async () => {
    const own = await decide('watchful', 3600, { context: { risk: { score: 0, level: 'low', factors: [] } } });
    expect(own.status).toBe(400);
    expect(own.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    const batch = await server.admin.request('POST', '/tenants/watchful/access/v1/evaluations', {
      token: await token(3600),
      audience: API_AUDIENCE,
      action: { name: 'read' },
      evaluations: [{ resource: { type: 'Doc', id: 'd-1' }, context: { risk: { level: 'low' } } }],
    });
    expect(JSON.stringify(batch.body)).toContain('ERR_DECISION_INVALID_REQUEST');
    const cedar = await server.admin.request('POST', '/tenants/watchful/cedar/v1/is-authorized', {
      principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd-1' }, context: { risk: { level: 'low' } },
    });
    expect(cedar.status).toBe(400);
  });

  it('leaves a tenant that has not turned it on exactly as before: no context.risk, nothing in the audit', async () => {
    const answer = await decide('calm', 13 * 3600);
    expect(answer.body.decision).toBe(true);
    const record = await auditRecordOf(admin, 'calm', answer.requestId);
    expect(record.risk).toBeUndefined();
    expect(record.reasons).toEqual(['calm']);
  });
});
