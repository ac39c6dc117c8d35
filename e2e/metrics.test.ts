/**
 * `GET /metrics`: Prometheus text a real parser reads, behind a credential allowed `metrics.read`
 * (a `monitor` or a platform admin), counting what the server did: decisions by tenant, decision,
 * tier and maker, their latency, token verifications, store operations, the audit, the caches,
 * the engine and the process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, MAX_TENANT_LABELS, MAX_TIER_LABELS, OTHER_LABEL } from '@verity/server';
import { createInlineIdp } from './helpers/inline-idp.js';
import { parseScrape } from './helpers/prometheus-text.js';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let monitor: { client: Client; token: string };
let pep: { client: Client; token: string };

const credential = async (role: string, tenant?: string) => {
  const answer = await server.admin.post('/admin/v1/credentials', { role, ...(tenant ? { tenant } : {}) });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return { client: createClient(server.url, answer.body.token), token: answer.body.token as string };
};

const scrape = async (token: string = monitor.token) => {
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

const idp = await createInlineIdp({ issuer: 'https://idp.example', audience: 'api://metrics' });

beforeAll(async () => {
  server = await startTestServer();
  await server.admin.post('/admin/v1/tenants', { id: 'acme' });
  await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action == Action::"read", resource);' } });
  expect((await server.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/idp', idp.source())).status).toBe(200);
  monitor = await credential('monitor');
  pep = await credential('pep', 'acme');
});

afterAll(async () => {
  await server?.close();
});

const evaluation = (action: string) => ({ subject: { type: 'User', id: 'ann' }, action: { name: action }, resource: { type: 'Doc', id: 'd' } });

describe('GET /metrics', () => {
  it('needs a credential allowed metrics.read; a monitor may read metrics and nothing else', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const refused = await scrape(pep.token);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await scrape()).status).toBe(200);
    expect((await scrape(ADMIN_TOKEN)).status).toBe(200);
    // Nothing else: not the tenants, not a decision, not a credential.
    expect((await monitor.client.get('/admin/v1/tenants')).status).toBe(403);
    expect((await monitor.client.post('/tenants/acme/access/v1/evaluation', evaluation('read'))).status).toBe(403);
    expect((await monitor.client.post('/admin/v1/credentials', { role: 'monitor' })).status).toBe(403);
    // A monitor is platform-wide: no tenant-bound monitor.
    const bound = await server.admin.post('/admin/v1/tenants/acme/credentials', { role: 'monitor' });
    expect(bound.status).toBe(400);
  });

  it('counts decisions by tenant, decision, tier and maker, with their latency, in text a Prometheus parser reads', async () => {
    const before = parseScrape((await scrape()).text);
    const allowsBefore = before.value('verity_decisions_total', { tenant: 'acme', decision: 'allow', tier: 'gateway', made_by: 'pdp' });
    const deniesBefore = before.value('verity_decisions_total', { tenant: 'acme', decision: 'deny', tier: 'none', made_by: 'pdp' });
    const latencyBefore = before.value('verity_decision_duration_seconds');
    for (let i = 0; i < 3; i++) expect((await pep.client.post('/tenants/acme/access/v1/evaluation', evaluation('read'), { 'x-verity-tier': 'gateway' })).body.decision).toBe(true);
    for (let i = 0; i < 2; i++) expect((await pep.client.post('/tenants/acme/access/v1/evaluation', evaluation('write'))).body.decision).toBe(false);
    // A decision a PEP made in-process and reported.
    const reported = { decisionId: 'pep-1', time: new Date().toISOString(), tenant: 'acme', requestId: null, tier: 'orders', principal: { type: 'User', id: 'ann' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, decision: 'allow', reasons: [], errors: [], policyVersion: 1, latencyUs: 40 };
    expect((await pep.client.post('/tenants/acme/audit/v1/decisions', { records: [reported] })).body).toEqual({ accepted: 1 });

    const answer = await scrape();
    expect(answer.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseScrape(answer.text);
    expect(after.family('verity_decisions_total').type).toBe('counter');
    expect(after.value('verity_decisions_total', { tenant: 'acme', decision: 'allow', tier: 'gateway', made_by: 'pdp' }) - allowsBefore).toBe(3);
    expect(after.value('verity_decisions_total', { tenant: 'acme', decision: 'deny', tier: 'none', made_by: 'pdp' }) - deniesBefore).toBe(2);
    expect(after.value('verity_decisions_total', { tenant: 'acme', decision: 'allow', tier: 'orders', made_by: 'pep' })).toBe(1);
    // The admin calls (and this scrape's own authorization) are decisions in `_system`.
    expect(after.value('verity_decisions_total', { tenant: '_system', decision: 'allow', tier: 'none', made_by: 'pdp' })).toBeGreaterThan(0);
    expect(after.family('verity_decision_duration_seconds').type).toBe('histogram');
    expect(after.value('verity_decision_duration_seconds') - latencyBefore).toBeGreaterThanOrEqual(5);
  });

  it('times token verifications by outcome, store operations, and reads the audit, caches, engine and process', async () => {
    const token = await idp.token();
    const ask = (subjectToken: string) => pep.client.post('/tenants/acme/access/v1/evaluation', { token: subjectToken, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    expect((await ask(token)).body.decision).toBe(true);
    expect((await ask(token)).body.decision).toBe(true);
    expect((await ask(`${token.slice(0, -4)}AAAA`)).status).toBe(401);

    const metrics = parseScrape((await scrape()).text);
    expect(metrics.value('verity_token_verification_duration_seconds', { outcome: 'valid' })).toBe(2);
    expect(metrics.value('verity_token_verification_duration_seconds', { outcome: 'rejected' })).toBe(1);
    // The second use of the token was a cache hit; the tampered one a miss.
    expect(metrics.value('verity_cache_requests_total', { cache: 'token', result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(metrics.value('verity_cache_requests_total', { cache: 'token', result: 'miss' })).toBeGreaterThanOrEqual(2);
    expect(metrics.value('verity_cache_requests_total', { cache: 'credential', result: 'hit' })).toBeGreaterThan(0);
    expect(metrics.value('verity_cache_requests_total', { cache: 'entity', result: 'miss' })).toBeGreaterThan(0);
    expect(metrics.value('verity_store_operation_duration_seconds', { operation: 'query', outcome: 'ok' })).toBeGreaterThan(0);
    expect(metrics.value('verity_store_operation_duration_seconds', { operation: 'audit_append', outcome: 'ok' })).toBeGreaterThan(0);
    expect(metrics.value('verity_audit_written_records_total')).toBeGreaterThan(0);
    expect(metrics.family('verity_audit_pending_records').type).toBe('gauge');
    expect(metrics.family('verity_audit_lag_seconds').type).toBe('gauge');
    expect(metrics.value('verity_view_fresh')).toBe(1);
    expect(metrics.value('verity_engine_decisions_total', { evaluator: 'compiled' })).toBeGreaterThan(0);
    expect(metrics.value('verity_engine_policy_sets_prepared_total', { evaluator: 'compiled', reason: '' })).toBeGreaterThan(0);
    expect(metrics.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(metrics.value('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    // Never a credential or a token in the text.
    const text = (await scrape()).text;
    expect(text).not.toContain(token);
    expect(text).not.toContain('vrt_');
    expect(text).not.toContain(monitor.token);
  });
});

describe('label bounds', () => {
  it('counts tiers past the bound as _other: a caller cannot make series without end', async () => {
    const metrics = createMetrics();
    const record = (tier: string) => ({ decisionId: tier, time: '', tenant: 't', requestId: null, tier, principal: { type: 'U', id: 'u' }, action: { type: 'A', id: 'a' }, resource: { type: 'R', id: 'r' }, decision: 'allow' as const, reasons: [], errors: [], policyVersion: 1, latencyUs: 1 });
    for (let i = 0; i < MAX_TIER_LABELS + 10; i++) metrics.decision(record(`tier-${i}`), 'pdp');
    metrics.decision(record('tier-0'), 'pdp');
    const scraped = parseScrape(await metrics.render());
    const tiers = scraped.family('verity_decisions_total').samples.map((m) => m.labels.tier);
    expect(new Set(tiers).size).toBe(MAX_TIER_LABELS + 1);
    expect(scraped.value('verity_decisions_total', { tier: OTHER_LABEL })).toBe(10);
    expect(scraped.value('verity_decisions_total', { tier: 'tier-0' })).toBe(2);
  });

  it('counts tenants past the bound as _other as well', async () => {
    const metrics = createMetrics();
    const record = (tenant: string) => ({ decisionId: tenant, time: '', tenant, requestId: null, tier: null, principal: { type: 'U', id: 'u' }, action: { type: 'A', id: 'a' }, resource: { type: 'R', id: 'r' }, decision: 'deny' as const, reasons: [], errors: [], policyVersion: 1, latencyUs: 1 });
    for (let i = 0; i < MAX_TENANT_LABELS + 5; i++) metrics.decision(record(`t${i}`), 'pep');
    const scraped = parseScrape(await metrics.render());
    expect(new Set(scraped.family('verity_decisions_total').samples.map((m) => m.labels.tenant)).size).toBe(MAX_TENANT_LABELS + 1);
    expect(scraped.value('verity_decisions_total', { tenant: OTHER_LABEL })).toBe(5);
  });
});
