/**
 * A tenant's lifecycle past creation, on one server: its settings versioned (history, diff,
 * rollback, If-Match), and its deletion (`DELETE /admin/v1/tenants/{t}`, `verity tenant
 * delete`): platform admins only; everything of the tenant goes (its decisions, its credentials,
 * its identity sources), its audit stays readable and verifiable, or is exported and removed
 * (the server runs with tenantDeletionAudit: export), and its id is never handed out again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, SignJWT } from 'jose';
import { GENESIS_HASH, type AuditEvent } from '@verity/core';
import { createCsr, generateSvidKey } from '@verity/workload';
import { runVerity } from './helpers/cli-run.js';
import { createInlineIdp } from './helpers/inline-idp.js';
import { createClient, createTenantWithPolicies, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
const idp = await createInlineIdp({ issuer: 'https://idp.example', audience: 'api://acme' });

const credential = async (role: string, tenant: string): Promise<Client> => {
  const answer = await server.admin.post('/admin/v1/credentials', { role, tenant });
  expect(answer.status).toBe(201);
  return createClient(server.url, answer.body.token);
};

const ask = (client: Client, tenant: string) => client.post(`/tenants/${tenant}/access/v1/evaluation`, { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });

beforeAll(async () => {
  server = await startTestServer({ tenantDeletionAudit: 'export' });
  for (const tenant of ['acme', 'globex']) await createTenantWithPolicies(server.admin, tenant, 'permit(principal, action, resource);');
});

afterAll(async () => {
  await server?.close();
});

describe('DELETE /admin/v1/tenants/{t}', () => {
  it('is for platform admins; everything but the audit goes, on this server at once; other tenants are untouched', async () => {
    const pep = await credential('pep', 'acme');
    const author = await credential('policy-author', 'acme');
    const globexPep = await credential('pep', 'globex');
    expect((await server.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/idp', idp.source())).status).toBe(200);
    expect((await ask(pep, 'acme')).body.decision).toBe(true);
    const token = await idp.token();
    expect((await pep.post('/tenants/acme/access/v1/evaluation', { token, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).body.decision).toBe(true);

    // Not the tenant's own author, not the system tenant, not a tenant that does not exist.
    expect((await author.request('DELETE', '/admin/v1/tenants/acme')).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/_system')).body.code).toBe('ERR_AUTH_FORBIDDEN');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/nobody')).status).toBe(404);

    const deleted = await server.admin.request('DELETE', '/admin/v1/tenants/acme');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: 'acme', deleted: true, auditKept: true });

    // Gone: the tenant, its decisions (cached views included), its credentials, its token's source.
    expect((await server.admin.get('/admin/v1/tenants/acme')).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await server.admin.get('/admin/v1/tenants')).body.tenants.map((t: { id: string }) => t.id)).toEqual(['globex']);
    expect((await ask(server.admin, 'acme')).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await ask(pep, 'acme')).status).toBe(401);
    expect((await ask(author, 'acme')).status).toBe(401);
    expect((await server.admin.get('/admin/v1/tenants/acme/identity-sources')).status).toBe(404);
    expect((await server.admin.get('/admin/v1/tenants/acme/entities?limit=10')).status).toBe(404);
    // Another tenant goes on deciding, with its own credential.
    expect((await ask(globexPep, 'globex')).body.decision).toBe(true);

    // The audit is kept: the decisions made before are there, the chain verifies.
    const audit = await server.admin.get('/admin/v1/tenants/acme/audit?limit=100');
    expect(audit.status).toBe(200);
    expect(audit.body.events.length).toBeGreaterThanOrEqual(2);
    const verified = await server.admin.get('/admin/v1/tenants/acme/audit/verify');
    expect(verified.body.ok).toBe(true);
    // The deletion itself is an audited admin decision.
    const system = await server.admin.get('/admin/v1/tenants/_system/audit?limit=1000');
    expect(system.body.events.some((e: { action: { id: string }; resource: { id: string }; decision: string }) => e.action.id === 'tenant.delete' && e.resource.id === 'acme' && e.decision === 'allow')).toBe(true);

    // The id stays taken; a second delete finds nothing.
    const again = await server.admin.post('/admin/v1/tenants', { id: 'acme' });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('was deleted');
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/acme')).status).toBe(404);
  });
});

// Found by attack12: what a deletion must keep, and what must not come back after it.

const CALLER = 'spiffe://owner.verity.internal/gateway';
const askShop = () => server.admin.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { caller: CALLER } });


describe('DELETE /admin/v1/tenants/{t} and the deny list of its removed workloads', () => {
  it('a removed workload whose SVID is still live stays refused as caller after its tenant is deleted', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: 'owner' })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants', { id: 'shop' })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    // The owner's workload gets an X.509-SVID (valid 1 h), then is removed (compromised).
    const workload = await server.admin.post('/admin/v1/tenants/owner/workloads', { spiffe_id: CALLER });
    const joinToken = await server.admin.post(`/admin/v1/tenants/owner/workloads/${workload.body.id}/join-tokens`, {});
    const csr = await createCsr((await generateSvidKey()).privateKeyPem);
    expect((await createClient(server.url, null).post('/workload/v1/tenants/owner/attest', { attestor: 'join_token', join_token: joinToken.body.join_token, csr })).status).toBe(200);
    const removed = await server.admin.request('DELETE', `/admin/v1/tenants/owner/workloads/${workload.body.id}`);
    expect(Date.parse(removed.body.denied_until)).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect((await askShop()).body.decision).toBe(false);

    expect((await server.admin.request('DELETE', '/admin/v1/tenants/owner')).status).toBe(200);
    // Its SVID is still live (denied_until is ahead), but the deny list went with the tenant.
    expect(Date.parse(removed.body.denied_until)).toBeGreaterThan(Date.now());
    const after = await askShop();
    expect(after.body.decision, JSON.stringify(after.body)).toBe(false);
  });
});

describe('DELETE /admin/v1/tenants/{t} and its workload CA', () => {
  it('no request brings back a CA of the deleted tenant', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: 'platform' })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants', { id: 'shop2', settings: { federated_tenants: ['platform'] } })).status).toBe(201);
    expect((await server.admin.get('/admin/v1/tenants/platform/ca')).status).toBe(200); // the CA exists, its trust domain is looked up
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/platform')).status).toBe(200);
    expect((await server.components.store.workloads.authorities('platform')).x509).toHaveLength(0);

    // Anyone: a self-signed "JWT-SVID" of the deleted tenant's trust domain at the federating tenant's token endpoint.
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ sub: 'spiffe://platform.verity.internal/gw', aud: `${server.url}/tenants/shop2/oauth2/token`, iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(privateKey);
    const answer = await fetch(`${server.url}/tenants/shop2/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token', audience: 'shop2.verity.internal', subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
    });
    expect(answer.status).toBe(401);
    const stored = await server.components.store.workloads.authorities('platform');
    expect(stored.x509.length + stored.jwt.length, 'CA rows of the deleted tenant').toBe(0);
  });
});

describe('DELETE /admin/v1/tenants/{t} and its audit checkpoints', () => {
  it('the latest checkpoint stays readable with the rest of the kept audit', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: 'gone' })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants/gone/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    await server.admin.post('/tenants/gone/access/v1/evaluation', { subject: { type: 'User', id: 'a' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    const made = await server.admin.post('/admin/v1/tenants/gone/audit/checkpoints', {});
    expect(made.status).toBe(201);
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/gone')).status).toBe(200);
    expect((await server.admin.get('/admin/v1/tenants/gone/audit/verify')).body.ok).toBe(true); // the audit itself is kept
    const latest = await server.admin.get('/admin/v1/tenants/gone/audit/checkpoints/latest');
    expect([latest.status, latest.body.jws], JSON.stringify(latest.body)).toEqual([200, made.body.jws]);
  });
});

describe('DELETE /admin/v1/tenants/{t} and per-subject activity', () => {
  it('leaves no activity of the deleted tenant behind', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: 'watched', settings: { risk: { enabled: true, activity: {} } } })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants/watched/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    const answer = await server.admin.post('/tenants/watched/access/v1/evaluation', { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    expect(answer.body.decision).toBe(true);
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/watched')).status).toBe(200);
    await new Promise((wait) => setTimeout(wait, 800)); // past the 250 ms flush
    expect(await server.components.store.activity.tenants()).not.toContain('watched');
  });
});

// Versioned settings: who changed what, when; a rollback is a new version; the server decides on the settings at once.

type Event = { action: { id: string }; resource: { id: string }; decision: string; input?: string };
const systemEvents = async (action: string): Promise<Event[]> => (await server.admin.get('/admin/v1/tenants/_system/audit?limit=1000')).body.events.filter((e: Event) => e.action.id === action);

describe('tenant settings versions', () => {
  it("records every change with its author; the tenant's author reads and rolls back, others may not; decisions follow at once", async () => {
    await createTenantWithPolicies(server.admin, 'versioned', 'permit(principal == User::"alice", action, resource);');
    const labelled = await server.admin.post('/admin/v1/credentials', { role: 'policy-author', tenant: 'versioned', label: 'alice (author)' });
    const author = createClient(server.url, labelled.body.token);
    const pep = await credential('pep', 'versioned');
    const outsider = await credential('policy-author', 'globex');
    const decide = async () => (await pep.post('/tenants/versioned/access/v1/evaluation', { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).body.decision;
    expect(await decide()).toBe(false); // `user` is not the Cedar type User without a mapping

    const changed = await author.request('PATCH', '/admin/v1/tenants/versioned', { settings: { typeMapping: { user: 'User' } }, message: 'map users' });
    expect([changed.status, changed.body.settingsVersion]).toEqual([200, 2]);
    expect(await decide()).toBe(true);
    // A change made from a stale version is refused whole; a malformed If-Match is a 400.
    const stale = await author.request('PATCH', '/admin/v1/tenants/versioned', { settings: { validateRequests: true } }, { 'if-match': '"1"' });
    expect([stale.status, stale.body.code]).toEqual([412, 'ERR_TENANT_SETTINGS_CONFLICT']);
    expect((await author.request('PATCH', '/admin/v1/tenants/versioned', { settings: {} }, { 'if-match': 'W/"2"' })).body.code).toBe('ERR_REQUEST_INVALID');
    // Concurrent changes: distinct versions, none lost.
    const racing = await Promise.all(['A', 'B', 'C'].map((x) => server.admin.request('PATCH', '/admin/v1/tenants/versioned', { settings: { [`${x === 'A' ? 'actionType' : x === 'B' ? 'stsPrincipalType' : 'gatewayAudience'}`]: `${x}::T` } })));
    expect(racing.map((r) => r.body.settingsVersion).sort()).toEqual([3, 4, 5]);

    const history = await author.get('/admin/v1/tenants/versioned/settings/versions');
    expect(history.body.versions.map((v: { version: number; createdBy: string; message: string; current: boolean }) => [v.version, v.createdBy, v.message, v.current])).toEqual([
      [1, 'VERITY_ADMIN_TOKEN', '', false],
      [2, 'alice (author)', 'map users', false],
      [3, 'VERITY_ADMIN_TOKEN', '', false],
      [4, 'VERITY_ADMIN_TOKEN', '', false],
      [5, 'VERITY_ADMIN_TOKEN', '', true],
    ]);
    expect((await author.get('/admin/v1/tenants/versioned/settings/versions/2')).body.settings).toEqual({ typeMapping: { user: 'User' } });
    const diff = await author.get('/admin/v1/tenants/versioned/settings/diff?from=1&to=2');
    expect(diff.body).toEqual({ from: 1, to: 2, changes: [{ key: 'typeMapping', kind: 'added', after: { user: 'User' } }] });
    expect((await author.get('/admin/v1/tenants/versioned/settings/versions/9')).body.code).toBe('ERR_TENANT_SETTINGS_VERSION_NOT_FOUND');
    expect((await author.get('/admin/v1/tenants/versioned/settings/diff?from=1&to=x')).body.code).toBe('ERR_REQUEST_INVALID');
    // Not a PEP, not another tenant's author.
    for (const client of [pep, outsider]) {
      expect((await client.get('/admin/v1/tenants/versioned/settings/versions')).status).toBe(403);
      expect((await client.post('/admin/v1/tenants/versioned/settings/rollback', { version: 1 })).status).toBe(403);
    }

    // Rollback to version 1: a new version 6 equal to it; the server decides on it at once.
    const rolled = await author.post('/admin/v1/tenants/versioned/settings/rollback', { version: 1, message: 'undo' }, { 'if-match': '"5"' });
    expect([rolled.status, rolled.body.settingsVersion, rolled.body.settings]).toEqual([200, 6, {}]);
    expect(await decide()).toBe(false);
    expect((await author.get('/admin/v1/tenants/versioned/settings/versions/6')).body).toMatchObject({ restoredFrom: 1, message: 'undo', current: true, settings: {} });
    expect((await author.post('/admin/v1/tenants/versioned/settings/rollback', { version: 2 }, { 'if-match': '"5"' })).status).toBe(412);
    expect((await server.admin.post('/admin/v1/tenants/_system/settings/rollback', { version: 1 })).status).toBe(403);
    // Each change is an admin decision in _system too.
    expect((await systemEvents('tenant.update')).filter((e) => e.resource.id === 'versioned' && e.decision === 'allow').length).toBeGreaterThanOrEqual(6);

    // Deleted: the history goes with the tenant.
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/versioned')).status).toBe(200);
    expect((await server.admin.get('/admin/v1/tenants/versioned/settings/versions')).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await server.admin.post('/admin/v1/tenants/versioned/settings/rollback', { version: 1 })).body.code).toBe('ERR_TENANT_NOT_FOUND');
  });
});

describe("a deleted tenant's audit, exported then removed", () => {
  it('is removed by a platform admin only, after the deletion, at the head the export reached; the removal is recorded in _system', async () => {
    await createTenantWithPolicies(server.admin, 'leaving', 'permit(principal, action, resource);');
    const author = await credential('policy-author', 'leaving');
    for (let i = 0; i < 3; i++) await ask(server.admin, 'leaving');
    const headOf = async () => {
      const events: AuditEvent[] = (await server.admin.get('/admin/v1/tenants/leaving/audit?limit=1000')).body.events;
      const last = events.at(-1);
      return last === undefined ? `0:${GENESIS_HASH}` : `${last.seq}:${last.hash}`;
    };
    const remove = (client: Client, through: string) => client.request('DELETE', `/admin/v1/tenants/leaving/audit?exportedThrough=${through}`);
    expect((await remove(server.admin, await headOf())).body.code).toBe('ERR_AUDIT_TENANT_LIVE');
    expect((await remove(author, await headOf())).status).toBe(403);
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/leaving')).status).toBe(200);

    const exported = await headOf();
    expect(exported).toMatch(/^3:/);
    expect((await remove(server.admin, `2:${exported.slice(2)}`)).body.code).toBe('ERR_AUDIT_NOT_EXPORTED');
    expect((await remove(server.admin, `3:${'f'.repeat(64)}`)).body.code).toBe('ERR_AUDIT_NOT_EXPORTED');
    expect((await remove(server.admin, 'latest')).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await server.admin.get('/admin/v1/tenants/leaving/audit/verify')).body).toMatchObject({ ok: true, checked: 3 });

    const removed = await remove(server.admin, exported);
    expect([removed.status, removed.body]).toEqual([200, { id: 'leaving', auditRemoved: true, exportedThrough: { seq: 3, hash: exported.slice(2) }, removed: 3 }]);
    expect((await server.admin.get('/admin/v1/tenants/leaving/audit?limit=10')).body.events).toEqual([]);
    expect((await server.admin.get('/admin/v1/tenants/leaving/audit/verify')).body).toMatchObject({ ok: true, checked: 0 });
    expect((await server.admin.get('/admin/v1/tenants/leaving/audit/checkpoints/latest')).status).toBe(404);
    expect((await server.admin.post('/admin/v1/tenants', { id: 'leaving' })).status).toBe(409);
    // _system keeps who removed it, and the head the export reached.
    const [record] = (await systemEvents('audit.remove')).filter((e) => e.resource.id === 'leaving' && e.decision === 'allow');
    expect(JSON.parse(record?.input ?? '{}').context).toEqual({ exported_through_seq: 3, exported_through_hash: exported.slice(2) });
  });

  it('verity tenant delete --export-audit writes the audit and a signed checkpoint, removes it, and the export verifies offline', async () => {
    await createTenantWithPolicies(server.admin, 'offboarded', 'permit(principal, action, resource);');
    for (let i = 0; i < 4; i++) await ask(server.admin, 'offboarded');
    const dir = await mkdtemp(join(tmpdir(), 'verity-offboard-'));
    const verity = (...argv: string[]) => runVerity(argv, { url: server.url, cwd: dir });
    try {
      const deleted = await verity('tenant', 'delete', 'offboarded', '--yes', '--export-audit', 'offboarded.jsonl', '--json');
      expect(deleted.code, deleted.err).toBe(0);
      expect(JSON.parse(deleted.out)).toMatchObject({ deleted: true, auditKept: false, auditExported: { events: 4, removed: true, exportedThrough: { seq: 4 } } });
      const events = (await readFile(join(dir, 'offboarded.jsonl'), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as AuditEvent);
      expect(events.map((e) => [e.seq, e.tenant])).toEqual([1, 2, 3, 4].map((seq) => [seq, 'offboarded']));
      expect((await server.admin.get('/admin/v1/tenants/offboarded/audit?limit=10')).body.events).toEqual([]);
      const verified = await verity('audit', 'verify', '--file', 'offboarded.jsonl', '--checkpoint', 'offboarded.jsonl.checkpoint.json');
      expect(verified).toMatchObject({ code: 0, out: `ok: 4 events checked, through seq 4 (hash ${events[3]?.hash})\n` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
