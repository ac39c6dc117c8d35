/**
 * AuthZEN behaviour beyond the interop data: batch semantics and defaults, transitive search,
 * request ids, and the spec's status codes for bad requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

// Dana is in "leads", "leads" is in "staff": only staff may read, nobody may delete.
const POLICIES = `@id("staff-read") permit(principal in Group::"staff", action == Action::"read", resource);`;
const ENTITIES = [
  { uid: { type: 'User', id: 'dana' }, attrs: {}, parents: [{ type: 'Group', id: 'leads' }] },
  { uid: { type: 'Group', id: 'leads' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'User', id: 'eve' }, attrs: {}, parents: [] },
  { uid: { type: 'User', id: 'fay' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
];
const user = (id: string) => ({ type: 'User', id });
const doc = (id: string) => ({ type: 'Doc', id });

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open', defaultTenant: 'docs' });
  pdp = createClient(server.url, null);
  await server.admin.post('/admin/v1/tenants', { id: 'docs' });
  await server.admin.post('/admin/v1/tenants/docs/policies', { files: { 'p.cedar': POLICIES } });
  await server.admin.request('PUT', '/admin/v1/tenants/docs/entities', { entities: ENTITIES });
});

afterAll(async () => {
  await server?.close();
});

describe('evaluations', () => {
  const items = [{ subject: user('dana') }, { subject: user('eve') }, { subject: user('fay') }];
  const batch = (semantic?: string) => ({ action: { name: 'read' }, resource: doc('d'), evaluations: items, ...(semantic ? { options: { evaluations_semantic: semantic } } : {}) });

  it('executes all by default, with top-level defaults', async () => {
    expect((await pdp.post('/access/v1/evaluations', batch())).body.evaluations).toEqual([{ decision: true }, { decision: false }, { decision: true }]);
  });
  it('stops at the first deny or the first permit when asked', async () => {
    expect((await pdp.post('/access/v1/evaluations', batch('deny_on_first_deny'))).body.evaluations).toEqual([{ decision: true }, { decision: false }]);
    expect((await pdp.post('/access/v1/evaluations', batch('permit_on_first_permit'))).body.evaluations).toEqual([{ decision: true }]);
  });
  it('answers missing or empty evaluations as the single Access Evaluation API (§7.1)', async () => {
    for (const evaluations of [undefined, []]) {
      const answer = await pdp.post('/access/v1/evaluations', { subject: user('dana'), action: { name: 'read' }, resource: doc('d'), ...(evaluations ? { evaluations } : {}) });
      expect(answer.body).toMatchObject({ decision: true, context: { reason_admin: { determining_policies: ['staff-read'] } } });
      expect(answer.body.evaluations).toBeUndefined();
    }
  });
  it('answers an invalid item in place and still decides the others; context on request', async () => {
    const answer = await pdp.post('/access/v1/evaluations', { action: { name: 'read' }, resource: doc('d'), evaluations: [{ subject: user('dana') }, { subject: { type: 'User' } }], options: { verity_context: true } });
    expect(answer.status).toBe(200);
    expect(answer.body.evaluations[0]).toMatchObject({ decision: true, context: { id: expect.any(String), reason_admin: { policy_version: 1 } } });
    expect(answer.body.evaluations[1]).toMatchObject({ decision: false, context: { error: { status: 400, code: 'ERR_DECISION_INVALID_REQUEST' } } });
  });
});

describe('search', () => {
  it('finds subjects through nested groups, and only them', async () => {
    const answer = await pdp.post('/access/v1/search/subject', { subject: { type: 'User' }, action: { name: 'read' }, resource: doc('d') });
    expect(answer.body).toEqual({ results: [user('dana'), user('fay')], page: { next_token: '' } });
  });
  it('finds actions from the policies when there is no schema', async () => {
    expect((await pdp.post('/access/v1/search/action', { subject: user('dana'), resource: doc('d') })).body.results).toEqual([{ name: 'read' }]);
  });
});

describe('transport', () => {
  it('serves the default tenant at the root and echoes or makes a request id', async () => {
    const given = await pdp.post('/access/v1/evaluation', { subject: user('fay'), action: { name: 'read' }, resource: doc('d') }, { 'x-request-id': 'abc-123' });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await pdp.post('/access/v1/evaluation', { subject: user('fay'), action: { name: 'read' }, resource: doc('d') });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('ignores unknown fields', async () => {
    const answer = await pdp.post('/access/v1/evaluation', { subject: { ...user('fay'), extra: 1 }, action: { name: 'read', x: [] }, resource: doc('d'), unknown: { a: 1 } });
    expect(answer.body.decision).toBe(true);
  });
  it('answers 400 with a stable code for missing fields, wrong types, non-JSON and empty bodies', async () => {
    const raw = (body: string, contentType = 'application/json') => fetch(`${server.url}/access/v1/evaluation`, { method: 'POST', headers: { 'content-type': contentType }, body });
    for (const [response, code] of [
      [await raw('{"subject":{"type":"User","id":"fay"},"action":{"name":"read"}}'), 'ERR_DECISION_INVALID_REQUEST'],
      [await raw('{"subject":{"type":"User","id":7},"action":{"name":"read"},"resource":{"type":"Doc","id":"d"}}'), 'ERR_DECISION_INVALID_REQUEST'],
      [await raw('subject=fay', 'application/x-www-form-urlencoded'), 'ERR_REQUEST_CONTENT_TYPE'],
      [await raw('{"subject":'), 'ERR_REQUEST_MALFORMED_JSON'],
      [await raw(''), 'ERR_REQUEST_MALFORMED_JSON'],
    ] as const) {
      expect(response.status).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe(code);
    }
  });
});
