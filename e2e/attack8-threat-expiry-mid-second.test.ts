/**
 * attack8: risk entries are shared per second. A threat list that expires in the middle of a
 * second stops counting at its `expires_at` (docs: "ignored from its expires_at on"), not at the
 * next second: a request of the same token from the listed address just after the expiry, in the
 * same second as one just before it, is not `known_malicious_ip`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';

const T = 'a8-expiry';
const AUD = 'api';
const POLICIES = `@id("clean") permit(principal, action, resource) when { !context.risk.factors.contains("known_malicious_ip") };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  idp = await createInlineIdp({ issuer: 'https://idp.example.com', audience: AUD });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, idp.source())).status).toBe(200);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function decide(token: string) {
  const requestId = `a8-${crypto.randomUUID()}`;
  const a = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { client_ip: '203.0.113.9' } }, { 'x-request-id': requestId });
  return { at: Date.now(), decision: a.body.decision as boolean, cacheUntil: a.body.context?.verity_cache_until as number | undefined, record: () => auditRecordOf(pdp.admin, T, requestId) };
}

it('a list expiring mid-second stops counting at its expiry', async () => {
  const token = await idp.token({ auth_time: Math.floor(Date.now() / 1000) - 60 });
  // The list expires at .600 of a second two seconds from now; the decision before it must be
  // answered before it (a bounded retry on a loaded box, never a timing assertion).
  let expiresAt = 0;
  let before: Awaited<ReturnType<typeof decide>> | undefined;
  for (let attempt = 0; attempt < 10 && !(before !== undefined && before.at < expiresAt); attempt++) {
    expiresAt = (Math.floor(Date.now() / 1000) + 2) * 1000 + 600;
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/threat-lists/feed`, { entries: ['203.0.113.0/24'], expires_at: new Date(expiresAt).toISOString() })).status).toBe(200);
    while (Date.now() < expiresAt - 400) await new Promise((r) => setTimeout(r, 5));
    before = await decide(token);
  }
  if (before === undefined) throw new Error('unreachable');
  while (Date.now() < expiresAt + 50) await new Promise((r) => setTimeout(r, 5));
  const after = await decide(token);
  expect(before.at).toBeLessThan(expiresAt);
  expect(before.decision).toBe(false);
  expect(before.cacheUntil).toBe(expiresAt);
  expect(after.decision).toBe(true);
  expect(((await after.record()).risk.factors as Array<{ name: string }>).map((f) => f.name)).toEqual([]);
});
