/**
 * attack8 (coverage): the shared risk entry is keyed by the whole tenant risk configuration and the
 * whole verified token: tenants differing only in auth_age / weights / thresholds, tokens differing
 * only in amr / auth_time (same jti, sub, iat) or issuer, sequential and concurrent.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';
import { atSecondStart } from './helpers/risk-harness.js';

const AUD = 'api';
const POLICIES = `@id("low") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("otp") permit(principal, action == Action::"otp", resource) when { context.risk has authentication && context.risk.authentication.amr.contains("otp") };
@id("young") permit(principal, action == Action::"young", resource) when { context.risk has authentication && context.risk.authentication has age_sec && context.risk.authentication.age_sec < 100 };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp; let idp2: InlineIdp;

async function decide(tenant: string, token: string, action = 'read', context: Record<string, unknown> = {}) {
  const requestId = `a8-${crypto.randomUUID()}`;
  const answer = await pdp.admin.post(`/tenants/${tenant}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' }, context }, { 'x-request-id': requestId });
  return { status: answer.status, body: answer.body, decision: answer.body?.decision, record: () => auditRecordOf(pdp.admin, tenant, requestId) };
}
const CONFIGS: Record<string, Record<string, unknown>> = {
  c0: {},
  c1: { auth_age: { aging_after_sec: 600, stale_after_sec: 3600 } },
  c2: { auth_age: { aging_after_sec: 600, stale_after_sec: 36000 } },
  c3: { weights: { aging_authentication: 30 } },
  c4: { thresholds: { medium: 5, high: 50, critical: 80 } },
  c5: { auth_age: { aging_after_sec: 7000, stale_after_sec: 7100 } },
  c6: { weights: { stale_authentication: 0 }, auth_age: { aging_after_sec: 600, stale_after_sec: 3600 } },
};
beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  idp = await createInlineIdp({ issuer: 'https://idp.example.com', audience: AUD });
  idp2 = await createInlineIdp({ issuer: 'https://idp2.example.com', audience: AUD });
  for (const [id, c] of Object.entries(CONFIGS)) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id, settings: { risk: { enabled: true, ...c } } })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${id}/identity-sources/corp`, idp.source())).status).toBe(200);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${id}/identity-sources/corp2`, idp2.source())).status).toBe(200);
  }
}, 60_000);
afterAll(async () => { await pdp?.close(); });

function expected(c: any, age: number) {
  const aging = c.auth_age?.aging_after_sec ?? 14400, stale = c.auth_age?.stale_after_sec ?? 43200;
  const w = { aging_authentication: 10, stale_authentication: 30, ...(c.weights ?? {}) };
  const t = { medium: 25, high: 50, critical: 80, ...(c.thresholds ?? {}) };
  const score = age > stale ? w.stale_authentication : age > aging ? w.aging_authentication : 0;
  const level = score >= t.critical ? 'critical' : score >= t.high ? 'high' : score >= t.medium ? 'medium' : 'low';
  return { score, level };
}

it('same token across tenants with different configs within the second', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = await idp.token({ auth_time: now - 7200 });
  await atSecondStart();
  const out: any[] = [];
  for (const round of [0, 1]) for (const id of round ? Object.keys(CONFIGS).reverse() : Object.keys(CONFIGS)) out.push([id, await decide(id, token)]);
  const got = []; const want = [];
  for (const [id, d] of out) { const r = (await d.record()).risk; got.push([id, r.score, r.level]); const e = expected(CONFIGS[id], 7200); want.push([id, e.score, e.level]); }
  expect(got).toEqual(want);
});

it('tokens that differ only in amr / auth_time (same jti, sub, iat)', async () => {
  const now = Math.floor(Date.now() / 1000);
  const t1 = await idp.token({ jti: 'same', auth_time: now - 10, amr: ['otp'], acr: 'x' });
  const t2 = await idp.token({ jti: 'same', auth_time: now - 5000, amr: ['pwd'], acr: 'x' });
  const t3 = await idp2.token({ jti: 'same', auth_time: now - 5000, amr: ['pwd'], acr: 'x' });
  await atSecondStart();
  const got = [];
  for (const action of ['otp', 'young', 'read']) for (const t of [t1, t2, t3, t1]) got.push((await decide('c0', t, action)).decision);
  expect(got).toEqual([true, false, false, true, true, false, false, true, true, true, true, true]);
});

it('concurrent decisions of one token in tenants with different configs', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = await idp.token({ auth_time: now - 7200 });
  await atSecondStart();
  const ids = Object.keys(CONFIGS);
  const jobs = Array.from({ length: 70 }, (_, i) => ids[i % ids.length]!);
  const answers = await Promise.all(jobs.map(async (id) => [id, await decide(id, token)] as const));
  const got = []; const want = [];
  for (const [id, d] of answers) { const r = (await d.record()).risk; got.push([id, r.score, r.level, d.decision]); const e = expected(CONFIGS[id], 7200); want.push([id, e.score, e.level, e.level === 'low']); }
  expect(got).toEqual(want);
}, 60_000);
