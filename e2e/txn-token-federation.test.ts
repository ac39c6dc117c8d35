/**
 * Txn-Tokens across trust domains and at the edge, on a real server with its real workload CA:
 * a tenant that federates with the platform tenant (`federated_tenants`) issues Txn-Tokens to
 * the platform's gateway workload, verified against the platform tenant's bundle and deny list;
 * a tenant that does not, any other trust domain (one another tenant claims included), a forged
 * or deregistered SVID are refused and audited. The gateway endpoint mints the edge's Txn-Token for an allowed request
 * (`X-Verity-Client-Assertion` → `Txn-Token`, `tctx` naming its decision), and a decision whose
 * Txn-Token names another subject than its principal is a deny.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, SignJWT } from 'jose';
import { createTxnTokenRequester } from '@verity/enforce';
import { TOKEN_TYPE_TXN_TOKEN } from '@verity/identity';
import { createCsr, createSvidProof, generateJwtAuthority, generateSvidKey, issueJwtSvid, verifyCsr, type X509Svid } from '@verity/workload';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const PLATFORM_TD = 'platform.verity.internal';
const GATEWAY = `spiffe://${PLATFORM_TD}/gateway`;
const REPORTS = `spiffe://${PLATFORM_TD}/reports`;
const SHOP_TD = 'shop.verity.internal';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const POLICIES = `@id("gateway-txn") permit(principal == Workload::"${GATEWAY}", action == Action::"txn_token", resource == TrustDomain::"${SHOP_TD}");
@id("reports-txn") permit(principal == Workload::"${REPORTS}", action == Action::"txn_token", resource);
@id("routes") permit(principal is User, action == Action::"GET", resource is route) when { context has scopes && context.scopes.contains("orders:read") };
@id("public") permit(principal is User, action == Action::"GET", resource == route::"/public/{id}");
@id("orders") permit(principal is User, action == Action::"read", resource is Order) when { context has txn && context.txn.req_wl == "${GATEWAY}" };`;

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let anonymous: Client;
let pep: Client;
let pepCredential: string;
const svids: Record<string, X509Svid> = {};
const ids: Record<string, string> = {};

/** Register `spiffeId` in the platform tenant and attest it with a join token: its X.509-SVID. */
async function enrol(spiffeId: string): Promise<void> {
  const created = await admin.post('/admin/v1/tenants/platform/workloads', { spiffe_id: spiffeId });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  ids[spiffeId] = created.body.id;
  const minted = await admin.post(`/admin/v1/tenants/platform/workloads/${created.body.id}/join-tokens`, {});
  const { privateKeyPem } = await generateSvidKey();
  const csr = await createCsr(privateKeyPem);
  await verifyCsr(csr);
  const attested = await anonymous.post('/workload/v1/tenants/platform/attest', { attestor: 'join_token', join_token: minted.body.join_token, csr });
  expect(attested.status, JSON.stringify(attested.body)).toBe(200);
  svids[spiffeId] = { spiffeId, certChainPem: attested.body.x509_svid, privateKeyPem, expiresAtMs: Date.parse(attested.body.expires_at), issuedAtMs: Date.now() };
}

/** A JWT-SVID of the platform's CA for `audience`, as the Workload API hands one out. */
async function jwtSvid(spiffeId: string, audience: string): Promise<string> {
  const proof = await createSvidProof({ svid: svids[spiffeId] as X509Svid, audience: `${server.url}/workload/v1/tenants/platform/jwt-svid` });
  const answer = await anonymous.post('/workload/v1/tenants/platform/jwt-svid', { proof, audience: [audience] });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.token;
}

const tokenEndpoint = (tenant: string) => `${server.url}/tenants/${tenant}/oauth2/token`;

async function requestTxnToken(tenant: string, trustDomain: string, assertion: string, subjectToken: string) {
  const response = await fetch(tokenEndpoint(tenant), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: EXCHANGE, requested_token_type: TOKEN_TYPE_TXN_TOKEN, audience: trustDomain, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, client_assertion_type: JWT_BEARER, client_assertion: assertion }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function userToken(sub: string, scope = 'orders:read'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub, scope, iat: now, exp: now + 600, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'RS256', kid: idp.kid }).sign(idp.privateKey);
}

/** The security events of a tenant's audit under one request id. */
async function auditOf(tenant: string, requestId: string): Promise<any[]> {
  return (await admin.get(`/admin/v1/tenants/${tenant}/audit?requestId=${requestId}`)).body.events as any[];
}

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer();
  admin = server.admin;
  anonymous = createClient(server.url, null);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User', context: { scopes: 'scope' } } };
  expect((await admin.post('/admin/v1/tenants', { id: 'platform' })).status).toBe(201);
  const shop = await admin.post('/admin/v1/tenants', { id: 'shop', settings: { federated_tenants: ['platform'], gatewayRoutes: ['/orders/{id}', '/public/{id}'], gatewayAudience: API_AUDIENCE } });
  expect(shop.status, JSON.stringify(shop.body)).toBe(201);
  expect((await admin.post('/admin/v1/tenants', { id: 'loner' })).status).toBe(201);
  for (const tenant of ['shop', 'loner']) {
    expect((await admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await admin.request('PUT', `/admin/v1/tenants/${tenant}/identity-sources/corp`, source)).status).toBe(200);
  }
  pepCredential = (await admin.post('/admin/v1/tenants/shop/credentials', { role: 'pep' })).body.token;
  pep = createClient(server.url, pepCredential);
  await enrol(GATEWAY);
  await enrol(REPORTS);
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('federated_tenants: a tenant trusts another tenant\'s workloads for Txn-Token requests', () => {
  it('validates the setting: distinct tenant ids, at most 32', async () => {
    for (const federated_tenants of ['platform', ['Platform'], ['platform.verity.internal'], ['a', 'a'], Array.from({ length: 33 }, (_, i) => `t${i}`), [42]]) {
      const answer = await admin.request('PATCH', '/admin/v1/tenants/loner', { settings: { federated_tenants } });
      expect(answer.status, JSON.stringify(federated_tenants)).toBe(400);
      expect(answer.body.code).toBe('ERR_TENANT_INVALID');
    }
    expect((await admin.get('/admin/v1/tenants/loner')).body.settings.federated_tenants).toBeUndefined();
  });

  it('issues the platform gateway a Txn-Token of the federating tenant: aud its trust domain, req_wl the gateway', async () => {
    const answer = await requestTxnToken('shop', SHOP_TD, await jwtSvid(GATEWAY, tokenEndpoint('shop')), await userToken('alice'));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const claims = decodeJwt(answer.body.access_token);
    expect(claims).toMatchObject({ aud: SHOP_TD, sub: 'alice', req_wl: GATEWAY, scope: 'orders:read' });
  });

  it('refuses the same workload at a tenant that does not federate, and audits why', async () => {
    const requestId = `loner-${Date.now()}`;
    const response = await fetch(tokenEndpoint('loner'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': requestId },
      body: new URLSearchParams({ grant_type: EXCHANGE, requested_token_type: TOKEN_TYPE_TXN_TOKEN, audience: 'loner.verity.internal', subject_token: await userToken('alice'), subject_token_type: ACCESS_TOKEN, client_assertion_type: JWT_BEARER, client_assertion: await jwtSvid(GATEWAY, tokenEndpoint('loner')) }).toString(),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as Record<string, unknown>).error).toBe('invalid_client');
    const events = await auditOf('loner', requestId);
    expect(events.map((event) => event.errors.map((error: { message: string }) => error.message)).flat()).toContain('ERR_SVID_UNTRUSTED');
  });

  it('refuses a trust domain no federated tenant has, and an SVID of the platform\'s domain signed by another key', async () => {
    const outsider = await generateJwtAuthority();
    for (const spiffeId of ['spiffe://ghost.example/gateway', GATEWAY]) {
      const forged = (await issueJwtSvid({ authority: outsider, spiffeId, audience: [tokenEndpoint('shop')], ttlSec: 300 })).token;
      const answer = await requestTxnToken('shop', SHOP_TD, forged, await userToken('alice'));
      expect(answer.status, spiffeId).toBe(401);
      expect(answer.body.error).toBe('invalid_client');
    }
  });

  it('refuses a deregistered platform workload at the federating tenant at once', async () => {
    const assertion = await jwtSvid(REPORTS, tokenEndpoint('shop'));
    expect((await requestTxnToken('shop', SHOP_TD, assertion, await userToken('alice'))).status).toBe(200);
    expect((await admin.request('DELETE', `/admin/v1/tenants/platform/workloads/${ids[REPORTS]}`)).status).toBe(200);
    const answer = await requestTxnToken('shop', SHOP_TD, assertion, await userToken('alice'));
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });
});

describe('federation follows the tenant, never a name another tenant can claim', () => {
  it('a name the platform held and gave up is not trusted once another tenant claims it; the platform is, under its current name', async () => {
    // A tenant that is not federated claims a name first: its workload is refused at shop.
    expect((await admin.post('/admin/v1/tenants', { id: 'squatter', settings: { trust_domain: 'platform-next.example' } })).status).toBe(201);
    const created = await admin.post('/admin/v1/tenants/squatter/workloads', { spiffe_id: 'spiffe://platform-next.example/gateway' });
    expect(created.status).toBe(201);
    const authority = await generateJwtAuthority();
    const outsider = (await issueJwtSvid({ authority, spiffeId: 'spiffe://platform-next.example/gateway', audience: [tokenEndpoint('shop')], ttlSec: 300 })).token;
    expect((await requestTxnToken('shop', SHOP_TD, outsider, await userToken('alice'))).status).toBe(401);

    // The platform takes a name of its own for a while; no other tenant may take its default name meanwhile.
    expect((await admin.request('PATCH', '/admin/v1/tenants/platform', { settings: { trust_domain: 'platform.example' } })).status).toBe(200);
    expect((await admin.request('PATCH', '/admin/v1/tenants/squatter', { settings: { trust_domain: PLATFORM_TD } })).status).toBe(400);
    // The squatter takes the platform's new name once the platform gives it up: shop does not follow the name.
    expect((await admin.request('PATCH', '/admin/v1/tenants/platform', { settings: { trust_domain: null } })).status).toBe(200);
    expect((await admin.request('PATCH', '/admin/v1/tenants/squatter', { settings: { trust_domain: 'platform.example' } })).status).toBe(200);
    const squatted = await admin.post('/admin/v1/tenants/squatter/workloads', { spiffe_id: 'spiffe://platform.example/gateway' });
    expect(squatted.status).toBe(201);
    const minted = await admin.post(`/admin/v1/tenants/squatter/workloads/${squatted.body.id}/join-tokens`, {});
    const { privateKeyPem } = await generateSvidKey();
    const attested = await anonymous.post('/workload/v1/tenants/squatter/attest', { attestor: 'join_token', join_token: minted.body.join_token, csr: await createCsr(privateKeyPem) });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
    const svid: X509Svid = { spiffeId: 'spiffe://platform.example/gateway', certChainPem: attested.body.x509_svid, privateKeyPem, expiresAtMs: Date.parse(attested.body.expires_at), issuedAtMs: Date.now() };
    const proof = await createSvidProof({ svid, audience: `${server.url}/workload/v1/tenants/squatter/jwt-svid` });
    const jwt = await anonymous.post('/workload/v1/tenants/squatter/jwt-svid', { proof, audience: [tokenEndpoint('shop')] });
    expect(jwt.status).toBe(200);
    const refused = await requestTxnToken('shop', SHOP_TD, jwt.body.token, await userToken('alice'));
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    // The platform is back on its default name, and its gateway is trusted again.
    expect((await requestTxnToken('shop', SHOP_TD, await jwtSvid(GATEWAY, tokenEndpoint('shop')), await userToken('alice'))).status).toBe(200);
  });
});

describe('the SDK\'s Txn-Token requester (createTxnTokenRequester)', () => {
  it('asks with the workload\'s JWT-SVID: a Txn-Token with the edge\'s details, and a replacement keeps its txn', async () => {
    const requester = createTxnTokenRequester({ url: server.url, tenant: 'shop', trustDomain: SHOP_TD, tier: 'edge', jwtSvid: (audience) => jwtSvid(GATEWAY, audience) });
    expect(requester.endpoint).toBe(tokenEndpoint('shop'));
    const first = await requester.request(await userToken('alice'), { details: { decision_id: 'd-1', policy_version: 1 }, context: { req_ip: '203.0.113.9' }, requestId: 'sdk-txn-1' });
    const claims = decodeJwt(first);
    expect(claims).toMatchObject({ aud: SHOP_TD, sub: 'alice', req_wl: GATEWAY, tctx: { decision_id: 'd-1', policy_version: 1 }, rctx: { req_ip: '203.0.113.9' } });
    expect((await auditOf('shop', 'sdk-txn-1')).map((record) => [record.action.id, record.tier, record.txn])).toEqual([['txn_token', 'edge', claims.txn]]);
    const replaced = decodeJwt(await requester.request(first, { replace: true, scope: 'orders:read' }));
    expect(replaced).toMatchObject({ txn: claims.txn, sub: 'alice', aud: SHOP_TD, tctx: claims.tctx });
    await expect(requester.request(await userToken('alice'), { scope: 'orders:write' })).rejects.toMatchObject({ code: 'ERR_STS_INVALID_SCOPE', status: 400 });
    const stranger = createTxnTokenRequester({ url: server.url, tenant: 'loner', trustDomain: 'loner.verity.internal', jwtSvid: (audience) => jwtSvid(GATEWAY, audience) });
    await expect(stranger.request(await userToken('alice'))).rejects.toMatchObject({ code: 'ERR_STS_INVALID_CLIENT', status: 401 });
  });
});

describe('the gateway endpoint mints the edge\'s Txn-Token', () => {
  const gatewayCall = async (headers: Record<string, string>, uri = '/orders/o-1') => {
    const requestId = `edge-${crypto.randomUUID()}`;
    const response = await fetch(`${server.url}/tenants/shop/gateway/v1/nginx`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': uri, 'x-request-id': requestId, 'x-verity-credential': `Bearer ${pepCredential}`, ...headers },
    });
    return { response, requestId };
  };

  it('answers an allowed request with a Txn-Token whose tctx names the gateway\'s decision and policy version', async () => {
    const alice = await userToken('alice');
    const { response, requestId } = await gatewayCall({ authorization: `Bearer ${alice}`, 'x-verity-client-assertion': await jwtSvid(GATEWAY, tokenEndpoint('shop')) });
    expect(response.status).toBe(200);
    const txnToken = response.headers.get('txn-token') as string;
    const claims = decodeJwt(txnToken);
    expect(claims).toMatchObject({ aud: SHOP_TD, sub: 'alice', req_wl: GATEWAY, tctx: { decision_id: response.headers.get('x-verity-decision-id'), policy_version: Number(response.headers.get('x-verity-policy-version')) } });
    // Two records under the request id: the gateway's allow, and the token service's issuance (its Cedar decision).
    const records = await auditOf('shop', requestId);
    expect(records.map((record) => [record.tier, record.action.id, record.decision]).sort()).toEqual([['gateway', 'GET', 'allow'], ['sts', 'txn_token', 'allow']]);
    // The issuance is audited under the transaction it opened.
    expect(records.find((record) => record.tier === 'sts').txn).toBe(claims.txn);

    // The next tier's decision with that Txn-Token names its txn; with another user's token it is a deny.
    const decide = (token: string) =>
      pep.post('/tenants/shop/access/v1/evaluation', { token, audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Order', id: 'o-1' }, context: {}, options: { verity_txn_token: txnToken } });
    const allowed = await decide(alice);
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect(allowed.body.decision).toBe(true);
    const mixed = await decide(await userToken('bob'));
    expect(mixed.status).toBe(200);
    expect(mixed.body.decision).toBe(false);
    const mixedRecord = (await admin.get(`/admin/v1/tenants/shop/audit?txn=${claims.txn as string}`)).body.events.find((event: any) => event.decision === 'deny');
    expect(mixedRecord.errors).toEqual([{ policyId: 'verity:txn', message: expect.stringContaining('another subject') }]);
  });

  it('gives no Txn-Token without an assertion, none on a deny, and fails closed (403, audited) on a refused assertion', async () => {
    const plain = await gatewayCall({ authorization: `Bearer ${await userToken('alice')}` });
    expect(plain.response.status).toBe(200);
    expect(plain.response.headers.get('txn-token')).toBeNull();

    const denied = await gatewayCall({ authorization: `Bearer ${await userToken('carol', 'other')}`, 'x-verity-client-assertion': await jwtSvid(GATEWAY, tokenEndpoint('shop')) });
    expect(denied.response.status).toBe(403);
    expect(denied.response.headers.get('txn-token')).toBeNull();

    const wrongAudience = await gatewayCall({ authorization: `Bearer ${await userToken('alice')}`, 'x-verity-client-assertion': await jwtSvid(GATEWAY, 'https://elsewhere.example') });
    expect(wrongAudience.response.status).toBe(403);
    expect(wrongAudience.response.headers.get('txn-token')).toBeNull();
    expect(wrongAudience.response.headers.get('x-verity-error')).toBe('ERR_STS_INVALID_CLIENT');
    const records = await auditOf('shop', wrongAudience.requestId);
    expect(records.map((record) => record.errors.map((error: { message: string }) => error.message)).flat()).toContain('ERR_SVID_INVALID');

    // A token without scope passes the public route, but gets no Txn-Token: 403, and the refusal is in the audit beside the gateway's allow.
    const unscoped = await gatewayCall({ authorization: `Bearer ${await userToken('alice', '')}`, 'x-verity-client-assertion': await jwtSvid(GATEWAY, tokenEndpoint('shop')) }, '/public/p-1');
    expect(unscoped.response.status).toBe(403);
    expect(unscoped.response.headers.get('x-verity-error')).toBe('ERR_STS_INVALID_SCOPE');
    const unscopedRecords = await auditOf('shop', unscoped.requestId);
    expect(unscopedRecords.map((record) => [record.tier, record.decision, record.caller ?? null, record.errors.map((error: { message: string }) => error.message)]).sort()).toEqual([
      ['gateway', 'allow', null, []],
      ['sts', 'deny', GATEWAY, ['ERR_STS_INVALID_SCOPE']],
    ]);
  });
});
