/**
 * Per-subject signals (issue 12) through a real server: a tenant with `settings.risk.activity`
 * scores each subject against its own history. After a few calm rate windows, a first use of an
 * action is a moderate behavioural anomaly, and a burst of requests from the subject raises
 * `high_behavioral_anomaly` (a policy forbids on it), both in the audit's risk factors. The rate
 * window is one second here so the test need not wait minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStream } from './helpers/sse.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

const TENANT = 'activity';
const POLICIES = '@id("calm") permit(principal is User, action, resource) when { context has risk && !context.risk.factors.contains("high_behavioral_anomaly") };';
const ACTIVITY = { rate_window_sec: 1, baseline_windows: 30, min_history_windows: 3, burst_ratio: 3 };

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;

/** Decide for `subject` doing `action` on a Doc; the decision and its audit record. */
async function decide(subject: string, action = 'read') {
  const requestId = `activity-${crypto.randomUUID()}`;
  const answer = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: 'd-1' } }, { 'x-request-id': requestId });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return { allowed: answer.body.decision as boolean, record: () => auditRecordOf(admin, TENANT, requestId) };
}


/** Wait for the start of the next one-second rate window. */
const nextWindow = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  admin = server.admin;
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings: { risk: { enabled: true, activity: ACTIVITY } } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

describe('per-subject signals', () => {
  it('counts impossible travel between two located requests of one subject (the tenant\'s location table), and not for a plausible trip', async () => {
    const TRAVEL = 'travel';
    const locations = [
      { cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' },
      { cidr: '203.0.113.0/24', lat: 1.29, lon: 103.85, country: 'SG', city: 'Singapore' },
      { cidr: '192.0.2.0/24', lat: 52.37, lon: 4.9, country: 'NL', city: 'Amsterdam' },
    ];
    expect((await admin.post('/admin/v1/tenants', { id: TRAVEL, settings: { risk: { enabled: true, activity: {}, locations } } })).status).toBe(201);
    expect((await admin.post(`/admin/v1/tenants/${TRAVEL}/policies`, { files: { 'p.cedar': '@id("grounded") permit(principal is User, action, resource) when { !context.risk.factors.contains("impossible_travel") };' } })).status).toBe(201);
    const from = async (subject: string, ip: string) => {
      const requestId = `travel-${crypto.randomUUID()}`;
      const answer = await admin.request('POST', `/tenants/${TRAVEL}/access/v1/evaluation`, { subject: { type: 'User', id: subject }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' }, context: { client_ip: ip } }, { 'x-request-id': requestId });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return { allowed: answer.body.decision as boolean, requestId };
    };
    // Berlin, then Singapore (≈ 9,900 km) seconds later: nobody flies that fast.
    expect((await from('mia', '198.51.100.20')).allowed).toBe(true);
    const far = await from('mia', '203.0.113.5');
    expect(far.allowed).toBe(false);
    expect((await auditRecordOf(admin, TRAVEL, far.requestId)).risk.factors).toContainEqual({ name: 'impossible_travel', weight: 50 });
    // Another subject's first located request has no last location: nothing to compare.
    expect((await from('noah', '203.0.113.5')).allowed).toBe(true);
    // Berlin, then Amsterdam (≈ 580 km) seconds later is still impossible at 900 km/h × 1.2 …
    expect((await from('lena', '198.51.100.20')).allowed).toBe(true);
    expect((await from('lena', '192.0.2.7')).allowed).toBe(false);
    // … but the same city again is not.
    expect((await from('lena', '192.0.2.8')).allowed).toBe(true);
  });

  it('refuses bad activity settings', async () => {
    for (const activity of [{ retention_days: 0 }, { retention_days: 3651 }, { max_travel_kmh: 'fast' }, { unknown: 1 }]) {
      const answer = await admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { risk: { enabled: true, activity } } });
      expect([answer.status, answer.body.code], JSON.stringify(activity)).toEqual([400, 'ERR_TENANT_INVALID']);
    }
  });

  it('scores a first use as a moderate anomaly and a burst as a high one, against the subject’s own history', async () => {
    // No history: nothing to compare with, even for a new action.
    const first = await decide('alice', 'export');
    expect(first.allowed).toBe(true);
    expect((await first.record()).risk).toEqual({ score: 0, level: 'low', factors: [] });
    // Calm windows: one read each (three active windows make a baseline of 1 per window).
    for (let i = 0; i < 3; i++) {
      await nextWindow();
      expect((await decide('alice')).allowed).toBe(true);
    }
    // A first use (an action not used before): moderate, 0.60.
    await nextWindow();
    const write = await decide('alice', 'write');
    expect(write.allowed).toBe(true);
    expect((await write.record()).risk).toEqual({ score: 15, level: 'low', factors: [{ name: 'moderate_behavioral_anomaly', weight: 15, detail: '0.60' }] });
    // A burst in one window: past 3^0.8 ≈ 2.4 times the baseline (burst_ratio 3) it is a high anomaly.
    await nextWindow();
    let denied: Awaited<ReturnType<typeof decide>> | undefined;
    for (let i = 0; i < 60 && denied === undefined; i++) {
      const answer = await decide('alice');
      if (!answer.allowed) denied = answer;
    }
    expect(denied, 'no request of the burst was denied').toBeDefined();
    const risk = (await denied?.record()).risk;
    expect(risk).toMatchObject({ score: 35, level: 'medium' });
    expect(risk.factors).toEqual([{ name: 'high_behavioral_anomaly', weight: 35, detail: expect.stringMatching(/^(0\.8[1-9]|0\.9\d|1\.00)$/) }]);
    // Another subject is measured against its own history: none yet.
    expect((await (await decide('bob')).record()).risk).toEqual({ score: 0, level: 'low', factors: [] });
  });

  it('keeps the replicas\' activity changes off the PEPs\' change stream', async () => {
    const stream = await openEventStream(`${server.url}/tenants/${TENANT}/changes`);
    expect(stream.status).toBe(200);
    expect((await decide('carol')).allowed).toBe(true);
    // The decision's activity is flushed (and published between replicas) within 250 ms.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await admin.request('PATCH', `/admin/v1/tenants/${TENANT}`, { settings: { validateRequests: false } })).status).toBe(200);
    expect(await stream.next('change', 2000)).toEqual({ tenant: TENANT, kind: 'settings' });
    stream.close();
  });

  it("erases what is kept of a subject (an author's or admin's call): its next request has no history", async () => {
    const erase = (client: Client, query: string) => client.request('DELETE', `/admin/v1/tenants/${TENANT}/activity${query}`);
    const alice = `?subject=${encodeURIComponent('User::"alice"')}`;
    const pep = createClient(server.url, (await admin.post(`/admin/v1/tenants/${TENANT}/credentials`, { role: 'pep' })).body.token as string);
    const refused = await erase(pep, alice);
    expect([refused.status, refused.body.code]).toEqual([403, 'ERR_AUTH_FORBIDDEN']);
    for (const query of ['', '?subject=', `?subject=${'x'.repeat(2049)}`]) {
      const answer = await erase(admin, query);
      expect([answer.status, answer.body.code], query).toEqual([400, 'ERR_ACTIVITY_INVALID']);
    }
    const erased = await erase(admin, alice);
    expect([erased.status, erased.body]).toEqual([200, { erased: true }]);
    const again = await erase(admin, alice);
    expect([again.status, again.body.code]).toEqual([404, 'ERR_ACTIVITY_NOT_FOUND']);
    // A new action right after: no history any more, so no first use (and no burst).
    const next = await decide('alice', 'archive');
    expect((await next.record()).risk).toEqual({ score: 0, level: 'low', factors: [] });
  });
});
