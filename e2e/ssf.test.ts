/**
 * Shared Signals (issue 12): a transmitter registered with a key pair made here pushes signed
 * CAEP SETs (RFC 8417) over HTTP (RFC 8935) to a real server. session-revoked ends the user's
 * tokens (on every replica and PEP: the `revocation` change), device-compliance-change turns the
 * device's next decision into device_noncompliant, assurance-level-change is held per subject;
 * every refusal answers RFC 8935's {err} and is audited. And Verity as a transmitter: a real
 * receiver gets the SET of a revocation and verifies it with the tenant's published JWKS.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { createChangeFollower, type Change } from '@verity/enforce';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { auditRecordOf } from './helpers/audit-record.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const TENANT = 'signals';
const POLICIES = `@id("low-risk") permit(principal is User, action == Action::"read", resource) when { context.risk.level == "low" };
@id("aal2-approve") permit(principal is User, action == Action::"approve", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "aal2" };`;
const GOOD = { patch_level: new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), disk_encryption: true, screen_lock: true, compliant: true };
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const TRANSMITTER_ISS = 'https://signals.example.com';

let idp: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let transmitterKey: CryptoKey;
let audience: string;

/** A user's access token from the test IdP, naming `deviceId`. */
async function token(sub: string, deviceId = 'laptop-1', login: { acr?: string; authAgeSec?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub, iat: now - 1, exp: now + 600, auth_time: now - (login.authAgeSec ?? 60), device_id: deviceId, ...(login.acr === undefined ? {} : { acr: login.acr }) })
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
    .sign(idp.privateKey);
}

async function decide(sub: string, deviceId?: string) {
  const requestId = `ssf-${crypto.randomUUID()}`;
  const answer = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: await token(sub, deviceId), audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' } }, { 'x-request-id': requestId });
  return { status: answer.status, body: answer.body, requestId };
}


/** A SET signed by the registered transmitter (or `key`), with `header`/`claims` overrides. */
function set(events: Record<string, unknown>, subId: unknown, options: { claims?: Record<string, unknown>; header?: Record<string, unknown>; key?: CryptoKey } = {}): Promise<string> {
  return new SignJWT({ iss: TRANSMITTER_ISS, aud: audience, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(), sub_id: subId, events, ...options.claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'signals-1', typ: 'secevent+jwt', ...options.header } as { alg: string })
    .sign(options.key ?? transmitterKey);
}

/** RFC 8935 push over HTTP: the SET as the body. */
async function push(body: string, contentType = 'application/secevent+jwt') {
  const response = await fetch(`${server.url}/ssf/v1/tenants/${TENANT}/events`, { method: 'POST', headers: { 'content-type': contentType, accept: 'application/json' }, body });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
}

const revoked = () => ({ [`${CAEP}session-revoked`]: { event_timestamp: Math.floor(Date.now() / 1000) - 1 } });

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ decisionAuth: 'open' });
  admin = server.admin;
  audience = `${server.url}/ssf/v1/tenants/${TENANT}`;
  expect((await admin.post('/admin/v1/tenants', { id: TENANT, settings: { risk: { enabled: true, devices: {} } } })).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const source = { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User' } };
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/identity-sources/corp`, source)).status).toBe(200);
  expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/devices/laptop-1`)).status).toBe(201);
  expect((await admin.post(`/admin/v1/tenants/${TENANT}/devices/laptop-1/posture`, GOOD)).status).toBe(200);
  const pair = await generateKeyPair('ES256');
  transmitterKey = pair.privateKey;
  const registered = await admin.request('PUT', `/admin/v1/tenants/${TENANT}/ssf/transmitters/signals`, { issuer: TRANSMITTER_ISS, jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'signals-1', alg: 'ES256' }] } });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  expect(registered.body).toMatchObject({ id: 'signals', issuer: TRANSMITTER_ISS, audience });
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('SSF receiver', () => {
  it('registers, lists and removes transmitters; refuses private keys, HMAC keys, a taken issuer, outsiders', async () => {
    const path = (id = '') => `/admin/v1/tenants/${TENANT}/ssf/transmitters${id}`;
    const publicJwk = { ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: 'x' };
    const privateJwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    expect((await admin.request('PUT', path('/other'), { issuer: 'https://other.example.com', jwks: { keys: [publicJwk] }, audience: 'urn:verity' })).status).toBe(201);
    expect((await admin.request('PUT', path('/other'), { issuer: 'https://other.example.com', jwks: { keys: [publicJwk] } })).status).toBe(200);
    expect((await admin.get(path())).body.transmitters.map((t: { id: string }) => t.id)).toEqual(['other', 'signals']);
    for (const [id, body] of [
      ['/bad', { issuer: 'https://x.example.com', jwks: { keys: [privateJwk] } }],
      ['/bad', { issuer: 'https://x.example.com', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }],
      ['/bad', { issuer: TRANSMITTER_ISS, jwks: { keys: [publicJwk] } }],
      ['/bad', { issuer: 'https://x.example.com', jwks: { keys: [publicJwk] }, extra: 1 }],
      ['/bad%20id', { issuer: 'https://x.example.com', jwks: { keys: [publicJwk] } }],
      ['/bad', { issuer: 'https://x.example.com' }],
      ['/bad', { issuer: 'https://x.example.com', jwks: { keys: [publicJwk] }, jwks_uri: 'https://x.example.com/jwks' }],
      ['/bad', { issuer: 'https://x.example.com', jwks_uri: 'ftp://x.example.com/jwks' }],
    ] as const) {
      const answer = await admin.request('PUT', path(id), body);
      expect([answer.status, answer.body.code], JSON.stringify(body)).toEqual([400, 'ERR_SSF_TRANSMITTER_INVALID']);
    }
    expect((await admin.request('DELETE', path('/other'))).status).toBe(204);
    expect((await admin.request('DELETE', path('/other'))).body.code).toBe('ERR_SSF_TRANSMITTER_NOT_FOUND');
    const pep = createClient(server.url, (await admin.post(`/admin/v1/tenants/${TENANT}/credentials`, { role: 'pep' })).body.token as string);
    expect((await pep.request('PUT', path('/mine'), { issuer: 'https://mine.example.com', jwks: { keys: [publicJwk] } })).status).toBe(403);
  });

  it('a signed session-revoked SET ends the user\'s tokens: the same token is refused, and a PEP hears the revocation', async () => {
    const alice = await decide('alice');
    expect(alice.status, JSON.stringify(alice.body)).toBe(200);
    expect(alice.body.decision).toBe(true);
    const changes: Change[] = [];
    const follower = createChangeFollower({ url: server.url, tenant: TENANT, initialBackoffMs: 50, onChange: (change) => changes.push(change) });
    await follower.ready;
    try {
      const sent = await token('alice');
      expect((await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: sent, audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' } })).body.decision).toBe(true);
      const answer = await push(await set(revoked(), { format: 'iss_sub', iss: idp.issuer, sub: 'alice' }));
      expect([answer.status, answer.text]).toEqual([202, '']);
      const after = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: sent, audience: API_AUDIENCE, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' } });
      expect([after.status, after.body.code]).toEqual([401, 'ERR_TOKEN_REVOKED']);
      for (let tries = 0; tries < 50 && !changes.some((change) => change.kind === 'revocation'); tries++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(changes.filter((change) => change.kind === 'revocation')).toEqual([{ tenant: TENANT, kind: 'revocation' }]);
      // Another user is untouched.
      expect((await decide('bob')).body.decision).toBe(true);
    } finally {
      follower.close();
    }
  });

  it('a device-compliance-change (not-compliant) makes the device\'s next decision device_noncompliant; compliant again allows', async () => {
    const device = { device: { format: 'opaque', id: 'laptop-1' } };
    expect((await decide('carol')).body.decision).toBe(true);
    expect((await push(await set({ [`${CAEP}device-compliance-change`]: { current_status: 'not-compliant', previous_status: 'compliant' } }, device))).status).toBe(202);
    const denied = await decide('carol');
    expect(denied.body.decision).toBe(false);
    expect((await auditRecordOf(admin, TENANT, denied.requestId)).risk.factors).toEqual([{ name: 'device_noncompliant', weight: 25, detail: 'mdm_noncompliant' }]);
    // The rest of the posture is kept as last reported.
    const listed = (await admin.get(`/admin/v1/tenants/${TENANT}/devices`)).body.devices.find((d: { id: string }) => d.id === 'laptop-1');
    expect(listed).toMatchObject({ posture: { ...GOOD, compliant: false }, compliant: false, issues: ['mdm_noncompliant'] });
    expect((await push(await set({ [`${CAEP}device-compliance-change`]: { current_status: 'compliant', previous_status: 'not-compliant' } }, device))).status).toBe(202);
    expect((await decide('carol')).body.decision).toBe(true);
  });

  it('an assurance-level-change is held for the subject (mapped like a token of it)', async () => {
    const before = Date.now();
    const event = { [`${CAEP}assurance-level-change`]: { namespace: 'nist-aal', current_level: 'aal1', previous_level: 'aal2', change_direction: 'decrease' } };
    expect((await push(await set(event, { format: 'iss_sub', iss: idp.issuer, sub: 'dave' }))).status).toBe(202);
    const held = server.components.assurance.of(TENANT, 'dave');
    expect(held?.acr).toBe('aal1');
    expect(held?.atMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(server.components.assurance.of(TENANT, 'erin')).toBeUndefined();
    // The decision weighs the lowered level: a token from the login before the event no longer
    // counts as aal2; a login after it does.
    const approve = async (authAgeSec: number) => {
      const answer = await admin.request('POST', `/tenants/${TENANT}/access/v1/evaluation`, { token: await token('dave', 'laptop-1', { acr: 'aal2', authAgeSec }), audience: API_AUDIENCE, action: { name: 'approve' }, resource: { type: 'Doc', id: 'd-1' } });
      expect(answer.status).toBe(200);
      return answer.body.decision as boolean;
    };
    expect(await approve(60)).toBe(false);
    // auth_time is whole seconds: sign in again once a second has begun after the event.
    while (Math.floor(Date.now() / 1000) * 1000 <= (held?.atMs ?? 0)) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await approve(0)).toBe(true);
  });

  it('verifies SETs of a transmitter registered by jwks_uri, fetching its keys (through the guarded fetch)', async () => {
    const pair = await generateKeyPair('ES256');
    let served = 0;
    const jwksServer = createServer((_request, response) => {
      served += 1;
      void exportJWK(pair.publicKey).then((jwk) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...jwk, kid: 'mdm-1', alg: 'ES256' }] })));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUri = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
      const registered = await admin.request('PUT', `/admin/v1/tenants/${TENANT}/ssf/transmitters/mdm`, { issuer: 'https://mdm.example.com', jwks_uri: jwksUri });
      expect([registered.status, registered.body.jwks, registered.body.jwks_uri]).toEqual([201, null, jwksUri]);
      const byMdm = (key: CryptoKey) => set({ [`${CAEP}device-compliance-change`]: { current_status: 'compliant' } }, { device: { format: 'opaque', id: 'laptop-1' } }, { claims: { iss: 'https://mdm.example.com' }, header: { kid: 'mdm-1' }, key });
      expect((await push(await byMdm(pair.privateKey))).status).toBe(202);
      expect(served).toBe(1);
      const forged = await push(await byMdm((await generateKeyPair('ES256')).privateKey));
      expect([forged.status, forged.body.err]).toEqual([400, 'invalid_key']);
    } finally {
      await new Promise((resolve) => jwksServer.close(resolve));
      await admin.request('DELETE', `/admin/v1/tenants/${TENANT}/ssf/transmitters/mdm`);
    }
  });

  it('acknowledges and ignores event types it does not act on (RFC 8935 §2.2)', async () => {
    const answer = await push(await set({ 'https://schemas.openid.net/secevent/caep/event-type/token-claims-change': { claims: { role: 'x' } } }, { format: 'opaque', id: 'frank' }));
    expect([answer.status, answer.text]).toEqual([202, '']);
    expect((await decide('frank')).body.decision).toBe(true);
  });

  it('refuses unsigned, HMAC, wrong-key, wrong-issuer, wrong-audience, wrong-typ, stale and replayed SETs with RFC 8935 errors, each audited', async () => {
    const subject = { format: 'opaque', id: 'gina' };
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${part({ alg: 'none', typ: 'secevent+jwt' })}.${part({ iss: TRANSMITTER_ISS, aud: audience, iat: now, jti: 'u-1', sub_id: subject, events: revoked() })}.`;
    const hmac = await new SignJWT({ iss: TRANSMITTER_ISS, aud: audience, iat: now, jti: 'h-1', sub_id: subject, events: revoked() }).setProtectedHeader({ alg: 'HS256', typ: 'secevent+jwt' }).sign(new Uint8Array(32).fill(1));
    const replayed = await set(revoked(), subject);
    expect((await push(replayed)).status).toBe(202);
    const cases: Array<[string, string | Promise<string>, string, string]> = [
      ['alg none', unsigned, 'invalid_key', 'ERR_SSF_SET_KEY'],
      ['HS256', hmac, 'invalid_key', 'ERR_SSF_SET_KEY'],
      ['wrong key', set(revoked(), subject, { key: (await generateKeyPair('ES256')).privateKey }), 'invalid_key', 'ERR_SSF_SET_KEY'],
      ['wrong iss', set(revoked(), subject, { claims: { iss: 'https://evil.example.com' } }), 'invalid_issuer', 'ERR_SSF_SET_ISSUER'],
      ['wrong aud', set(revoked(), subject, { claims: { aud: `${server.url}/ssf/v1/tenants/other` } }), 'invalid_audience', 'ERR_SSF_SET_AUDIENCE'],
      ['wrong typ', set(revoked(), subject, { header: { typ: 'JWT' } }), 'invalid_request', 'ERR_SSF_SET_INVALID'],
      ['stale iat', set(revoked(), subject, { claims: { iat: now - 7200 } }), 'invalid_request', 'ERR_SSF_SET_INVALID'],
      ['replayed jti', replayed, 'invalid_request', 'ERR_SSF_SET_REPLAYED'],
      ['unmappable subject', set(revoked(), { format: 'phone_number', phone_number: '+15550100' }), 'invalid_request', 'ERR_SSF_SUBJECT_UNSUPPORTED'],
    ];
    for (const [name, body, err, code] of cases) {
      const requestId = `ssf-refused-${crypto.randomUUID()}`;
      const response = await fetch(`${server.url}/ssf/v1/tenants/${TENANT}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', 'x-request-id': requestId }, body: await body });
      expect([response.status, await response.json()], name).toEqual([400, { err, description: expect.any(String), code }]);
      const record = await auditRecordOf(admin, TENANT, requestId);
      expect([record.decision, record.errors], name).toEqual(['deny', [{ policyId: 'ssf', message: code }]]);
    }
    const json = await push(JSON.stringify({ set: replayed }), 'application/json');
    expect([json.status, json.body.err]).toEqual([400, 'invalid_request']);
    const text = await push(replayed, 'text/plain');
    expect([text.status, text.body.err]).toEqual([400, 'invalid_request']);
    const huge = await push('x'.repeat(70 * 1024));
    expect([huge.status, huge.body.code]).toEqual([413, 'ERR_REQUEST_TOO_LARGE']);
    const nowhere = await fetch(`${server.url}/ssf/v1/tenants/no-such-tenant/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: replayed });
    expect([nowhere.status, ((await nowhere.json()) as { code: string }).code]).toEqual([404, 'ERR_TENANT_NOT_FOUND']);
    // Only the first (accepted) SET revoked gina.
    expect((await decide('gina')).status).toBe(401);
  });
});

describe('SSF transmitter', () => {
  let receiver: Server;
  const received: Array<{ contentType: string | undefined; body: string }> = [];
  let answerWith = 202;

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ contentType: request.headers['content-type'], body });
        response.writeHead(answerWith, answerWith === 202 ? {} : { 'content-type': 'application/json' }).end(answerWith === 202 ? '' : JSON.stringify({ err: 'invalid_audience', description: 'no' }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('registers receivers (https, or loopback http in development), lists and removes them', async () => {
    const path = (id = '') => `/admin/v1/tenants/${TENANT}/ssf/receivers${id}`;
    for (const body of [{ endpoint: 'ftp://x.example.com', audience: 'a' }, { endpoint: 'https://x.example.com' }, { endpoint: 'https://u:p@x.example.com', audience: 'a' }, { endpoint: 'https://x.example.com', audience: 'a', extra: 1 }]) {
      const answer = await admin.request('PUT', path('/bad'), body);
      expect([answer.status, answer.body.code], JSON.stringify(body)).toEqual([400, 'ERR_SSF_RECEIVER_INVALID']);
    }
    expect((await admin.request('PUT', path('/spare'), { endpoint: 'https://rp.example.com/ssf', audience: 'https://rp.example.com' })).status).toBe(201);
    expect((await admin.get(path())).body.receivers).toEqual([{ id: 'spare', tenant: TENANT, endpoint: 'https://rp.example.com/ssf', audience: 'https://rp.example.com', updated_at: expect.any(String) }]);
    expect((await admin.request('DELETE', path('/spare'))).status).toBe(204);
    expect((await admin.request('DELETE', path('/spare'))).body.code).toBe('ERR_SSF_RECEIVER_NOT_FOUND');
  });

  it("pushes the tenant's revocation as a SET signed with its token key; the receiver verifies it with the tenant's JWKS", async () => {
    const address = receiver.address() as { port: number };
    const endpoint = `http://127.0.0.1:${address.port}/events`;
    expect((await admin.request('PUT', `/admin/v1/tenants/${TENANT}/ssf/receivers/rp`, { endpoint, audience: 'https://rp.example.com' })).status).toBe(201);
    received.length = 0;
    expect((await admin.post(`/admin/v1/tenants/${TENANT}/revocations`, { subject: 'henry' })).status).toBe(201);
    await server.components.ssfTransmitter.idle();
    expect(received).toHaveLength(1);
    const [delivery] = received;
    expect(delivery?.contentType).toBe('application/secevent+jwt');
    const issuer = `${server.url}/tenants/${TENANT}`;
    const { payload, protectedHeader } = await jwtVerify(delivery?.body ?? '', createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'https://rp.example.com', typ: 'secevent+jwt' });
    expect(protectedHeader.typ).toBe('secevent+jwt');
    expect(payload).toMatchObject({ sub_id: { format: 'opaque', id: 'henry' }, events: { [`${CAEP}session-revoked`]: { initiating_entity: 'admin' } } });
    expect(typeof payload.jti).toBe('string');

    // A token revocation names the token's jti as the session; a refusing receiver is not retried.
    received.length = 0;
    answerWith = 400;
    expect((await admin.post(`/admin/v1/tenants/${TENANT}/revocations`, { jti: 'tok-9', exp: Math.floor(Date.now() / 1000) + 60 })).status).toBe(201);
    await server.components.ssfTransmitter.idle();
    expect(received).toHaveLength(1);
    const { payload: second } = await jwtVerify(received[0]?.body ?? '', createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'https://rp.example.com' });
    expect(second.sub_id).toEqual({ session: { format: 'opaque', id: 'tok-9' } });
    expect(second.jti).not.toBe(payload.jti);
    answerWith = 202;

    // A revocation received as a SET is not sent on (no echo between two platforms).
    received.length = 0;
    expect((await push(await set(revoked(), { format: 'opaque', id: 'ivy' }))).status).toBe(202);
    await server.components.ssfTransmitter.idle();
    expect(received).toEqual([]);
  });
});
