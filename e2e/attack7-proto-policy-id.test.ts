/**
 * attack7: a policy whose id (`@id("__proto__")`) is the one key a plain-object assignment
 * (`policies[id] = text`) turns into a prototype write. The id matches the documented pattern
 * and Cedar takes it as any other id; a forbid with that id must still forbid. Also stored
 * entities whose attrs/tags hold a `__proto__` key (admin entities API, Cedar-native
 * request entities) must be decided as cedar-wasm decides them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { startTestServer } from './helpers/verity.js';

let pdp: Awaited<ReturnType<typeof startTestServer>>;
const T = 'a7-proto-id';

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function decide(tenant: string, body: unknown) {
  const res = await pdp.admin.post(`/tenants/${tenant}/access/v1/evaluation`, body);
  return res.status === 200 ? res.body.decision : `${res.status} ${res.body?.code}`;
}

it('a forbid whose @id is "__proto__" is pushed, listed and enforced', async () => {
  const text = '@id("allow") permit(principal, action, resource);\n@id("__proto__") forbid(principal, action, resource);';
  const cedarAnswer = cedar.isAuthorized({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {}, policies: { staticPolicies: { allow: 'permit(principal, action, resource);', __proto__: null, ...JSON.parse('{"__proto__":"forbid(principal, action, resource);"}') } }, entities: [] } as never) as any;
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': text } });
  // Either refused as an id, or kept and enforced: never silently dropped.
  if (pushed.status !== 201) {
    expect([400, 422]).toContain(pushed.status);
    return;
  }
  const got = await decide(T, { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  expect({ got, cedar: cedarAnswer.type === 'success' ? cedarAnswer.response.decision : cedarAnswer }).toEqual({ got: false, cedar: 'deny' });
});

it('a template whose id is "__proto__" is not silently dropped', async () => {
  const text = '@id("__proto__") forbid(principal == ?principal, action, resource);\n@id("allow") permit(principal, action, resource);';
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': text }, links: [{ id: 'l1', templateId: '__proto__', values: { '?principal': { type: 'User', id: 'u' } } }] });
  if (pushed.status !== 201) {
    expect([400, 422]).toContain(pushed.status);
    // A refusal must name the id, not claim the template it was given is missing.
    expect(JSON.stringify(pushed.body)).not.toMatch(/failed to find a template|unknown template|not found/i);
    return;
  }
  expect(await decide(T, { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).toBe(false);
});

it('a template link whose id is "__proto__" is enforced', async () => {
  const text = '@id("tpl") forbid(principal == ?principal, action, resource);\n@id("allow") permit(principal, action, resource);';
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': text }, links: [{ id: '__proto__', templateId: 'tpl', values: { '?principal': { type: 'User', id: 'u' } } }] });
  if (pushed.status !== 201) {
    expect([400, 422]).toContain(pushed.status);
    // Nothing else is called "__proto__": a refusal must not say the id is taken.
    expect(JSON.stringify(pushed.body)).not.toMatch(/already used/i);
    return;
  }
  expect(await decide(T, { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).toBe(false);
});

