/**
 * Token-in decisions against a real external OpenID provider (oidc-provider, via discovery),
 * the JWT attack suite over HTTP (each refused with 401, a stable code, and an audit record),
 * and revocation checked at decision time and kept across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createClient, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const POLICIES = `@id("users-read") permit(principal is User, action == Action::"read", resource);
@id("editors-write") permit(principal in Group::"editors", action == Action::"write", resource) when { context has scopes && context.scopes.contains("todos:write") };`;

let idp: TestIssuer;
let other: TestIssuer;
let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

const source = (issuer: string) => ({ issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User', groupsClaim: 'groups', context: { scopes: 'scope' } } });
const ask = (token: string, action = 'read', tenant = 'acme') => pdp.post(`/tenants/${tenant}/access/v1/evaluation`, { token, action: { name: action }, resource: { type: 'Todo', id: 't1' } });

beforeAll(async () => {
  [idp, other] = await Promise.all([startTestIssuer(), startTestIssuer({ groups: ['editors'] })]);
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  for (const [tenant, issuer] of [['acme', idp.issuer], ['globex', other.issuer]] as const) {
    expect((await server.admin.post('/admin/v1/tenants', { id: tenant })).status).toBe(201);
    expect((await server.admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    expect((await server.admin.request('PUT', `/admin/v1/tenants/${tenant}/identity-sources/corp`, source(issuer))).status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
  await other?.close();
});

/** Sign claims as the issuer would (we hold its key), with header overrides for attacks. */
async function forge(claims: { [K in keyof JWTPayload]?: JWTPayload[K] | undefined } & Record<string, unknown>, header: Record<string, unknown> = {}, key = idp.privateKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  // jose signs an unknown `crit` extension only when told it is "recognized" (by the signer).
  const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((name) => [name, true])) : undefined;
  return new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'mallory', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims } as JWTPayload)
    .setProtectedHeader({ alg: 'RS256', kid: idp.kid, ...header } as never)
    .sign(key, crit ? { crit } : {});
}

describe('token-in decisions with an external OpenID provider', () => {
  it('verifies a real token through discovery and maps its claims to the principal', async () => {
    const token = await idp.accessToken('todos:read todos:write');
    const read = await ask(token);
    expect(read.body).toMatchObject({ decision: true, context: { reason_admin: { determining_policies: ['users-read'] } } });
    expect((await ask(token, 'write')).body.decision).toBe(true);
    // The same provider without the write scope: the group alone is not enough.
    expect((await ask(await idp.accessToken('todos:read'), 'write')).body.decision).toBe(false);
    const events = (await server.admin.get('/admin/v1/tenants/acme/audit?limit=100')).body.events;
    expect(events.at(-1).principal).toEqual({ type: 'User', id: 'app' });
  });

  it('takes the token from Authorization when decisions are open, and never with a subject', async () => {
    const token = await idp.accessToken();
    const viaHeader = await createClient(server.url, token).post('/tenants/acme/access/v1/evaluation', { action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } });
    expect(viaHeader.body.decision).toBe(true);
    const both = await pdp.post('/tenants/acme/access/v1/evaluation', { token, subject: { type: 'User', id: 'x' }, action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } });
    expect(both.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });
});

describe('JWT attack suite (each 401 with a stable code, each audited)', async () => {
  const attacker = await generateKeyPair('RS256', { extractable: true });
  const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'attacker' };
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const cases: Array<[string, () => Promise<string>, string]> = [
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'mallory', exp: 9_999_999_999 })}.`, 'ERR_TOKEN_ALGORITHM'],
    ['HS256 signed with the issuer public key', async () => new SignJWT({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'mallory', exp: 9_999_999_999 }).setProtectedHeader({ alg: 'HS256', kid: idp.kid }).sign(Buffer.from(JSON.stringify(idp.publicJwk))), 'ERR_TOKEN_ALGORITHM'],
    ['expired', () => forge({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }), 'ERR_TOKEN_EXPIRED'],
    ['nbf in the future', () => forge({ nbf: Math.floor(Date.now() / 1000) + 3600 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['iat an hour in the future', () => forge({ iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['wrong iss', () => forge({ iss: 'https://evil.example' }), 'ERR_TOKEN_ISSUER'],
    ['wrong aud', () => forge({ aud: 'https://other-api.example' }), 'ERR_TOKEN_AUDIENCE'],
    ['missing exp', () => forge({ exp: undefined }), 'ERR_TOKEN_CLAIMS'],
    ['unknown kid', () => forge({}, { kid: 'no-such-key' }), 'ERR_TOKEN_UNKNOWN_KEY'],
    ['kid with path characters', () => forge({}, { kid: '../../../etc/passwd' }), 'ERR_TOKEN_UNKNOWN_KEY'],
    ['kid with SQL characters', () => forge({}, { kid: "' OR 1=1 --" }), 'ERR_TOKEN_UNKNOWN_KEY'],
    ['jku header to an attacker key', () => forge({}, { jku: 'http://127.0.0.1:9/jwks.json' }, attacker.privateKey), 'ERR_TOKEN_SIGNATURE'],
    ['x5u header', () => forge({}, { x5u: 'http://127.0.0.1:9/cert.pem' }, attacker.privateKey), 'ERR_TOKEN_SIGNATURE'],
    ['embedded jwk header', () => forge({}, { jwk: attackerJwk }, attacker.privateKey), 'ERR_TOKEN_SIGNATURE'],
    ['unknown crit header', () => forge({}, { crit: ['x-verity-unknown'], 'x-verity-unknown': true }), 'ERR_TOKEN_HEADER'],
    ['tampered payload', async () => {
      const [h, , s] = (await forge({})).split('.');
      return `${h}.${b64({ iss: idp.issuer, aud: API_AUDIENCE, sub: 'admin', exp: 9_999_999_999 })}.${s}`;
    }, 'ERR_TOKEN_SIGNATURE'],
    ['truncated', async () => (await forge({})).slice(0, 40), 'ERR_TOKEN_MALFORMED'],
    ['oversized', () => forge({ padding: 'x'.repeat(17 * 1024) }), 'ERR_TOKEN_TOO_LARGE'],
    ["a valid token of another tenant's issuer", () => other.accessToken(), 'ERR_TOKEN_ISSUER'],
  ];

  it.each(cases)('%s', async (_name, make, code) => {
    const requestId = `attack-${code}-${Math.random().toString(36).slice(2)}`;
    const answer = await pdp.post('/tenants/acme/access/v1/evaluation', { token: await make(), action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } }, { 'x-request-id': requestId });
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe(code);
    const [event] = (await server.admin.get(`/admin/v1/tenants/acme/audit?requestId=${requestId}`)).body.events;
    expect(event).toMatchObject({ decision: 'deny', action: { id: 'authenticate' }, errors: [{ policyId: 'token', message: code }] });
  });
});

describe('revocation', () => {
  it('refuses a revoked token, a revoked subject and a revoked client at decision time', async () => {
    const byJti = await idp.accessToken();
    expect((await ask(byJti)).body.decision).toBe(true);
    const { jti, exp } = decodeJwt(byJti);
    expect((await server.admin.post('/admin/v1/tenants/acme/revocations', { jti, exp })).status).toBe(201);
    expect((await ask(byJti)).body.code).toBe('ERR_TOKEN_REVOKED');

    const forged = await forge({ sub: 'erin', iat: Math.floor(Date.now() / 1000) - 5 });
    expect((await ask(forged)).body.decision).toBe(true);
    expect((await server.admin.post('/admin/v1/tenants/acme/revocations', { subject: 'erin' })).status).toBe(201);
    expect((await ask(forged)).body.code).toBe('ERR_TOKEN_REVOKED');

    const clientToken = await forge({ sub: 'frank', client_id: 'mobile', iat: Math.floor(Date.now() / 1000) - 5 });
    expect((await server.admin.post('/admin/v1/tenants/acme/revocations', { client: 'mobile' })).status).toBe(201);
    expect((await ask(clientToken)).body.code).toBe('ERR_TOKEN_REVOKED');
    // Another tenant is not affected by acme's revocations.
    expect((await server.admin.post('/admin/v1/tenants/acme/revocations', { nonsense: true })).body.code).toBe('ERR_REQUEST_INVALID');
  });

  it('revokes a token minted before the revocation by an issuer whose clock runs 20 s ahead', async () => {
    const skewed = await forge({ sub: 'ivan', iat: Math.floor(Date.now() / 1000) + 20 });
    expect((await ask(skewed)).body.decision).toBe(true);
    expect((await server.admin.post('/admin/v1/tenants/acme/revocations', { subject: 'ivan' })).status).toBe(201);
    expect((await ask(skewed)).body.code).toBe('ERR_TOKEN_REVOKED');
  });

  it('revokes the principal the identity source maps (id from email), not the raw sub', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: 'initech' })).status).toBe(201);
    expect((await server.admin.post('/admin/v1/tenants/initech/policies', { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    const byEmail = { ...source(idp.issuer), claims: { ...source(idp.issuer).claims, idClaim: 'email' } };
    expect((await server.admin.request('PUT', '/admin/v1/tenants/initech/identity-sources/corp', byEmail)).status).toBe(200);
    const token = await forge({ sub: 'u-7', email: 'judy@initech.example', iat: Math.floor(Date.now() / 1000) - 5 });
    expect((await ask(token, 'read', 'initech')).body.decision).toBe(true);
    expect((await server.admin.post('/admin/v1/tenants/initech/revocations', { subject: 'u-7' })).status).toBe(201);
    expect((await ask(token, 'read', 'initech')).body.decision).toBe(true);
    expect((await server.admin.post('/admin/v1/tenants/initech/revocations', { subject: 'judy@initech.example' })).status).toBe(201);
    expect((await ask(token, 'read', 'initech')).body.code).toBe('ERR_TOKEN_REVOKED');
  });

  it('keeps revocations across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'verity-identity-'));
    try {
      const first = await startTestServer({ dataDir, decisionAuth: 'open' });
      await first.admin.post('/admin/v1/tenants', { id: 'acme' });
      await first.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICIES } });
      await first.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/corp', source(idp.issuer));
      await first.admin.post('/admin/v1/tenants/acme/revocations', { subject: 'grace' });
      await first.close();
      const second = await startTestServer({ dataDir, decisionAuth: 'open' });
      const token = await forge({ sub: 'grace', iat: Math.floor(Date.now() / 1000) - 60 });
      const answer = await createClient(second.url, null).post('/tenants/acme/access/v1/evaluation', { token, action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } });
      expect(answer.body.code).toBe('ERR_TOKEN_REVOKED');
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(`${dataDir}.master-key`, { force: true });
    }
  });
});

describe('identity sources', () => {
  it('are validated, listed per tenant and removable', async () => {
    expect((await server.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/bad', { ...source(idp.issuer), algorithms: ['none'] })).body.code).toBe('ERR_IDENTITY_SOURCE_INVALID');
    expect((await server.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/bad', { ...source(idp.issuer), audiences: [] })).body.code).toBe('ERR_IDENTITY_SOURCE_INVALID');
    const list = (await server.admin.get('/admin/v1/tenants/acme/identity-sources')).body.sources;
    expect(list.map((s: { id: string; issuer: string }) => [s.id, s.issuer])).toEqual([['corp', idp.issuer]]);
    expect((await server.admin.request('DELETE', '/admin/v1/tenants/acme/identity-sources/nope')).status).toBe(404);
  });
});

describe('identity-source requests (SSRF guard)', () => {
  it('by default refuses an identity source on http or loopback when it is put, and never fetches from it', async () => {
    const guarded = await startTestServer({ decisionAuth: 'open', allowInsecureIdentitySources: false });
    const seen: string[] = [];
    const { createServer } = await import('node:http');
    const internal = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(500).end('internal secret page');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    try {
      const port = (internal.address() as { port: number }).port;
      await guarded.admin.post('/admin/v1/tenants', { id: 'acme' });
      await guarded.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICIES } });
      const client = createClient(guarded.url, null);
      for (const [id, config] of [
        ['by-discovery', source(`http://127.0.0.1:${port}`)],
        ['by-jwks', { ...source(`https://idp-${port}.example`), keys: { kind: 'jwks', jwksUri: `https://localhost:${port}/jwks` } }],
      ] as const) {
        const put = await guarded.admin.request('PUT', `/admin/v1/tenants/acme/identity-sources/${id}`, config);
        expect([put.status, put.body.code]).toEqual([400, 'ERR_IDENTITY_SOURCE_INVALID']);
        // Nothing was stored: a token naming that issuer has no source to verify it.
        const iss = (config as { issuer: string }).issuer;
        const token = await forge({ iss });
        const answer = await client.post('/tenants/acme/access/v1/evaluation', { token, action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } });
        expect(answer.status).toBe(401);
        expect(JSON.stringify(answer.body)).not.toMatch(/secret|127\.0\.0\.1|localhost/);
      }
      expect(seen).toEqual([]);
      // Inline keys are fetched from nowhere: any issuer name is accepted (a development issuer on
      // loopback, `verity dev idp --source`), and its tokens verify.
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const local = `http://127.0.0.1:${port}`;
      const inline = await guarded.admin.request('PUT', '/admin/v1/tenants/acme/identity-sources/dev', { ...source(local), keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'dev', alg: 'ES256' }] } });
      expect(inline.status).toBe(200);
      const devToken = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'dev' }).setIssuer(local).setAudience(API_AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(privateKey);
      const decided = await client.post('/tenants/acme/access/v1/evaluation', { token: devToken, action: { name: 'read' }, resource: { type: 'Todo', id: 't1' } });
      expect(decided.status).toBe(200);
      expect(seen).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => internal.close(() => resolve()));
      await guarded.close();
    }
  });
});

describe('change stream', () => {
  it('tells a PEP about a revocation at once, and the server still closes with the stream open', async () => {
    const { openEventStream } = await import('./helpers/sse.js');
    const stream = await openEventStream(`${server.url}/tenants/acme/changes`);
    expect(stream.status).toBe(200);
    await server.admin.post('/admin/v1/tenants/acme/revocations', { subject: 'henry' });
    expect(await stream.next('change', 1000)).toEqual({ tenant: 'acme', kind: 'revocation' });
    // Left open on purpose: afterAll's server.close() must end it rather than hang.
  });
});
