/**
 * From an outsider's attack (issue 12): `settings.risk.locations` accepts two rows for the same range that disagree
 * (198.51.100.0/24 is FR in one row and KP in the next). "The longest range holding the address
 * wins" says nothing about a tie; in fact the first row wins and the second is silently ignored, so
 * an admin who appends a row to mark a range as KP (forbidden by policy) is told 200 and the
 * range keeps being allowed. Conflicting input should be refused (400 ERR_TENANT_INVALID), not
 * half-applied.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'dup-cidr';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  const policies = `@id("ok") permit(principal, action, resource);
@id("no-kp") forbid(principal, action, resource) when { context.risk has location && context.risk.location has country && context.risk.location.country == "KP" };`;
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': policies } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('refuses conflicting rows for the same range, or honours the row it accepted', async () => {
  const locations = [{ cidr: '198.51.100.0/24', lat: 48.85, lon: 2.35, country: 'FR' }, { cidr: '198.51.100.0/24', lat: 39.0, lon: 125.7, country: 'KP' }];
  const patched = await pdp.admin.request('PATCH', `/admin/v1/tenants/${T}`, { settings: { risk: { enabled: true, locations } } });
  if (patched.status === 400) {
    expect(patched.body.code).toBe('ERR_TENANT_INVALID');
    return;
  }
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: 'a' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { client_ip: '198.51.100.7' } });
  expect(answer.body.decision, 'accepted (200) a KP row for the range, but the range is still allowed').toBe(false);
});
