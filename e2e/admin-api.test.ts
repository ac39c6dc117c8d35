/** The admin API over real HTTP: tenants, versions, rollback, roles, isolation, Cedar-native decisions. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '@verity/server';
import { createClient, startTestServer, ADMIN_TOKEN, type Client } from './helpers/verity.js';

const SCHEMA = `entity User { level: Long }; entity Doc; action read, write appliesTo { principal: User, resource: Doc };`;
const V1 = `@id("readers") permit(principal, action == Action::"read", resource) when { principal.level >= 1 };`;
const V2 = `${V1}\n@id("writers") permit(principal, action == Action::"write", resource) when { principal.level >= 2 };`;

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;

const evaluation = (subject: string, action: string) => ({ subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } });

beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
  for (const id of ['acme', 'globex']) expect((await admin.post('/admin/v1/tenants', { id, name: id.toUpperCase() })).status).toBe(201);
  for (const id of ['acme', 'globex']) {
    const entities = [{ uid: { type: 'User', id: 'ann' }, attrs: { level: id === 'acme' ? 2 : 1 }, parents: [] }];
    expect((await admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'main.cedar': V1 }, schema: SCHEMA, message: 'first' })).status).toBe(201);
    expect((await admin.request('PUT', `/admin/v1/tenants/${id}/entities`, { entities })).status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

describe('tenants', () => {
  it('lists tenants and rejects bad or duplicate ids', async () => {
    expect((await admin.get('/admin/v1/tenants')).body.tenants.map((t: { id: string }) => t.id).sort()).toEqual(['acme', 'globex']);
    expect((await admin.post('/admin/v1/tenants', { id: 'acme' })).body.code).toBe('ERR_TENANT_EXISTS');
    for (const id of ['Bad Id', '_system', '', 7]) expect((await admin.post('/admin/v1/tenants', { id })).body.code).toBe('ERR_TENANT_INVALID');
  });
});

describe('policy versions', () => {
  it('creates versions, activates and rolls back atomically, and every decision names its version', async () => {
    const v2 = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'main.cedar': V2 }, schema: SCHEMA, message: 'writers' });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ version: 2, active: true });
    expect(v2.body.hash).toMatch(/^[0-9a-f]{64}$/);
    let answer = await admin.post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'write'));
    expect(answer.body).toMatchObject({ decision: true, context: { reason_admin: { policy_version: 2, determining_policies: ['writers'] } } });

    expect((await admin.post('/admin/v1/tenants/acme/policies/activate', { version: 1 })).body).toMatchObject({ version: 1, active: true });
    answer = await admin.post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'write'));
    expect(answer.body).toMatchObject({ decision: false, context: { reason_admin: { policy_version: 1 } } });

    const versions = (await admin.get('/admin/v1/tenants/acme/policies/versions')).body.versions;
    expect(versions.map((v: { version: number; active: boolean }) => [v.version, v.active])).toEqual([
      [1, true],
      [2, false],
    ]);
    const diff = await admin.get('/admin/v1/tenants/acme/policies/diff?from=1&to=2');
    expect(diff.body.policies).toEqual({ added: ['writers'], removed: [], changed: [] });
    expect((await admin.get('/admin/v1/tenants/acme/policies/versions/2')).body.content.policies.writers).toContain('Action::"write"');
    expect((await admin.post('/admin/v1/tenants/acme/policies/activate', { version: 9 })).body.code).toBe('ERR_POLICY_VERSION_NOT_FOUND');
    expect((await admin.post('/admin/v1/tenants/acme/policies/activate', { version: 2 })).status).toBe(200);
  });

  it('rejects invalid policies with Cedar messages and positions, and changes nothing', async () => {
    const before = (await admin.get('/admin/v1/tenants/acme/policies/versions')).body.versions;
    const parse = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'main.cedar': `${V1}\npermit(principal, action, resource) when { principal.level >= };` }, schema: SCHEMA });
    expect(parse.status).toBe(422);
    expect(parse.body.code).toBe('ERR_POLICY_PARSE');
    expect(parse.body.diagnostics[0].positions[0]).toMatchObject({ source: 'main.cedar', line: 2 });
    const invalid = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'main.cedar': `@id("typo") permit(principal, action == Action::"read", resource) when { principal.levle >= 1 };` }, schema: SCHEMA });
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ code: 'ERR_POLICY_VALIDATION', diagnostics: [{ policyId: 'typo' }] });
    expect(invalid.body.diagnostics[0].message).toMatch(/levle/);
    expect((await admin.post('/admin/v1/tenants/acme/policies', { files: {}, schema: 'entity User {' })).body.code).toBe('ERR_POLICY_SCHEMA_PARSE');
    expect((await admin.get('/admin/v1/tenants/acme/policies/versions')).body.versions).toEqual(before);
  });

  it('validates without storing on dry run', async () => {
    expect((await admin.post('/admin/v1/tenants/acme/policies', { files: { 'main.cedar': V2 }, schema: SCHEMA, dryRun: true })).body).toEqual({ valid: true });
    expect((await admin.get('/admin/v1/tenants/acme/policies/versions')).body.versions).toHaveLength(2);
  });
});

describe('roles are Cedar policies in the system tenant', () => {
  let author: Client;
  let pep: Client;
  beforeAll(async () => {
    const a = await admin.post('/admin/v1/credentials', { role: 'policy-author', tenant: 'acme', label: 'acme author' });
    const p = await admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'acme', label: 'acme gateway' });
    expect(a.status).toBe(201);
    author = createClient(server.url, a.body.token);
    pep = createClient(server.url, p.body.token);
  });

  it("lets a tenant's policy author change only that tenant's store", async () => {
    expect((await author.post('/admin/v1/tenants/acme/policies', { files: { 'main.cedar': V2 }, schema: SCHEMA })).status).toBe(201);
    const refused = await author.post('/admin/v1/tenants/globex/policies', { files: { 'main.cedar': V2 }, schema: SCHEMA });
    expect(refused).toMatchObject({ status: 403, body: { code: 'ERR_AUTH_FORBIDDEN' } });
    expect((await author.get('/admin/v1/tenants/globex/audit')).status).toBe(403);
    expect((await author.post('/admin/v1/tenants', { id: 'sneaky' })).status).toBe(403);
    expect((await author.post('/admin/v1/credentials', { role: 'platform-admin' })).status).toBe(403);
  });

  it('lets a PEP credential decide for its tenant only', async () => {
    expect((await pep.post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'read'))).body.decision).toBe(true);
    expect((await pep.post('/tenants/globex/access/v1/evaluation', evaluation('ann', 'read'))).status).toBe(403);
    expect((await pep.post('/admin/v1/tenants/acme/policies', { files: {} })).status).toBe(403);
    expect((await createClient(server.url, null).post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'read'))).body.code).toBe('ERR_AUTH_MISSING');
    expect((await createClient(server.url, 'vrt_wrong').post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'read'))).body.code).toBe('ERR_AUTH_INVALID');
  });

  it('audits refusals and admin actions in the system tenant', async () => {
    const events = (await admin.get('/admin/v1/tenants/_system/audit?limit=1000')).body.events as Array<{ action: { id: string }; decision: string; errors: Array<{ message: string }> }>;
    expect(events.some((e) => e.action.id === 'policy.write' && e.decision === 'deny')).toBe(true);
    expect(events.some((e) => e.action.id === 'tenant.create' && e.decision === 'allow')).toBe(true);
    expect(events.some((e) => e.action.id === 'authenticate' && e.errors[0]?.message === 'ERR_AUTH_INVALID')).toBe(true);
    expect((await admin.get('/admin/v1/tenants/_system/audit/verify')).body.ok).toBe(true);
    expect((await admin.post('/admin/v1/tenants/_system/policies', { files: {} })).status).toBe(403);
  });

  it('stores credentials hashed, never in clear', async () => {
    const rows = (await server.components.store.db.query<Record<string, unknown>>('SELECT * FROM credentials')).rows;
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(ADMIN_TOKEN);
    expect(dump).toContain(hashToken(ADMIN_TOKEN));
  });
});

describe('tenant isolation', () => {
  it("never lets one tenant's entities, versions or audit reach another", async () => {
    // Ann is level 2 in acme and level 1 in globex: globex must decide with its own entity.
    expect((await admin.post('/tenants/globex/access/v1/evaluation', evaluation('ann', 'write'))).body.decision).toBe(false);
    expect((await admin.get('/admin/v1/tenants/globex/policies/versions')).body.versions).toHaveLength(1);
    await admin.post('/tenants/globex/access/v1/evaluation', evaluation('ann', 'read'), { 'x-request-id': 'globex-only' });
    const acmeAudit = (await admin.get('/admin/v1/tenants/acme/audit?limit=1000')).body.events as Array<{ tenant: string; requestId: string }>;
    expect(acmeAudit.every((e) => e.tenant === 'acme')).toBe(true);
    expect(acmeAudit.some((e) => e.requestId === 'globex-only')).toBe(false);
    expect((await admin.get('/admin/v1/tenants/globex/audit?requestId=globex-only')).body.events).toHaveLength(1);
    expect((await admin.post('/tenants/nope/access/v1/evaluation', evaluation('ann', 'read'))).body.code).toBe('ERR_TENANT_NOT_FOUND');
  });
});

describe('entities', () => {
  it('creates, replaces, lists and deletes entities, and decisions see the change at once', async () => {
    const bob = { attrs: { level: 2 }, parents: [] };
    expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities/User/bob', bob)).body).toMatchObject({ uid: { type: 'User', id: 'bob' }, attrs: { level: 2 } });
    expect((await admin.post('/tenants/acme/access/v1/evaluation', evaluation('bob', 'write'))).body.decision).toBe(true);
    await admin.request('PUT', '/admin/v1/tenants/acme/entities/User/bob', { attrs: { level: 0 } });
    expect((await admin.post('/tenants/acme/access/v1/evaluation', evaluation('bob', 'read'))).body.decision).toBe(false);
    const page = await admin.get('/admin/v1/tenants/acme/entities?type=User&limit=1');
    expect(page.body.entities).toHaveLength(1);
    expect((await admin.get(`/admin/v1/tenants/acme/entities?type=User&limit=1&after=${page.body.next}`)).body.entities).toHaveLength(1);
    expect((await admin.request('DELETE', '/admin/v1/tenants/acme/entities/User/bob')).status).toBe(204);
    expect((await admin.get('/admin/v1/tenants/acme/entities/User/bob')).body.code).toBe('ERR_ENTITY_NOT_FOUND');
    expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: [{ uid: { type: 'Robot', id: 'r' }, attrs: {}, parents: [] }] })).body.code).toBe('ERR_ENTITY_UNKNOWN_TYPE');
    expect((await admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: [{ uid: { type: 'User', id: 'x' }, attrs: { level: 'high' }, parents: [] }] })).body.code).toBe('ERR_ENTITY_INVALID');
  });
});

describe('Cedar-native decisions', () => {
  it('decides with request entities and in batches', async () => {
    const one = await admin.post('/tenants/acme/cedar/v1/is-authorized', {
      principal: { type: 'User', id: 'temp' },
      action: 'Action::"read"',
      resource: { type: 'Doc', id: 'd' },
      entities: [{ uid: { type: 'User', id: 'temp' }, attrs: { level: 1 }, parents: [] }],
    });
    expect(one.body).toMatchObject({ decision: 'allow', policyVersion: 3, determiningPolicies: ['readers'] });
    expect(one.body.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    const batch = await admin.post('/tenants/acme/cedar/v1/batch-is-authorized', {
      requests: [
        { principal: { type: 'User', id: 'ann' }, action: { type: 'Action', id: 'write' }, resource: { type: 'Doc', id: 'd' } },
        { principal: { type: 'User', id: 'ghost' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' } },
      ],
    });
    expect(batch.body.results.map((r: { decision: string }) => r.decision)).toEqual(['allow', 'deny']);
    expect((await admin.post('/tenants/acme/cedar/v1/is-authorized', { principal: 'nonsense', action: 'Action::"read"', resource: 'Doc::"d"' })).body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    // context.txn is the PDP's (from a verified Txn-Token): no endpoint takes it from the request.
    const forgedTxn = { principal: { type: 'User', id: 'ann' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { txn: { sub: 'alice' } } };
    const refusedTxn = { code: 'ERR_DECISION_INVALID_REQUEST', message: expect.stringContaining('context.txn') };
    expect((await admin.post('/tenants/acme/cedar/v1/is-authorized', forgedTxn)).body).toMatchObject(refusedTxn);
    expect((await admin.post('/tenants/acme/cedar/v1/batch-is-authorized', { requests: [forgedTxn] })).body).toMatchObject(refusedTxn);
    const search = await admin.post('/tenants/acme/access/v1/search/action', { subject: { type: 'User', id: 'ann' }, resource: { type: 'Doc', id: 'd' }, context: { txn: { sub: 'alice' } } });
    expect(search.body).toMatchObject(refusedTxn);
  });
});

describe('audit', () => {
  it('records request id, tier, version and latency, and finds tampering', async () => {
    await admin.post('/tenants/globex/access/v1/evaluation', evaluation('ann', 'read'), { 'x-request-id': 'req-42', 'x-verity-tier': 'gateway' });
    const [event] = (await admin.get('/admin/v1/tenants/globex/audit?requestId=req-42')).body.events;
    expect(event).toMatchObject({ requestId: 'req-42', tier: 'gateway', decision: 'allow', policyVersion: 1, reasons: ['readers'] });
    expect(event.latencyUs).toBeGreaterThan(0);
    expect((await admin.get('/admin/v1/tenants/globex/audit/verify')).body).toMatchObject({ ok: true });
    await server.components.store.db.query(`UPDATE audit_events SET decision = 'deny' WHERE tenant_id = 'globex' AND request_id = 'req-42'`);
    const verdict = (await admin.get('/admin/v1/tenants/globex/audit/verify')).body;
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toContainEqual({ seq: event.seq, kind: 'edited' });
  });
});

describe('metadata and request ids', () => {
  it('serves per-tenant AuthZEN metadata and echoes X-Request-ID', async () => {
    const meta = await admin.get('/.well-known/authzen-configuration/tenants/acme');
    expect(meta.body.policy_decision_point).toBe(`${server.url}/tenants/acme`);
    expect(meta.body.access_evaluations_endpoint).toBe(`${server.url}/tenants/acme/access/v1/evaluations`);
    expect((await admin.get('/.well-known/authzen-configuration')).body.policy_decision_point).toBe(server.url);
    expect((await admin.get('/.well-known/authzen-configuration/tenants/nope')).status).toBe(404);
    const answer = await admin.post('/tenants/acme/access/v1/evaluation', evaluation('ann', 'read'), { 'x-request-id': 'trace-me' });
    expect(answer.headers.get('x-request-id')).toBe('trace-me');
  });
});

describe('embedded storage survives a restart', () => {
  it('keeps versions, entities, credentials and the audit chain in the data folder', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'verity-e2e-'));
    try {
      const first = await startTestServer({ dataDir, adminToken: null });
      expect(first.bootstrapToken).toMatch(/^vrt_/);
      const owner = createClient(first.url, first.bootstrapToken);
      await owner.post('/admin/v1/tenants', { id: 'keep' });
      await owner.post('/admin/v1/tenants/keep/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } });
      await owner.post('/tenants/keep/access/v1/evaluation', evaluation('ann', 'read'));
      await first.close();

      const second = await startTestServer({ dataDir, adminToken: null });
      expect(second.bootstrapToken).toBeNull();
      const again = createClient(second.url, first.bootstrapToken);
      expect((await again.get('/admin/v1/tenants/keep/policies/versions')).body.versions).toHaveLength(1);
      await again.post('/tenants/keep/access/v1/evaluation', evaluation('ann', 'read'));
      expect((await again.get('/admin/v1/tenants/keep/audit/verify')).body).toMatchObject({ ok: true, checked: 2 });
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(`${dataDir}.master-key`, { force: true });
    }
  });
});

describe('templates, links and type mapping', () => {
  it('decides with template-linked policies and maps AuthZEN types to namespaced Cedar types', async () => {
    const schema = `namespace Shop { entity Customer; entity Order; action view appliesTo { principal: Customer, resource: Order }; }`;
    const created = await admin.post('/admin/v1/tenants', { id: 'shop', settings: { typeMapping: { customer: 'Shop::Customer', order: 'Shop::Order' }, actionType: 'Shop::Action' } });
    expect(created.status).toBe(201);
    const pushed = await admin.post('/admin/v1/tenants/shop/policies', {
      files: { 'owner.cedar': '@id("can-view") permit(principal == ?principal, action == Shop::Action::"view", resource == ?resource);' },
      schema,
      links: [{ id: 'ann-o1', templateId: 'can-view', values: { '?principal': { type: 'Shop::Customer', id: 'ann' }, '?resource': { type: 'Shop::Order', id: 'o1' } } }],
    });
    expect(pushed.status).toBe(201);
    const ask = (subject: string, order: string) => admin.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'customer', id: subject }, action: { name: 'view' }, resource: { type: 'order', id: order } });
    expect((await ask('ann', 'o1')).body).toMatchObject({ decision: true, context: { reason_admin: { determining_policies: ['ann-o1'] } } });
    expect((await ask('ann', 'o2')).body.decision).toBe(false);
    expect((await ask('bob', 'o1')).body.decision).toBe(false);
    // A type the schema does not know (no mapping for "robot") is a clear error, not a silent deny.
    const unknown = await admin.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'robot', id: 'r' }, action: { name: 'view' }, resource: { type: 'order', id: 'o1' } });
    expect(unknown).toMatchObject({ status: 400, body: { code: 'ERR_ENTITY_UNKNOWN_TYPE' } });
    const badLink = await admin.post('/admin/v1/tenants/shop/policies', { files: {}, schema, links: [{ id: 'x', templateId: 'missing', values: {} }] });
    expect(badLink).toMatchObject({ status: 422, body: { code: 'ERR_POLICY_TEMPLATE_LINK' } });
  });
});
