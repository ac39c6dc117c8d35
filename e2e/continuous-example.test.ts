/**
 * examples/continuous on a real PDP (issue 12): the store pushed as it is (policies, schema,
 * entities, verity.json's settings), user tokens from a test issuer, the risk engine setting
 * `context.risk` from the token. The seed's three reasons come back as AuthZEN `reason_user`;
 * a session older than 12 h is answered with the step-up that lifts it (`acr_values` pwd,
 * `max_age` 43200), and the fresh sign-in is allowed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { startTestServer } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const DIR = fileURLToPath(new URL('../examples/continuous', import.meta.url));
const TENANT = 'continuous';
const PWD = 'urn:verity:acr:pwd';
const read = (file: string) => readFileSync(join(DIR, file), 'utf8');

let idp: TestIssuer;
let pdp: Awaited<ReturnType<typeof startTestServer>>;

async function token(sub: string, ageSec: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub, iat: now, exp: now + 600, auth_time: now - ageSec, acr: PWD, amr: ['pwd'] })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

async function evaluate(sub: string, ageSec: number, action: string, resource: { type: string; id: string }) {
  const answer = await pdp.admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: await token(sub, ageSec), audience: API_AUDIENCE, action: { name: action }, resource });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as { decision: boolean; context: Record<string, any> };
}

beforeAll(async () => {
  idp = await startTestIssuer();
  pdp = await startTestServer({ decisionAuth: 'open' });
  const { settings } = JSON.parse(read('verity.json')) as { settings: Record<string, unknown> };
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT, settings })).status).toBe(201);
  const files = Object.fromEntries(readdirSync(DIR).filter((f) => f.endsWith('.cedar')).map((f) => [f, read(f)]));
  const pushed = await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files, schema: read('schema.cedarschema'), validationMode: 'strict' });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/entities`, { entities: JSON.parse(read('entities.json')), mode: 'replace' })).status).toBe(200);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
});

afterAll(async () => {
  await pdp?.close();
  await idp?.close();
});

describe('examples/continuous on the PDP', () => {
  it('allows a viewer of the organisation who signed in an hour ago', async () => {
    const answer = await evaluate('vera', 3600, 'read', { type: 'Document', id: 'plan' });
    expect(answer.decision).toBe(true);
    expect(answer.context.reason_user).toBeUndefined();
  });

  it('says "lacks required role" for a deny no policy determined (the tenant default), with no step-up', async () => {
    const answer = await evaluate('vera', 3600, 'write', { type: 'Document', id: 'plan' });
    expect(answer.decision).toBe(false);
    expect(answer.context.reason_user).toEqual({ en: 'User lacks required role for this resource and action' });
    expect(answer.context.step_up).toBeUndefined();
  });

  it('says "outside user\'s organizational scope" from the scope forbid, with its admin text', async () => {
    const answer = await evaluate('vera', 3600, 'read', { type: 'Document', id: 'rival-plan' });
    expect(answer.decision).toBe(false);
    expect(answer.context.reason_user).toEqual({ en: "Resource is outside user's organizational scope" });
    expect(answer.context.reason_admin).toMatchObject({ determining_policies: ['organisation-scope'], en: expect.stringContaining('organisation-scope') });
    expect(answer.context.step_up).toBeUndefined();
  });

  it('says "context failed validation" for a 13 h old session, asks for a sign-in at most 12 h old, and allows the fresh one', async () => {
    const stale = await evaluate('vera', 13 * 3600, 'read', { type: 'Document', id: 'plan' });
    expect(stale.decision).toBe(false);
    expect(stale.context.reason_user).toEqual({ en: 'Request context failed validation (auth age or location risk)' });
    expect(stale.context.step_up).toEqual({ acr_values: PWD, max_age: 43200 });
    expect((await evaluate('vera', 0, 'read', { type: 'Document', id: 'plan' })).decision).toBe(true);
  });

  it('gives no step-up to a stale session that would still be out of scope', async () => {
    const answer = await evaluate('vera', 13 * 3600, 'read', { type: 'Document', id: 'rival-plan' });
    expect(answer.decision).toBe(false);
    expect(answer.context.step_up).toBeUndefined();
    expect(answer.context.reason_user.en).toContain('Request context failed validation');
    expect(answer.context.reason_user.en).toContain("Resource is outside user's organizational scope");
  });
});
