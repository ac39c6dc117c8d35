/**
 * What the PDP gives PEPs that decide in-process: a signed policy bundle (verified against the
 * tenant's JWKS, deciding like the PDP), an at-least-once audit ingest, and the drift check
 * that flags tiers of one request that disagree on policy version or decision.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalDecider, parseEvaluationRequest } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { verifyBundle } from '@verity/identity';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { createClient, startTestServer } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
const POLICY_V1 = '@id("staff-read") permit(principal in Group::"staff", action == Action::"read", resource);';
const POLICY_V2 = `${POLICY_V1}\n@id("staff-write") permit(principal in Group::"staff", action == Action::"write", resource);`;
const ENTITIES = [
  { uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [] },
];

beforeAll(async () => {
  server = await startTestServer();
  await server.admin.post('/admin/v1/tenants', { id: 'acme' });
  await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY_V1 } });
  await server.admin.request('PUT', '/admin/v1/tenants/acme/entities', { entities: ENTITIES });
  await server.admin.post('/admin/v1/tenants/acme/revocations', { subject: 'mallory' });
});

afterAll(async () => {
  await server?.close();
});

describe('policy bundles', () => {
  it('are signed by the tenant key and decide locally exactly as the PDP does', async () => {
    const answer = await server.admin.get('/tenants/acme/bundle');
    expect(answer.status).toBe(200);
    const keys = await server.admin.get('/tenants/acme/bundle/keys');
    expect(keys.status).toBe(200);
    const jwks = keys.body as JSONWebKeySet & { thumbprints: string[] };
    // The operator pins these (RFC 7638 SHA-256 thumbprints); the bundle verifies with them only.
    expect(jwks.thumbprints).toEqual(await Promise.all(jwks.keys.map((key) => calculateJwkThumbprint(key, 'sha256'))));
    const bundle = await verifyBundle(answer.body.bundle, { issuer: `${server.url}/tenants/acme`, tenant: 'acme', keys: jwks, thumbprints: jwks.thumbprints });
    expect(bundle).toMatchObject({ tenant: 'acme', version: 1 });
    expect(bundle.entities.map((e) => e.uid.id).sort()).toEqual(['ann', 'bob']);
    expect(bundle.revocations).toEqual([expect.objectContaining({ kind: 'subject', subject: 'mallory' })]);

    const local = await createLocalDecider({ engine: sharedCedarEngine(), content: bundle.content, entities: bundle.entities, settings: bundle.settings });
    for (const [subject, action] of [['ann', 'read'], ['bob', 'read'], ['ann', 'write']] as const) {
      const request = { subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: 'd' } };
      const remote = await server.admin.post('/tenants/acme/access/v1/evaluation', request);
      expect((await local.evaluate(parseEvaluationRequest(request))).decision === 'allow').toBe(remote.body.decision);
    }
  });

  it('are refused to callers without a decide credential, and do not verify when altered', async () => {
    expect((await createClient(server.url, null).get('/tenants/acme/bundle')).status).toBe(401);
    const token = (await server.admin.get('/tenants/acme/bundle')).body.bundle as string;
    const jwks = (await server.admin.get('/tenants/acme/bundle/keys')).body as JSONWebKeySet;
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p as string, 'base64url').toString());
    // The bundle travels as JSON text in its claim.
    const inner = JSON.parse(payload.bundle);
    inner.content.policies.backdoor = 'permit(principal, action, resource);';
    payload.bundle = JSON.stringify(inner);
    const altered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    await expect(verifyBundle(altered, { issuer: `${server.url}/tenants/acme`, tenant: 'acme', keys: jwks })).rejects.toMatchObject({ code: 'ERR_TOKEN_SIGNATURE' });
  });
});

describe('who may read a bundle (every entity, the policies, identity sources, revocations)', () => {
  async function credential(role: string, tenant: string | null): Promise<string> {
    const answer = await server.admin.post('/admin/v1/credentials', { role, ...(tenant === null ? {} : { tenant }) });
    expect(answer.status).toBe(201);
    return answer.body.token as string;
  }

  it('needs bundle.read for the tenant: a pep-local credential or a tenant author, never a plain pep', async () => {
    await server.admin.post('/admin/v1/tenants', { id: 'globex' });
    await server.admin.post('/admin/v1/tenants/globex/policies', { files: { 'p.cedar': POLICY_V1 } });
    const read = async (token: string | null, tenant = 'acme') => (await createClient(server.url, token).get(`/tenants/${tenant}/bundle`)).status;
    const pep = await credential('pep', 'acme');
    // Consistent with the admin API, which refuses a pep entity.read and policy.read.
    expect(await read(pep)).toBe(403);
    expect((await createClient(server.url, pep).get('/admin/v1/tenants/acme/entities')).status).toBe(403);
    expect((await createClient(server.url, pep).get('/tenants/acme/bundle/keys')).status).toBe(403);
    const local = await credential('pep-local', 'acme');
    expect(await read(local)).toBe(200);
    expect((await createClient(server.url, local).get('/tenants/acme/bundle/keys')).status).toBe(200);
    expect(await read(local, 'globex')).toBe(403);
    // A pep-local credential decides too (it is a PEP), but administers nothing.
    expect((await createClient(server.url, local).post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).status).toBe(200);
    expect((await createClient(server.url, local).get('/admin/v1/tenants/acme/entities')).status).toBe(403);
    expect(await read(await credential('policy-author', 'acme'))).toBe(200);
    expect(await read(await credential('policy-author', 'globex'))).toBe(403);
  });

  it('stays closed when decisions are open', async () => {
    const open = await startTestServer({ decisionAuth: 'open' });
    try {
      await open.admin.post('/admin/v1/tenants', { id: 'acme' });
      await open.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY_V1 } });
      const anonymous = createClient(open.url, null);
      expect((await anonymous.post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).status).toBe(200);
      expect(await anonymous.get('/tenants/acme/bundle')).toMatchObject({ status: 401, body: { code: 'ERR_AUTH_MISSING' } });
      expect((await anonymous.get('/tenants/acme/bundle/keys')).status).toBe(401);
      expect((await open.admin.get('/tenants/acme/bundle')).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('are signed with a bundle key of their own (not the rotating token key) and expire after 10 minutes by default', async () => {
    const { bundle } = (await server.admin.get('/tenants/acme/bundle')).body as { bundle: string };
    const { thumbprints } = (await server.admin.get('/tenants/acme/bundle/keys')).body as { thumbprints: string[] };
    const tokenKeys = (await (await fetch(`${server.url}/tenants/acme/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const kid = decodeProtectedHeader(bundle).kid;
    expect(thumbprints).toContain(kid);
    // A bundle key never verifies access tokens, and the token keys never sign bundles.
    expect(tokenKeys.keys.map((key) => key.kid)).not.toContain(kid);
    const { iat, exp } = decodeJwt(bundle);
    expect((exp as number) - (iat as number)).toBe(600);
    const short = await startTestServer({ bundleTtlSec: 60 });
    try {
      await short.admin.post('/admin/v1/tenants', { id: 'acme' });
      await short.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY_V1 } });
      const claims = decodeJwt((await short.admin.get('/tenants/acme/bundle')).body.bundle);
      expect((claims.exp as number) - (claims.iat as number)).toBe(60);
    } finally {
      await short.close();
    }
  });
});

describe('decisions shipped by PEPs, and drift', () => {
  const record = (decisionId: string, overrides: Record<string, unknown> = {}) => ({
    decisionId,
    time: new Date().toISOString(),
    tenant: 'acme',
    requestId: 'req-drift',
    tier: 'orders-service',
    principal: { type: 'User', id: 'ann' },
    action: { type: 'Action', id: 'write' },
    resource: { type: 'Doc', id: 'd' },
    decision: 'deny',
    reasons: [],
    errors: [],
    policyVersion: 1,
    latencyUs: 40,
    ...overrides,
  });

  it('chains a batch delivered twice once, and refuses records of another tenant', async () => {
    const issued = (await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'acme', label: 'orders-service' })).body;
    const pep = createClient(server.url, issued.token);
    const batch = { records: [record('pep-1'), record('pep-2', { requestId: 'req-other' })] };
    expect((await pep.post('/tenants/acme/audit/v1/decisions', batch)).body).toEqual({ accepted: 2 });
    expect((await pep.post('/tenants/acme/audit/v1/decisions', batch)).status).toBe(200);
    const events = (await server.admin.get('/admin/v1/tenants/acme/audit?limit=1000')).body.events as Array<{ decisionId: string }>;
    expect(events.filter((e) => e.decisionId === 'pep-1')).toHaveLength(1);
    expect((await server.admin.get('/admin/v1/tenants/acme/audit/verify')).body.ok).toBe(true);
    expect((await pep.post('/tenants/acme/audit/v1/decisions', { records: [record('pep-3', { tenant: 'globex' })] })).body.code).toBe('ERR_REQUEST_INVALID');
    // What the PEP decided on (for replay) is kept as sent when it is a bounded version-1 input, and hashed with the rest.
    const input = JSON.stringify({ v: 1, context: { mfa: true }, overlays: [], provided: [] });
    expect((await pep.post('/tenants/acme/audit/v1/decisions', { records: [record('pep-4', { input })] })).body).toEqual({ accepted: 1 });
    const kept = (await server.admin.get('/admin/v1/tenants/acme/audit?limit=1000')).body.events.find((e: { decisionId: string }) => e.decisionId === 'pep-4');
    expect(kept.input).toBe(input);
    expect((await server.admin.get('/admin/v1/tenants/acme/audit/verify')).body.ok).toBe(true);
    for (const bad of [42, 'not json', JSON.stringify({ v: 2 }), JSON.stringify({ v: 1, context: 'x'.repeat(20_000) })]) {
      expect((await pep.post('/tenants/acme/audit/v1/decisions', { records: [record('pep-5', { input: bad })] })).body.code).toBe('ERR_REQUEST_INVALID');
    }
  });

  it('flags tiers of one request that enforced different policy versions or decisions', async () => {
    // The gateway asks the PDP on version 2; a service decided locally on a stale version 1.
    await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY_V2 } });
    const gateway = await server.admin.post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'ann' }, action: { name: 'write' }, resource: { type: 'Doc', id: 'd' } }, { 'x-request-id': 'req-drift', 'x-verity-tier': 'gateway' });
    expect(gateway.body).toMatchObject({ decision: true, context: { reason_admin: { policy_version: 2 } } });
    const drift = (await server.admin.get('/admin/v1/tenants/acme/audit/drift?requestId=req-drift')).body.requests;
    expect(drift).toEqual([
      expect.objectContaining({
        requestId: 'req-drift',
        versionDrift: true,
        decisionDrift: true,
        tiers: expect.arrayContaining([expect.objectContaining({ tier: 'gateway', policyVersion: 2, decision: 'allow' }), expect.objectContaining({ tier: 'orders-service', policyVersion: 1, decision: 'deny' })]),
      }),
    ]);
    const scan = (await server.admin.get('/admin/v1/tenants/acme/audit/drift')).body.requests as Array<{ requestId: string }>;
    expect(scan.map((r) => r.requestId)).toEqual(['req-drift']);
  });
});
