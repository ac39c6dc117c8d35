/**
 * From an outsider's attack (issue 12): bad input → 4xx with a stable code, never a 5xx. An identity source whose inline JWK is
 * an EC point off its curve is accepted at registration, and every user token then presented for
 * it makes the decision endpoint answer `500 ERR_INTERNAL "token verification failed
 * unexpectedly"` (a risk-engine decision with a user token goes through this path). The
 * registration should be refused (`400 ERR_IDENTITY_SOURCE_INVALID` or the like), or the token
 * refused with a 401 ERR_TOKEN_* code.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'idsrc-badkey';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('refuses an unusable identity-source key at registration, or refuses the token with 4xx', async () => {
  const good = await exportJWK((await generateKeyPair('ES256')).publicKey);
  const registered = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/bad`, { issuer: 'https://bad.example', keys: { kind: 'inline', keys: [{ ...good, x: good.y, kid: 'k', alg: 'ES256' }] }, audiences: ['api'], claims: { principalType: 'User' } });
  if (registered.status === 400) return;
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('https://bad.example').setAudience('api').setIssuedAt().setExpirationTime('5m').sign((await generateKeyPair('ES256')).privateKey);
  const answer = await pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: 'api', action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
  expect(answer.status, JSON.stringify(answer.body)).toBe(401);
  expect(answer.body.code).toMatch(/^ERR_TOKEN_/);
});
