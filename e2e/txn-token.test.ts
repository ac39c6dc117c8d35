/**
 * Transaction Tokens end to end (draft-ietf-oauth-transaction-tokens) on a real server: a
 * workload authenticated by its JWT-SVID trades alice's access token for a narrowed Txn-Token;
 * wider scopes, other clients and unproven workloads are refused; a replacement keeps the
 * transaction; the PDP verifies a forwarded Txn-Token and a Cedar policy reads `context.txn`;
 * forged, expired, foreign and revoked ones are 401; the SDK forwards the Txn-Token header.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { createTokenEndpoint } from '@verity/server';
import { createEnforcer, createRemoteDecisionSource, downstreamHeaders } from '@verity/enforce';
import { withVerity } from '@verity/enforce/node-http';
import { createMemorySigningKeyStore, createSigningKeyRing, issueTxnToken, TOKEN_TYPE_TXN_TOKEN } from '@verity/identity';
import {
  createMtlsAgent,
  createMtlsContext,
  createStaticSvidSource,
  generateCaAuthority,
  generateJwtAuthority,
  generateSvidKey,
  issueJwtSvid,
  issueX509Svid,
  verifyJwtSvid,
  type CaAuthority,
  type JwtAuthority,
  type TrustBundle,
  type X509Svid,
} from '@verity/workload';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { eventually } from './helpers/eventually.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const TD = 'acme.internal';
const GATEWAY = `spiffe://${TD}/gateway`;
const ORDERS = `spiffe://${TD}/orders`;
const BATCH = `spiffe://${TD}/batch`;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const POLICIES = `@id("gateway-txn") permit(principal == Workload::"${GATEWAY}", action == Action::"txn_token", resource == TrustDomain::"${TD}") when { !context.replacement };
@id("orders-replaces") permit(principal == Workload::"${ORDERS}", action == Action::"txn_token", resource == TrustDomain::"${TD}") when { context.replacement };
@id("orders-for-alice") permit(principal == Workload::"${ORDERS}", action == Action::"read", resource is Order)
  when { context has txn && context.txn.sub == "alice" && context.txn.scope.contains("orders:read") && context.txn.req_wl == "${GATEWAY}" };
@id("gateway-calls-orders") permit(principal == Workload::"${GATEWAY}", action == Action::"read", resource is Order)
  when { context has caller && context.caller == "${GATEWAY}" && context has txn && context.txn.sub == "alice" };`;

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;
let base: string;
let authority: JwtAuthority;
let foreign: JwtAuthority;
let clientSecret: string;

/** The tenant's JWT-SVID keys, as the workload CA publishes them in its trust bundle. */
const bundleOf = (keys: JwtAuthority[], trustDomain = TD): TrustBundle => ({ trustDomain, x509Authorities: [], jwtAuthorities: keys.map((key) => key.publicJwk), sequence: 1, refreshHintSec: 300 });

/** A JWT-SVID for the token endpoint, as the Workload API would hand one out. */
const svid = async (spiffeId: string, options: { key?: JwtAuthority; audience?: string; ttlSec?: number; now?: () => number } = {}) =>
  (await issueJwtSvid({ authority: options.key ?? authority, spiffeId, audience: [options.audience ?? `${base}/oauth2/token`], ttlSec: options.ttlSec ?? 300, ...(options.now ? { now: options.now } : {}) })).token;

async function tokenRequest(params: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params).toString() });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** A Txn-Token Request from `workload` (its JWT-SVID as the client assertion). */
async function requestTxnToken(workload: string, subjectToken: string, extra: Record<string, string> = {}, assertion?: string) {
  return tokenRequest({
    grant_type: EXCHANGE,
    requested_token_type: TOKEN_TYPE_TXN_TOKEN,
    audience: TD,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN,
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion ?? (await svid(workload)),
    ...extra,
  });
}

/** A user's access token from the IdP (we hold its key). */
async function userToken(sub: string, scope = 'orders:read orders:write', ttlSec = 600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub, scope, iat: now, exp: now + ttlSec, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'RS256', kid: idp.kid }).sign(idp.privateKey);
}

/** Alice's access token from the IdP. */
const aliceToken = (scope?: string, ttlSec?: number) => userToken('alice', scope, ttlSec);

/** The orders service's decision, as its PEP asks it: its workload as principal, the Txn-Token in options. */
const decide = (txnToken: string | undefined, context: Record<string, unknown> = {}) =>
  pdp.post('/tenants/shop/access/v1/evaluation', {
    subject: { type: 'Workload', id: ORDERS },
    action: { name: 'read' },
    resource: { type: 'Order', id: 'o-1' },
    context: { caller: ORDERS, ...context },
    ...(txnToken === undefined ? {} : { options: { verity_txn_token: txnToken } }),
  });

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  base = `${server.url}/tenants/shop`;
  [authority, foreign] = await Promise.all([generateJwtAuthority(), generateJwtAuthority()]);
  const c = server.components;
  // The lead wires the workload service in here; this test injects a verifier over a bundle it made.
  c.tokenEndpoint = createTokenEndpoint({
    store: c.store,
    tokens: c.tokens,
    identity: c.identity,
    decisions: c.decisions,
    audit: c.audit,
    trustDomainOf: async () => TD,
    verifyWorkloadAssertion: async (_tenant, assertion, audience) => ({ ...(await verifyJwtSvid(assertion, { bundle: bundleOf([authority]), audience })), trustDomain: TD }),
  });
  await server.admin.post('/admin/v1/tenants', { id: 'shop' });
  await server.admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': POLICIES } });
  await server.admin.request('PUT', '/admin/v1/tenants/shop/identity-sources/corp', { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User', context: { scopes: 'scope' } } });
  const client = await server.admin.request('PUT', '/admin/v1/tenants/shop/clients/orders', { principal: { type: 'Client', id: 'orders' }, audiences: ['inventory'], subjectAudiences: [API_AUDIENCE], scopes: ['orders:read'], secret: true });
  clientSecret = client.body.clientSecret;
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('Txn-Token issuance', () => {
  it('gives the gateway a Txn-Token for alice, narrowed, bound to the trust domain, never outliving her token', async () => {
    const subject = await aliceToken('orders:read orders:write', 120);
    const answer = await requestTxnToken(GATEWAY, subject, { scope: 'orders:read', request_details: JSON.stringify({ decision_id: 'dec-gw-1', policy_version: 1 }), request_context: JSON.stringify({ req_ip: '203.0.113.9' }) });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'N_A', issued_token_type: TOKEN_TYPE_TXN_TOKEN, scope: 'orders:read' });
    expect(answer.body).not.toHaveProperty('refresh_token');
    expect(decodeProtectedHeader(answer.body.access_token)).toMatchObject({ typ: 'txntoken+jwt', alg: 'ES256' });
    const claims = decodeJwt(answer.body.access_token);
    expect(claims).toMatchObject({ iss: base, aud: TD, sub: 'alice', scope: 'orders:read', req_wl: GATEWAY, tctx: { decision_id: 'dec-gw-1', policy_version: 1 }, rctx: { req_ip: '203.0.113.9' } });
    expect(claims.txn).toEqual(expect.any(String));
    expect(claims.exp as number).toBeLessThanOrEqual(decodeJwt(subject).exp as number);
  });

  it('refuses a scope wider than alice\'s token, another trust domain, and a workload the policy does not name', async () => {
    const subject = await aliceToken('orders:read');
    expect(await requestTxnToken(GATEWAY, subject, { scope: 'orders:read orders:write' })).toMatchObject({ status: 400, body: { error: 'invalid_scope', code: 'ERR_STS_INVALID_SCOPE' } });
    expect(await requestTxnToken(GATEWAY, subject, { audience: 'other.internal' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    expect(await requestTxnToken(BATCH, subject)).toMatchObject({ status: 400, body: { code: 'ERR_STS_EXCHANGE_DENIED' } });
    expect(await requestTxnToken(GATEWAY, 'not-a-token')).toMatchObject({ status: 400, body: { error: 'invalid_request', code: 'ERR_STS_INVALID_SUBJECT_TOKEN' } });
  });

  it('answers only a workload proven by a JWT-SVID for this endpoint: no assertion, a client secret, a foreign or misaddressed or expired SVID are invalid_client', async () => {
    const subject = await aliceToken('orders:read');
    const params = { grant_type: EXCHANGE, requested_token_type: TOKEN_TYPE_TXN_TOKEN, audience: TD, subject_token: subject, subject_token_type: ACCESS_TOKEN };
    const basic = { authorization: `Basic ${Buffer.from(`orders:${clientSecret}`).toString('base64')}` };
    const refused = [
      await tokenRequest(params),
      await tokenRequest(params, basic),
      await tokenRequest({ ...params, client_assertion_type: JWT_BEARER, client_assertion: await svid(GATEWAY) }, basic),
      await requestTxnToken(GATEWAY, subject, {}, await svid(GATEWAY, { key: foreign })),
      await requestTxnToken(GATEWAY, subject, {}, await svid(GATEWAY, { audience: `${server.url}/tenants/other/oauth2/token` })),
      await requestTxnToken(GATEWAY, subject, {}, await svid(GATEWAY, { ttlSec: 60, now: () => Date.now() - 120_000 })),
      await requestTxnToken(GATEWAY, subject, {}, 'not.a.jwt'),
    ];
    for (const answer of refused) expect(answer).toMatchObject({ status: 401, body: { error: 'invalid_client', code: 'ERR_STS_INVALID_CLIENT' } });
    await eventually(async () => {
      const events = (await server.admin.get('/admin/v1/tenants/shop/audit?limit=1000')).body.events as Array<{ action: { id: string }; errors: Array<{ policyId: string; message: string }> }>;
      const workloadRefusals = events.filter((event) => event.errors.some((error) => error.policyId === 'workload'));
      expect(workloadRefusals.map((event) => event.errors[0]?.message)).toEqual(expect.arrayContaining(['ERR_STS_INVALID_CLIENT', 'ERR_SVID_UNTRUSTED', 'ERR_SVID_EXPIRED']));
    });
  });

  it('replaces a Txn-Token: same txn, sub and aud, narrower scope only, the call chain kept', async () => {
    const first = (await requestTxnToken(GATEWAY, await aliceToken(), { request_details: JSON.stringify({ decision_id: 'dec-gw-2' }) })).body.access_token as string;
    const replace = (extra: Record<string, string>) => requestTxnToken(ORDERS, first, { subject_token_type: TOKEN_TYPE_TXN_TOKEN, ...extra });
    const answer = await replace({ scope: 'orders:read' });
    expect(answer.status).toBe(200);
    const [before, after] = [decodeJwt(first), decodeJwt(answer.body.access_token)];
    expect(after).toMatchObject({ txn: before.txn, sub: before.sub, aud: before.aud, scope: 'orders:read', req_wl: ORDERS, req_wl_chain: [GATEWAY], tctx: { decision_id: 'dec-gw-2' } });
    expect(after.exp as number).toBeLessThanOrEqual(before.exp as number);
    // From the narrowed one, the scope cannot grow back.
    const widened = await requestTxnToken(ORDERS, answer.body.access_token, { subject_token_type: TOKEN_TYPE_TXN_TOKEN, scope: 'orders:read orders:write' });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(await replace({ request_details: JSON.stringify({ decision_id: 'dec-other' }) })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    // A user token declared as a Txn-Token is no Txn-Token.
    expect(await requestTxnToken(ORDERS, await aliceToken(), { subject_token_type: TOKEN_TYPE_TXN_TOKEN })).toMatchObject({ status: 400, body: { code: 'ERR_STS_INVALID_SUBJECT_TOKEN' } });
  });
});

describe('Txn-Tokens at the PDP', () => {
  let txnToken: string;
  beforeAll(async () => {
    txnToken = (await requestTxnToken(GATEWAY, await aliceToken(), { scope: 'orders:read' })).body.access_token;
  });

  it('verifies a forwarded Txn-Token and lets a Cedar policy read context.txn; the audit keeps txn and caller', async () => {
    const allowed = await decide(txnToken);
    expect(allowed).toMatchObject({ status: 200, body: { decision: true } });
    expect((await decide(undefined)).body.decision).toBe(false);
    const txn = decodeJwt(txnToken).txn as string;
    await eventually(async () => {
      const events = (await server.admin.get(`/admin/v1/tenants/shop/audit?txn=${encodeURIComponent(txn)}`)).body.events as Array<Record<string, unknown>>;
      expect(events).toEqual(expect.arrayContaining([expect.objectContaining({ decision: 'allow', txn, caller: ORDERS, actors: [GATEWAY], action: { type: 'Action', id: 'read' } })]));
    });
  });

  it('puts context.txn into every item of a batch', async () => {
    const answer = await pdp.post('/tenants/shop/access/v1/evaluations', {
      subject: { type: 'Workload', id: ORDERS },
      action: { name: 'read' },
      context: { caller: ORDERS },
      options: { verity_txn_token: txnToken },
      evaluations: [{ resource: { type: 'Order', id: 'o-1' } }, { resource: { type: 'Order', id: 'o-2' }, context: { caller: ORDERS, extra: 1 } }],
    });
    expect(answer.body.evaluations).toEqual([{ decision: true }, { decision: true }]);
  });

  it('refuses a request that sets context.txn itself', async () => {
    const forged = { txn: { id: 'x', sub: 'alice', scope: ['orders:read'], req_wl: GATEWAY } };
    expect(await decide(undefined, forged)).toMatchObject({ status: 400, body: { code: 'ERR_DECISION_INVALID_REQUEST' } });
    expect(await decide(txnToken, forged)).toMatchObject({ status: 400, body: { code: 'ERR_DECISION_INVALID_REQUEST' } });
  });

  it('answers a forged, expired, foreign or mistyped Txn-Token with 401 ERR_TXN_TOKEN_INVALID and decides nothing', async () => {
    const ring = server.components.tokens.ring('shop');
    const mint = (overrides: Partial<Parameters<typeof issueTxnToken>[0]>) =>
      issueTxnToken({ keyRing: ring, issuer: base, trustDomain: TD, subject: 'alice', scopes: ['orders:read'], requestingWorkload: GATEWAY, ...overrides }).then((issued) => issued.token);
    const otherRing = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const [, payload, signature] = txnToken.split('.');
    const tampered = `${txnToken.split('.')[0]}.${Buffer.from(JSON.stringify({ ...decodeJwt(txnToken), sub: 'mallory' })).toString('base64url')}.${signature}`;
    const accessToken = await aliceToken();
    const before = (await server.admin.get('/admin/v1/tenants/shop/audit?limit=1000&decision=allow')).body.events.length as number;
    const refused = [
      await mint({ keyRing: otherRing }),
      await mint({ now: () => Date.now() - 3_600_000 }),
      await mint({ trustDomain: 'other.internal' }),
      await mint({ issuer: `${server.url}/tenants/other` }),
      tampered,
      accessToken,
      `${payload}`,
    ];
    for (const token of refused) expect(await decide(token)).toMatchObject({ status: 401, body: { code: 'ERR_TXN_TOKEN_INVALID' } });
    expect(JSON.stringify(await decide(tampered))).not.toContain(signature);
    expect((await server.admin.get('/admin/v1/tenants/shop/audit?limit=1000&decision=allow')).body.events.length).toBe(before);
  });

  it('the SDK forwards the Txn-Token: a workload-principal PEP allows with it, refuses without a caller or with a forged one', async () => {
    const enforcer = createEnforcer({ source: createRemoteDecisionSource({ url: server.url }), tenant: 'shop', tier: 'orders', workloadPrincipal: true, requireTxnToken: true });
    const caller = { spiffeId: ORDERS, authenticated: true, via: 'mtls' as const };
    const input = { caller, txnToken, action: 'read', resource: { type: 'Order', id: 'o-1' } };
    expect(await enforcer.enforce(input)).toMatchObject({ allowed: true, identity: { caller: ORDERS, txn: decodeJwt(txnToken).txn, txnToken } });
    expect(await enforcer.enforce({ ...input, caller: { spiffeId: null, authenticated: false, via: 'none' } })).toMatchObject({ status: 401, decision: { code: 'ERR_ENFORCE_CALLER_UNAUTHENTICATED' } });
    const { txnToken: _dropped, ...withoutTxn } = input;
    expect(await enforcer.enforce(withoutTxn)).toMatchObject({ status: 401, decision: { code: 'ERR_ENFORCE_TXN_TOKEN_MISSING' } });
    expect(await enforcer.enforce({ ...input, txnToken: `${txnToken}x` })).toMatchObject({ status: 401, decision: { code: 'ERR_TXN_TOKEN_INVALID' } });
  });

  it('refuses a Txn-Token whose subject was revoked after it was issued', async () => {
    const carols = (await requestTxnToken(GATEWAY, await userToken('carol'), { scope: 'orders:read' })).body.access_token as string;
    // Decided (carol is not alice: a deny), so the token itself was accepted.
    expect(await decide(carols)).toMatchObject({ status: 200, body: { decision: false } });
    expect((await server.admin.post('/admin/v1/tenants/shop/revocations', { subject: 'carol' })).status).toBe(201);
    await eventually(async () => expect(await decide(carols)).toMatchObject({ status: 401, body: { code: 'ERR_TXN_TOKEN_INVALID' } }));
    expect((await decide(txnToken)).body.decision).toBe(true);
  });
});

describe('Txn-Tokens between workloads over mTLS', () => {
  let ca: CaAuthority;
  let bundle: TrustBundle;
  let url: string;
  let https: Server;
  const svidFor = async (spiffeId: string): Promise<X509Svid> => {
    const { privateKeyPem, publicKeyPem } = await generateSvidKey();
    const issued = await issueX509Svid({ authority: ca, spiffeId, publicKeyPem, ttlSec: 600 });
    return { spiffeId, certChainPem: issued.certChainPem, privateKeyPem, expiresAtMs: issued.expiresAtMs, issuedAtMs: issued.issuedAtMs };
  };

  beforeAll(async () => {
    ca = await generateCaAuthority({ trustDomain: TD });
    bundle = { trustDomain: TD, x509Authorities: [ca.rootPem], jwtAuthorities: [], sequence: 1, refreshHintSec: 300 };
    // The orders service: permissive mTLS (a caller without a certificate gets through TLS), a
    // service-to-service enforcer that wants a Txn-Token, the mTLS helper's peerOf as the peer.
    const mtls = createMtlsContext({ source: createStaticSvidSource({ svid: await svidFor(ORDERS), bundle }), mode: 'permissive' });
    const enforcer = createEnforcer({ source: createRemoteDecisionSource({ url: server.url }), tenant: 'shop', tier: 'orders', workloadPrincipal: true, requireTxnToken: true });
    const handler = withVerity(enforcer, { route: '/orders/:id', action: 'read', resource: (request) => ({ type: 'Order', id: (request.url ?? '').split('/')[2] ?? '' }) }, (request, response) => {
      const next = downstreamHeaders(request.verity);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ caller: request.verity.caller, txn: request.verity.txn, forwards: next['txn-token'] === request.verity.txnToken }));
    }, { peer: mtls.peerOf });
    https = createServer(mtls.serverOptions(), handler);
    mtls.attach(https);
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => (https.closeAllConnections(), https.close(() => resolve()))));

  it('the gateway calls orders with its SVID and the Txn-Token: the PEP decides for Workload::gateway with context.txn, and passes the token on', async () => {
    const bobsTxn = (await requestTxnToken(GATEWAY, await userToken('bob'), { scope: 'orders:read' })).body.access_token as string;
    const aliceTxn = (await requestTxnToken(GATEWAY, await userToken('alice'), { scope: 'orders:read' })).body.access_token as string;
    const gateway = createMtlsAgent({ source: createStaticSvidSource({ svid: await svidFor(GATEWAY), bundle }), expectServerId: ORDERS });
    const call = async (dispatcher: Dispatcher, headers: Record<string, string>) => {
      const response = await undiciFetch(`${url}/orders/o-1`, { dispatcher, headers });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await call(gateway, { 'txn-token': aliceTxn })).toEqual({ status: 200, body: { caller: GATEWAY, txn: decodeJwt(aliceTxn).txn, forwards: true } });
    // Another user's transaction: the policy reads context.txn.sub and denies.
    expect(await call(gateway, { 'txn-token': bobsTxn })).toMatchObject({ status: 403, body: { code: 'ERR_ENFORCE_DENIED' } });
    expect(await call(gateway, {})).toMatchObject({ status: 401, body: { code: 'ERR_ENFORCE_TXN_TOKEN_MISSING' } });
    expect(await call(gateway, { 'txn-token': `${aliceTxn.slice(0, -4)}AAAA` })).toMatchObject({ status: 401, body: { code: 'ERR_TXN_TOKEN_INVALID' } });
    // No client certificate: TLS lets it through (permissive), the enforcer does not.
    const anonymous = new Agent({ connect: { ca: [ca.rootPem], checkServerIdentity: () => undefined } });
    expect(await call(anonymous, { 'txn-token': aliceTxn })).toMatchObject({ status: 401, body: { code: 'ERR_ENFORCE_CALLER_UNAUTHENTICATED' } });
    await Promise.all([gateway.close(), anonymous.close()]);
  });
});
