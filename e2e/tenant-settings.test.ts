/**
 * Tenant settings updated over the admin API: a one-level merge patch validated like creation
 * and never half-applied, authorized and audited in `_system`, published on the change stream,
 * and seen at once by the PDP's decisions and by PEPs' cached decisions and bundles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChangeFollower, createDecisionCache, createEnforcer, createLocalDecisionSource, createRemoteDecisionSource, isEnforceError, type DecisionRequest } from '@verity/enforce';
import { openEventStream } from './helpers/sse.js';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';

const SCHEMA = `entity User; entity Doc;
action read appliesTo { principal: User, resource: Doc, context: { ip: String } };`;
const POLICIES = `@id("read") permit(principal is User, action == Action::"read", resource is Doc);`;

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let author: Client;
let otherAuthor: Client;
let pep: Client;
const closers: Array<() => unknown> = [];

async function until(check: () => Promise<boolean> | boolean, withinMs = 2000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

const patch = (client: Client, tenant: string, body: unknown) => client.request('PATCH', `/admin/v1/tenants/${tenant}`, body);
const settingsOf = async (tenant: string) => (await admin.get(`/admin/v1/tenants/${tenant}`)).body.settings;
/** A read by `subjectType::"ann"`: a `Doc` is a principal the schema's `appliesTo` does not allow. */
const read = (subjectType = 'User') => ({ subject: { type: subjectType, id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { ip: '10.0.0.1' } });

beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
  for (const id of ['acme', 'globex']) {
    expect((await admin.post('/admin/v1/tenants', { id, settings: { actionType: 'Action', typeMapping: { doc: 'Doc' } } })).status).toBe(201);
    expect((await admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': POLICIES }, schema: SCHEMA })).status).toBe(201);
  }
  // Without a schema, a type the mapping does not know is simply another principal type.
  expect((await admin.post('/admin/v1/tenants', { id: 'plain' })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants/plain/policies', { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const credential = async (role: string, tenant: string) => createClient(server.url, (await admin.post('/admin/v1/credentials', { role, tenant })).body.token);
  author = await credential('policy-author', 'acme');
  otherAuthor = await credential('policy-author', 'globex');
  pep = await credential('pep', 'acme');
});

afterAll(async () => {
  for (const close of closers) await close();
  await server?.close();
});

describe('PATCH /admin/v1/tenants/{t}', () => {
  it('merges one level deep: a key replaces that setting whole, null removes it, the rest stay', async () => {
    const answer = await patch(admin, 'acme', { settings: { typeMapping: { person: 'User' }, validateRequests: true, actionType: null } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: 'acme', settings: { typeMapping: { person: 'User' }, validateRequests: true } });
    expect(await settingsOf('acme')).toEqual({ typeMapping: { person: 'User' }, validateRequests: true });
    expect((await patch(admin, 'acme', { settings: { validateRequests: null, typeMapping: null } })).body.settings).toEqual({});
    expect(await settingsOf('globex')).toEqual({ actionType: 'Action', typeMapping: { doc: 'Doc' } });
  });

  it('validates exactly like creation, and an invalid change alters nothing', async () => {
    await patch(admin, 'acme', { settings: { gatewayRoutes: ['/docs/{id}'] } });
    const before = await settingsOf('acme');
    const invalid = [
      { validateRequests: 'yes' },
      { unknownSetting: 1 },
      { unknownSetting: null },
      { gatewayRoutes: ['no-slash'] },
      { typeMapping: ['User'] },
      { actionType: '' },
      // One good key and one bad: neither lands.
      { stsPrincipalType: 'Service', gatewayRoutes: ['/a/{x}', '/a/{y}'] },
    ];
    for (const settings of invalid) {
      const answer = await patch(admin, 'acme', { settings });
      expect([answer.status, answer.body.code], JSON.stringify(settings)).toEqual([400, 'ERR_TENANT_INVALID']);
      // Creation refuses the same settings with the same code.
      expect((await admin.post('/admin/v1/tenants', { id: 'never', settings })).body.code, JSON.stringify(settings)).toBe('ERR_TENANT_INVALID');
    }
    for (const body of [{}, { settings: {}, name: 'x' }, { settings: [] }, []]) {
      const answer = await patch(admin, 'acme', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
    expect(await settingsOf('acme')).toEqual(before);
    expect((await admin.get('/admin/v1/tenants')).body.tenants.map((t: { id: string }) => t.id)).not.toContain('never');
  });

  it("lets platform admins and the tenant's own policy authors update, no one else", async () => {
    expect((await patch(author, 'acme', { settings: { stsPrincipalType: 'Member' } })).status).toBe(200);
    expect((await patch(otherAuthor, 'acme', { settings: { stsPrincipalType: 'Evil' } })).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await patch(pep, 'acme', { settings: { stsPrincipalType: 'Evil' } })).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await patch(createClient(server.url, null), 'acme', { settings: {} })).body.code).toBe('ERR_AUTH_MISSING');
    expect((await patch(admin, '_system', { settings: { validateRequests: true } })).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await patch(admin, 'nobody', { settings: { validateRequests: true } })).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await settingsOf('acme')).stsPrincipalType).toBe('Member');
  });

  it('records every update decision in the system audit as tenant.update on the tenant', async () => {
    const requestId = `settings-${Date.now()}`;
    await author.request('PATCH', '/admin/v1/tenants/acme', { settings: { validateRequests: false } }, { 'x-request-id': requestId });
    await pep.request('PATCH', '/admin/v1/tenants/acme', { settings: { validateRequests: true } }, { 'x-request-id': `${requestId}-pep` });
    const events = async (id: string) => (await admin.get(`/admin/v1/tenants/_system/audit?requestId=${id}`)).body.events;
    expect(await events(requestId)).toMatchObject([{ action: { type: 'Verity::Action', id: 'tenant.update' }, resource: { type: 'Verity::Tenant', id: 'acme' }, decision: 'allow', reasons: ['policy-author'] }]);
    expect(await events(`${requestId}-pep`)).toMatchObject([{ action: { id: 'tenant.update' }, resource: { id: 'acme' }, decision: 'deny' }]);
  });

  it("publishes a settings change on the tenant's change stream", async () => {
    const stream = await openEventStream(`${server.url}/tenants/globex/changes`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    closers.push(() => stream.close());
    await patch(admin, 'globex', { settings: { validateRequests: false } });
    expect(await stream.next('change', 2000)).toEqual({ tenant: 'globex', kind: 'settings' });
  });
});

describe('what an update changes', () => {
  it("the PDP's next decision runs on the new settings (request validation on and off)", async () => {
    await patch(admin, 'acme', { settings: { validateRequests: null } });
    const ask = () => admin.post('/tenants/acme/access/v1/evaluation', read('Doc'));
    expect((await ask()).body.decision).toBe(false);
    await patch(admin, 'acme', { settings: { validateRequests: true } });
    expect((await ask()).body.code).toBe('ERR_DECISION_INVALID_REQUEST');
    expect((await admin.post('/tenants/acme/access/v1/evaluation', read())).body.decision).toBe(true);
    await patch(admin, 'acme', { settings: { validateRequests: null } });
    expect((await ask()).body.decision).toBe(false);
  });
});

describe("a PEP's cache and bundle", () => {
  it('a remote PEP drops its cached decision when the type mapping changes', async () => {
    const cache = createDecisionCache({ ttlMs: 60_000 });
    const follower = createChangeFollower({ url: server.url, tenant: 'plain', credential: ADMIN_TOKEN, initialBackoffMs: 20, onChange: (change) => cache.invalidateTenant(change.tenant) });
    closers.push(() => follower.close());
    await follower.ready;
    const enforcer = createEnforcer({ anyAudience: true, source: createRemoteDecisionSource({ url: server.url, credential: ADMIN_TOKEN }), cache, tenant: 'plain', tier: 'docs' });
    const input = { subject: { type: 'person', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } };
    expect((await enforcer.enforce(input)).status).toBe(403);
    expect(cache.get({ tenant: 'plain', action: 'read', resource: input.resource, context: { caller: null }, subject: input.subject, caller: null })?.decision).toBe('deny');
    await patch(admin, 'plain', { settings: { typeMapping: { person: 'User' } } });
    expect(await until(async () => (await enforcer.enforce(input)).status === 200)).toBe(true);
  });

  it("a local PEP's bundle carries the new settings (request validation turned on)", async () => {
    await patch(admin, 'acme', { settings: { validateRequests: null } });
    const { thumbprints } = (await admin.get('/tenants/acme/bundle/keys')).body as { thumbprints: string[] };
    const source = createLocalDecisionSource({ url: server.url, tenant: 'acme', credential: ADMIN_TOKEN, bundleKeyThumbprints: thumbprints, retryBackoff: { initialMs: 20, maxMs: 100 } });
    closers.push(() => source.close());
    await source.ready;
    const ask: DecisionRequest = { tenant: 'acme', subject: { type: 'Doc', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { ip: '10.0.0.1' }, requestId: 'local-1', tier: 'docs' };
    expect((await source.decide(ask)).decision).toBe('deny');
    await patch(admin, 'acme', { settings: { validateRequests: true } });
    const refused = async () =>
      source.decide(ask).then(
        () => false,
        (error: unknown) => isEnforceError(error) && error.pdpCode === 'ERR_DECISION_INVALID_REQUEST',
      );
    expect(await until(refused)).toBe(true);
    expect((await source.decide({ ...ask, subject: { type: 'User', id: 'ann' } })).decision).toBe('allow');
  });
});
