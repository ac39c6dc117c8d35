/**
 * Attack: "the local-mode PEP decides exactly as the PDP would (same risk)". Two server-side
 * signals the PDP weighs are not weighed by a local-mode PEP, which then ALLOWS what the PDP denies:
 *  1. per-subject activity (settings.risk.activity): impossible travel Berlin → Singapore in
 *     seconds — the PDP denies (forbid on impossible_travel), the local PEP allows (and even
 *     hands out a cacheUntil hours ahead where the PDP says the decision is not reusable);
 *  2. an SSF assurance-level-change (decrease to aal1, newer than the token's auth_time) — the
 *     PDP replaces the token's acr and denies; the local PEP keeps the token's aal2 and allows.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLocalDecisionSource, type DecisionRequest, type LocalDecisionSource } from '@verity/enforce';
import { startTestServer } from './helpers/verity.js';

const T = 'local-signals';
const ISSUER = 'http://127.0.0.1/atk-issuer';
const AUD = 'api';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const TX = 'https://tx.example.com';
const POLICIES = `@id("read") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("travel") forbid(principal, action, resource) when { context.risk.factors.contains("impossible_travel") };
@id("aal2") permit(principal, action == Action::"approve", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "aal2" };`;
const LOCATIONS = [{ cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE' }, { cidr: '192.0.2.0/24', lat: 1.35, lon: 103.8, country: 'SG' }];
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idpKey: CryptoKey;
let tx: CryptoKey;
let source: LocalDecisionSource;

function userToken(sub: string, extra: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: `${sub}-${Math.random()}`, auth_time: now - 60, ...extra }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject(sub).setIssuedAt(now).setExpirationTime(now + 300).sign(idpKey);
}
const ask = (token: string, action: string, context: Record<string, unknown>): DecisionRequest => ({ tenant: T, action, resource: { type: 'Doc', id: 'd1' }, context, requestId: `r-${crypto.randomUUID()}`, tier: 't', audience: AUD, token }) as DecisionRequest;
const remote = (token: string, action: string, context: Record<string, unknown>) => pdp.admin.post(`/tenants/${T}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' }, context });
async function localDecision(request: DecisionRequest): Promise<string> {
  try {
    return (await source.decide(request)).decision;
  } catch {
    return 'error'; // failing closed is acceptable
  }
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  pdp = await startTestServer();
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true, locations: LOCATIONS, activity: {} } } })).status).toBe(201);
  expect((await pdp.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const idSource = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/identity-sources/corp`, idSource)).status).toBe(200);
  const transmitter = await generateKeyPair('ES256', { extractable: true });
  tx = transmitter.privateKey;
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/ssf/transmitters/tx`, { issuer: TX, jwks: { keys: [{ ...(await exportJWK(transmitter.publicKey)), kid: 'tx1', alg: 'ES256' }] } })).status).toBe(201);
  const pinned = (await pdp.admin.get(`/tenants/${T}/bundle/keys`)).body.thumbprints;
  const pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: T })).body.token;
  source = createLocalDecisionSource({ url: pdp.url, tenant: T, credential: pepLocal, bundleKeyThumbprints: pinned });
  await source.ready;
}, 60_000);

afterAll(async () => {
  await source?.close();
  await pdp?.close();
});

it('impossible travel: the local PEP does not allow what the PDP denies', async () => {
  const berlin = await remote(await userToken('bob'), 'read', { client_ip: '198.51.100.1' });
  expect(berlin.body.decision).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 600)); // the activity is merged into the store
  const local = await localDecision(ask(await userToken('bob'), 'read', { client_ip: '192.0.2.1' }));
  const pdpAnswer = await remote(await userToken('bob'), 'read', { client_ip: '192.0.2.1' });
  expect(pdpAnswer.body.decision, 'the PDP denies Berlin → Singapore in a second').toBe(false);
  expect(local, 'the local PEP for the same request').not.toBe('allow');
});

it('an SSF assurance-level decrease: the local PEP does not allow what the PDP denies', async () => {
  const now = Math.floor(Date.now() / 1000);
  const set = await new SignJWT({ iss: TX, aud: `${pdp.url}/ssf/v1/tenants/${T}`, iat: now, jti: crypto.randomUUID(), sub_id: { format: 'opaque', id: 'dave' }, events: { [`${CAEP}assurance-level-change`]: { namespace: 'NIST-AAL', current_level: 'aal1', change_direction: 'decrease', event_timestamp: now } } })
    .setProtectedHeader({ alg: 'ES256', kid: 'tx1', typ: 'secevent+jwt' })
    .sign(tx);
  const pushed = await fetch(`${pdp.url}/ssf/v1/tenants/${T}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
  expect(pushed.status).toBe(202);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the change stream's `assurance` reaches the PEP
  const token = await userToken('dave', { acr: 'aal2', auth_time: now - 120 });
  const pdpAnswer = await remote(token, 'approve', {});
  expect(pdpAnswer.body.decision, 'the PDP weighs the later aal1').toBe(false);
  expect(await localDecision(ask(token, 'approve', {})), 'the local PEP for the same request').not.toBe('allow');
});
