/**
 * From an outsider's attack (issue 12): "the local-mode PEP decides exactly as the PDP would (same
 * risk)". Two signals only the PDP held let a local-mode PEP ALLOW what the PDP denied:
 *  1. per-subject activity (settings.risk.activity): impossible travel Berlin → Singapore in
 *     seconds — the PDP denies; the local PEP must not allow (it refuses: only the PDP keeps the
 *     subject's history);
 *  2. an SSF assurance-level-change (decrease to aal1, newer than the token's auth_time) — the
 *     PDP replaces the token's acr and denies; the bundle carries the level, so the local PEP
 *     denies too.
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
let assuranceSource: LocalDecisionSource;
const A = 'local-assurance';

function userToken(sub: string, extra: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: `${sub}-${Math.random()}`, auth_time: now - 60, ...extra }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUD).setSubject(sub).setIssuedAt(now).setExpirationTime(now + 300).sign(idpKey);
}
const ask = (token: string, action: string, context: Record<string, unknown>, tenant = T): DecisionRequest => ({ tenant, action, resource: { type: 'Doc', id: 'd1' }, context, requestId: `r-${crypto.randomUUID()}`, tier: 't', audience: AUD, token }) as DecisionRequest;
const remote = (token: string, action: string, context: Record<string, unknown>, tenant = T) => pdp.admin.post(`/tenants/${tenant}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' }, context });
async function localDecision(request: DecisionRequest, from: () => LocalDecisionSource = () => source): Promise<string> {
  try {
    return (await from().decide(request)).decision;
  } catch (error) {
    return (error as { code?: string }).code ?? 'error'; // failing closed is acceptable
  }
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  pdp = await startTestServer();
  const transmitter = await generateKeyPair('ES256', { extractable: true });
  tx = transmitter.privateKey;
  const idSource = { issuer: ISSUER, keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, audiences: [AUD], claims: { principalType: 'User' } };
  // T measures per-subject activity; A (assurance) does not, so its requests are decided locally.
  for (const [tenant, risk] of [[T, { enabled: true, locations: LOCATIONS, activity: {} }], [A, { enabled: true, locations: LOCATIONS }]] as const) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: tenant, settings: { risk } })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${tenant}/identity-sources/corp`, idSource)).status).toBe(200);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${tenant}/ssf/transmitters/tx`, { issuer: TX, jwks: { keys: [{ ...(await exportJWK(transmitter.publicKey)), kid: 'tx1', alg: 'ES256' }] } })).status).toBe(201);
  }
  const localSource = async (tenant: string) => {
    const pinned = (await pdp.admin.get(`/tenants/${tenant}/bundle/keys`)).body.thumbprints;
    const pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant })).body.token;
    const created = createLocalDecisionSource({ url: pdp.url, tenant, credential: pepLocal, bundleKeyThumbprints: pinned });
    await created.ready;
    return created;
  };
  source = await localSource(T);
  assuranceSource = await localSource(A);
}, 60_000);

afterAll(async () => {
  await source?.close();
  await assuranceSource?.close();
  await pdp?.close();
});

/** Ask `check` again (every 25 ms, at most 400 times) until it holds. */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  for (let tries = 0; tries < 400; tries++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

it('impossible travel: the local PEP does not allow what the PDP denies', async () => {
  const berlin = await remote(await userToken('bob'), 'read', { client_ip: '198.51.100.1' });
  expect(berlin.body.decision).toBe(true);
  const local = await localDecision(ask(await userToken('bob'), 'read', { client_ip: '192.0.2.1' }));
  const pdpAnswer = await remote(await userToken('bob'), 'read', { client_ip: '192.0.2.1' });
  expect(pdpAnswer.body.decision, 'the PDP denies Berlin → Singapore in a second').toBe(false);
  // Only the PDP keeps the subject's history: the local PEP refuses to decide (fails closed).
  expect(local, 'the local PEP for the same request').toBe('ERR_ENFORCE_LOCAL_UNSUPPORTED');
  expect(await localDecision(ask(await userToken('bob'), 'read', {})), 'nor any request of that tenant').toBe('ERR_ENFORCE_LOCAL_UNSUPPORTED');
});

it('an SSF assurance-level decrease: the local PEP does not allow what the PDP denies', async () => {
  const now = Math.floor(Date.now() / 1000);
  const set = await new SignJWT({ iss: TX, aud: `${pdp.url}/ssf/v1/tenants/${A}`, iat: now, jti: crypto.randomUUID(), sub_id: { format: 'opaque', id: 'dave' }, events: { [`${CAEP}assurance-level-change`]: { namespace: 'NIST-AAL', current_level: 'aal1', change_direction: 'decrease', event_timestamp: now } } })
    .setProtectedHeader({ alg: 'ES256', kid: 'tx1', typ: 'secevent+jwt' })
    .sign(tx);
  const token = await userToken('dave', { acr: 'aal2', auth_time: now - 120 });
  expect(await localDecision(ask(token, 'approve', {}, A), () => assuranceSource), 'before the event: aal2 counts').toBe('allow');
  const pushed = await fetch(`${pdp.url}/ssf/v1/tenants/${A}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
  expect(pushed.status).toBe(202);
  const pdpAnswer = await remote(token, 'approve', {}, A);
  expect(pdpAnswer.body.decision, 'the PDP weighs the later aal1').toBe(false);
  // The change stream's `assurance` reloads the bundle, which carries the level: the same deny.
  expect(await until(async () => (await localDecision(ask(token, 'approve', {}, A), () => assuranceSource)) === 'deny'), 'the local PEP for the same request').toBe(true);
});
