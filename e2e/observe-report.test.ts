/**
 * The observe report (`GET /admin/v1/tenants/{t}/audit/observe-report`): the denies PEPs in
 * observe mode recorded without enforcing them, grouped by tier, action and resource, with their
 * principals and the policies that determined them. Enforced decisions and allows are not in it.
 * With it, on the same server, the other rollout reads an admin makes before enforcing: the
 * playground (draft policies decided, nothing stored or audited) and explain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

const POLICIES = `@id("read") permit(principal, action == Action::"read", resource);
@id("no-delete") forbid(principal, action == Action::"delete", resource);
@id("delete-own") permit(principal, action == Action::"delete", resource) when { resource.owner == principal };`;

const ask = (user: string, action: string, headers: Record<string, string>) =>
  pdp.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }, headers);

beforeAll(async () => {
  // A small admin body limit, so the playground's oversized body is cheap to send.
  server = await startTestServer({ decisionAuth: 'open', maxAdminBodyBytes: 256 * 1024 });
  pdp = createClient(server.url, null);
  await server.admin.post('/admin/v1/tenants', { id: 'shop' });
  expect((await server.admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': POLICIES } })).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

describe('observe report', () => {
  it('groups the unenforced denies by tier, action and resource, with principals and policies; leaves out allows and enforced denies', async () => {
    const observe = { 'x-verity-observe': 'true', 'x-verity-tier': 'gateway' };
    for (const user of ['alice', 'bob', 'alice']) expect((await ask(user, 'write', observe)).body.decision).toBe(false);
    expect((await ask('carol', 'delete', observe)).body.decision).toBe(false);
    expect((await ask('alice', 'read', observe)).body.decision).toBe(true);
    expect((await ask('dave', 'write', { 'x-verity-tier': 'gateway' })).body.decision).toBe(false); // enforced

    const report = await server.admin.get('/admin/v1/tenants/shop/audit/observe-report?since=1h');
    expect(report.status).toBe(200);
    expect(Date.parse(report.body.since)).toBeLessThan(Date.now() - 59 * 60_000);
    expect(report.body.groups).toEqual([
      { tier: 'gateway', action: 'Action::"write"', resource: 'Doc::"d1"', denied: 3, principals: 2, samplePrincipals: ['User::"alice"', 'User::"bob"'], policies: [], firstSeen: expect.any(String), lastSeen: expect.any(String) },
      { tier: 'gateway', action: 'Action::"delete"', resource: 'Doc::"d1"', denied: 1, principals: 1, samplePrincipals: ['User::"carol"'], policies: ['no-delete'], firstSeen: expect.any(String), lastSeen: expect.any(String) },
    ]);
    // A window after them: nothing.
    const later = await server.admin.get(`/admin/v1/tenants/shop/audit/observe-report?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(later.body.groups).toEqual([]);
  });

  it('refuses a since it cannot read, and callers without audit.read', async () => {
    expect((await server.admin.get('/admin/v1/tenants/shop/audit/observe-report?since=yesterday')).body.code).toBe('ERR_REQUEST_INVALID');
    const pep = await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'shop' });
    expect((await createClient(server.url, pep.body.token).get('/admin/v1/tenants/shop/audit/observe-report')).status).toBe(403);
  });
});

const LAB_SCHEMA = `entity User = { level: Long };
entity Doc = { owner: User };
action read, edit appliesTo { principal: User, resource: Doc };`;

describe('playground', () => {
  const lab = '/admin/v1/tenants/lab';
  const draft = `@id("owner-edits") permit(principal, action == Action::"edit", resource) when { resource.owner == principal };
permit(principal, action == Action::"read", resource) when { principal.level > 2 };
@id("no-juniors") @reason_user("juniors wait") forbid(principal, action, resource) when { principal.level < 1 };`;
  const ask = (user: string, action: string) => ({ subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } });
  const play = (body: unknown, client: Client = server.admin) => client.post(`${lab}/playground`, body);

  beforeAll(async () => {
    await server.admin.post('/admin/v1/tenants', { id: 'lab' });
    const pushed = await server.admin.post(`${lab}/policies`, { files: { 'p.cedar': 'permit(principal, action == Action::"read", resource);' }, schema: LAB_SCHEMA });
    expect(pushed.status).toBe(201);
    const entities = [
      { uid: { type: 'User', id: 'alice' }, attrs: { level: 3 }, parents: [] },
      { uid: { type: 'User', id: 'bob' }, attrs: { level: 0 }, parents: [] },
      { uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } } }, parents: [] },
    ];
    expect((await server.admin.request('PUT', `${lab}/entities`, { entities })).status).toBe(200);
  });

  it('decides draft policies on the stored entities, with the tenant schema, and stores and audits nothing', async () => {
    const before = (await server.admin.get(`${lab}/audit?limit=1000`)).body.events.length;
    const allowed = await play({ policies: draft, request: ask('alice', 'edit') });
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ decision: 'allow', determining: ['owner-edits'], errors: [] });
    expect(allowed.body.explanation).toMatchObject({ decision: 'allow', permits: [{ policyId: 'owner-edits', applies: true, distance: 0 }], forbids: [], notes: [] });
    // Unnamed policies are `playground.<n>`, counted in the text from 0.
    expect((await play({ policies: draft, request: ask('alice', 'read') })).body).toMatchObject({ decision: 'allow', determining: ['playground.1'] });
    const junior = await play({ policies: draft, request: ask('bob', 'read') });
    expect(junior.body).toMatchObject({ decision: 'deny', determining: ['no-juniors'] });
    // The closest permits and why each did not apply; the forbid that did, with its reason.
    expect(junior.body.explanation).toEqual({
      decision: 'deny',
      permits: [
        { policyId: 'playground.1', applies: false, distance: 1, unmatchedScope: [], clauses: 1, failed: [{ index: 0, kind: 'when', text: 'principal.level > 2' }], errored: [] },
        { policyId: 'owner-edits', applies: false, distance: 1001, unmatchedScope: ['action'], clauses: 1, failed: [], errored: [] },
      ],
      morePermits: 0,
      forbids: [{ policyId: 'no-juniors', reasonUser: 'juniors wait' }],
      notes: [],
    });
    // The active version (read for everyone) still decides the real requests.
    expect((await server.admin.post('/tenants/lab/access/v1/evaluation', ask('bob', 'read'))).body.decision).toBe(true);
    expect((await server.admin.get(`${lab}/policies/versions`)).body.versions).toHaveLength(1);
    // Only the real evaluation above reached the tenant's audit.
    expect((await server.admin.get(`${lab}/audit?limit=1000`)).body.events.length).toBe(before + 1);
  });

  it('lays the given entities over the stored ones, and reports errors as Cedar does', async () => {
    const overlay = [{ uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'bob' } } }, parents: [] }];
    expect((await play({ policies: draft, request: ask('alice', 'edit'), entities: overlay })).body).toMatchObject({ decision: 'deny', determining: [] });
    const erroring = await play({ policies: '@id("odd") permit(principal, action, resource) when { principal.level * 9223372036854775807 > 0 };', request: ask('alice', 'read'), entities: [] });
    expect(erroring.body).toMatchObject({ decision: 'deny', determining: [], errors: [{ policyId: 'odd', message: expect.stringContaining('overflow') }] });
    const undeclared = await play({ policies: '@id("ghost") permit(principal, action, resource) when { context.x == 1 };', request: ask('alice', 'read') });
    // As a push answers: 422 with the same code and diagnostics.
    expect(undeclared.status).toBe(422);
    expect(undeclared.body.code).toBe('ERR_POLICY_VALIDATION');
  });

  it('explains a long scope with many clauses without repeating the scope per clause (attack 14)', async () => {
    // 200 KB of comment inside the scope, 500 clauses: 100 MB of variant text if each clause's
    // variant carried the scope; the full-size draft (0.9 MB, 8,000 clauses) took the server down.
    const policies = `@id("wide") permit(principal, action, resource\n// ${'A'.repeat(200_000)}\n)${' when { true }'.repeat(499)} when { principal.level > 5 };`;
    const started = Date.now();
    const answer = await play({ policies, request: ask('alice', 'read') });
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
    expect(answer.body).toMatchObject({ decision: 'deny', explanation: { permits: [{ policyId: 'wide', clauses: 500, distance: 1, failed: [{ index: 499, text: 'principal.level > 5' }] }], notes: [] } });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses bad input with stable codes: syntax errors, malformed and oversized bodies, other tenants', async () => {
    const broken = await play({ policies: 'permit(principal, action, resource', request: ask('alice', 'read') });
    expect(broken.status).toBe(422);
    expect(broken.body.code).toBe('ERR_POLICY_PARSE');
    expect((await play({ policies: draft })).body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    expect((await play({ policies: 7, request: ask('alice', 'read') })).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await play({ policies: draft, request: ask('alice', 'read'), extra: 1 })).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await play({ policies: draft, request: ask('alice', 'read'), entities: [{ uid: 'User::"x"' }] })).body.code).toBe('ERR_ENTITY_INVALID');
    const dup = { uid: { type: 'User', id: 'x' }, attrs: { level: 1 } };
    expect((await play({ policies: draft, request: ask('alice', 'read'), entities: [dup, dup] })).body.code).toBe('ERR_DECISION_DUPLICATE_ENTITY');
    const big = await play({ policies: `// ${'x'.repeat(300 * 1024)}\n${draft}`, request: ask('alice', 'read') });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('ERR_REQUEST_TOO_LARGE');
    const notJson = await server.admin.request('POST', `${lab}/playground`, undefined, { 'content-type': 'application/json' });
    expect(notJson.status).toBeGreaterThanOrEqual(400);
    expect(notJson.status).toBeLessThan(500);

    const shopAuthor = await server.admin.post('/admin/v1/credentials', { role: 'policy-author', tenant: 'shop' });
    const author = createClient(server.url, shopAuthor.body.token);
    expect((await play({ policies: draft, request: ask('alice', 'read') }, author)).status).toBe(403);
    expect((await author.post('/admin/v1/tenants/shop/playground', { policies: POLICIES, request: { subject: { type: 'User', id: 'a' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' } } })).body).toMatchObject({ decision: 'allow', determining: ['read'] });
    const pep = await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'lab' });
    expect((await play({ policies: draft, request: ask('alice', 'read') }, createClient(server.url, pep.body.token))).status).toBe(403);
    expect((await play({ policies: draft, request: ask('alice', 'read') }, createClient(server.url, null))).status).toBe(401);
    expect((await server.admin.post('/admin/v1/tenants/nowhere/playground', { policies: draft, request: ask('alice', 'read') })).body.code).toBe('ERR_TENANT_NOT_FOUND');
  });
});

describe('explain', () => {
  const explain = (body: unknown, client: Client = server.admin) => client.post('/admin/v1/tenants/lab/explain', body);
  const ask = (user: string, action: string) => ({ subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } });

  it("answers the decision the PDP would make on the active version, with why, and audits no decision", async () => {
    const before = (await server.admin.get('/admin/v1/tenants/lab/audit?limit=1000')).body.events.length;
    const denied = await explain(ask('bob', 'edit'));
    expect(denied.status).toBe(200);
    expect(denied.body).toEqual({
      decision: 'deny',
      determining: [],
      errors: [],
      policyVersion: 1,
      explanation: { decision: 'deny', permits: [{ policyId: 'p.0', applies: false, distance: 1001, unmatchedScope: ['action'], clauses: 0, failed: [], errored: [] }], morePermits: 0, forbids: [], notes: [] },
    });
    expect((await explain(ask('bob', 'read'))).body).toMatchObject({ decision: 'allow', determining: ['p.0'], explanation: { permits: [{ policyId: 'p.0', applies: true }] } });
    expect((await server.admin.get('/admin/v1/tenants/lab/audit?limit=1000')).body.events.length).toBe(before);
    // The public AuthZEN answer never carries an explanation.
    const pdp = await server.admin.post('/tenants/lab/access/v1/evaluation', ask('bob', 'edit'));
    expect(JSON.stringify(pdp.body)).not.toContain('explanation');
    expect(JSON.stringify(pdp.body)).not.toContain('unmatchedScope');
  });

  it("explains on what the decision saw, the risk engine's context.risk included", async () => {
    await server.admin.post('/admin/v1/tenants', { id: 'risky', settings: { risk: { enabled: true } } });
    await server.admin.post('/admin/v1/tenants/risky/policies', { files: { 'p.cedar': '@id("assessed") permit(principal, action, resource) when { context has risk };' } });
    const answer = await server.admin.post('/admin/v1/tenants/risky/explain', ask('bob', 'read'));
    expect(answer.body).toMatchObject({ decision: 'allow', determining: ['assessed'], explanation: { permits: [{ policyId: 'assessed', applies: true }], notes: [] } });
    // A request naming its own context.risk is refused as the PDP refuses it, but an admin's
    // explain is not the principal's attempt: nothing goes into the tenant's audit (attack 14).
    const forged = await server.admin.post('/admin/v1/tenants/risky/explain', { ...ask('mallory', 'read'), context: { risk: { score: 10 } } });
    expect([forged.status, forged.body.code]).toEqual([400, 'ERR_DECISION_INVALID_REQUEST']);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the audit writer flushes every 5 ms in tests
    expect((await server.admin.get('/admin/v1/tenants/risky/audit?limit=1000')).body.events).toEqual([]);
  });

  it('refuses, naming it, what a PEP body carries that explain does not honour: never an allow the PDP would refuse (attack 14)', async () => {
    const withTxn = { ...ask('bob', 'read'), options: { verity_txn_token: 'not-a-txn-token' } };
    const withToken = { ...ask('bob', 'read'), token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.' };
    for (const body of [withTxn, withToken]) expect((await pdp.post('/tenants/lab/access/v1/evaluation', body)).status).toBeGreaterThanOrEqual(400);
    const { subject: _subject, ...tokenOnly } = withToken;
    const cases: Array<[unknown, string]> = [
      [withTxn, 'options.verity_txn_token'],
      [withToken, 'token'],
      [tokenOnly, 'token'],
      [{ ...ask('bob', 'read'), audience: 'api' }, 'audience'],
      [{ ...ask('bob', 'read'), options: { verity_min_version: 1 } }, 'options.verity_min_version'],
      [{ ...ask('bob', 'read'), options: { verity_receipt: true } }, 'options.verity_receipt'],
    ];
    for (const [body, field] of cases) {
      const answer = await explain(body);
      expect([answer.status, answer.body.code, answer.body.message], field).toEqual([400, 'ERR_REQUEST_INVALID', expect.stringContaining(`${field} is not taken by explain`)]);
    }
    // The PDP's own refusal of a request-set context.txn holds for explain too.
    expect((await explain({ ...ask('bob', 'read'), context: { txn: { sub: 'bob' } } })).body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    // Options explain has no use for, as the PDP, are ignored.
    expect((await explain({ ...ask('bob', 'read'), options: { evaluations_semantic: 'execute_all' } })).body.decision).toBe('allow');
  });

  it('is for admins of the tenant only, and refuses a malformed request', async () => {
    const pep = await server.admin.post('/admin/v1/tenants/lab/credentials', { role: 'pep' });
    expect((await explain(ask('bob', 'edit'), createClient(server.url, pep.body.token))).status).toBe(403);
    const shopAuthor = await server.admin.post('/admin/v1/tenants/shop/credentials', { role: 'policy-author' });
    expect((await explain(ask('bob', 'edit'), createClient(server.url, shopAuthor.body.token))).status).toBe(403);
    const labAuthor = await server.admin.post('/admin/v1/tenants/lab/credentials', { role: 'policy-author' });
    expect((await explain(ask('bob', 'edit'), createClient(server.url, labAuthor.body.token))).status).toBe(200);
    const bad = await explain({ subject: { type: 'User' }, action: { name: 'edit' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    expect((await explain({ ...ask('bob', 'edit'), resource: { type: 'Nope', id: 'x' } })).body.code).toBe('ERR_ENTITY_UNKNOWN_TYPE');
  });
});
