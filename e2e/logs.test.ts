/**
 * The server's JSON log: start-up and refusals are logged, a 5xx is logged with its cause, no
 * line per request at `info`, and no token, credential or client secret ever appears — checked
 * by running the main flows (admin calls, credentials, client secrets, client credentials,
 * token exchange, token-carrying decisions) and searching the whole output for each secret.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, createComponents, resolveConfig } from '@verity/server';
import { createPgliteDatabase } from '@verity/store';
import { ADMIN_TOKEN, createClient, startTestServer } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const POLICIES = `@id("exchange") permit(principal == Client::"orders", action == Action::"exchange", resource == Audience::"inventory");
@id("read") permit(principal is User, action == Action::"read", resource);`;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/** A pino destination that keeps every line. */
function collector() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

let idp: TestIssuer;
const log = collector();
const secrets: string[] = [ADMIN_TOKEN];
let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  idp = await startTestIssuer();
  server = await startTestServer({ logStream: log.stream, logLevel: 'info' });
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

async function token(base: string, client: string, secret: string, params: Record<string, string>) {
  const response = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
  });
  return (await response.json()) as Record<string, string>;
}

describe('the server log', () => {
  it('holds no token, credential or secret after the main flows, and logs start-up and refusals', async () => {
    const admin = server.admin;
    await admin.post('/admin/v1/tenants', { id: 'shop' });
    await admin.post('/admin/v1/tenants/shop/policies', { files: { 'p.cedar': POLICIES } });
    await admin.request('PUT', '/admin/v1/tenants/shop/identity-sources/corp', { issuer: idp.issuer, keys: { kind: 'discovery' }, audiences: [API_AUDIENCE], claims: { principalType: 'User', clientPrincipalType: 'User' } });

    const pep = (await admin.post('/admin/v1/tenants/shop/credentials', { role: 'pep' })).body;
    const rotated = (await admin.post(`/admin/v1/tenants/shop/credentials/${pep.id}/rotate`)).body;
    secrets.push(pep.token, rotated.token);
    expect((await createClient(server.url, pep.token).post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: 'a' }, action: { name: 'read' }, resource: { type: 'T', id: 't' } })).status).toBe(401);

    const client = (await admin.request('PUT', '/admin/v1/tenants/shop/clients/orders', { principal: { type: 'Client', id: 'orders' }, audiences: ['inventory'], subjectAudiences: [API_AUDIENCE], scopes: ['todos:read'], secret: true })).body;
    secrets.push(client.clientSecret);
    const base = `${server.url}/tenants/shop`;
    const issued = await token(base, 'orders', client.clientSecret, { grant_type: 'client_credentials', audience: 'inventory' });
    expect(issued.access_token).toBeDefined();
    secrets.push(issued.access_token as string);
    expect((await token(base, 'orders', 'wrong-secret-value-0123456789', { grant_type: 'client_credentials', audience: 'inventory' })).code).toBe('ERR_STS_INVALID_CLIENT');
    secrets.push('wrong-secret-value-0123456789');

    const userToken = await idp.accessToken('todos:read');
    secrets.push(userToken);
    const exchanged = await token(base, 'orders', client.clientSecret, { grant_type: EXCHANGE, subject_token: userToken, subject_token_type: ACCESS_TOKEN, audience: 'inventory', scope: 'todos:read' });
    expect(exchanged.access_token, JSON.stringify(exchanged)).toBeDefined();
    secrets.push(exchanged.access_token as string);
    const asPep = createClient(server.url, rotated.token);
    const evaluation = (body: Record<string, unknown>) => asPep.post('/tenants/shop/access/v1/evaluation', { action: { name: 'read' }, resource: { type: 'T', id: 't' }, ...body });
    expect((await evaluation({ token: exchanged.access_token, audience: 'inventory' })).body.decision).toBe(true);
    // Refused tokens: a tampered one and one for another audience.
    const tampered = `${(exchanged.access_token as string).slice(0, -4)}AAAA`;
    secrets.push(tampered);
    expect((await evaluation({ token: tampered, audience: 'inventory' })).status).toBe(401);
    expect((await evaluation({ token: userToken, audience: 'nope' })).status).toBe(401);
    expect((await createClient(server.url, `vrt_${'x'.repeat(43)}`).get('/admin/v1/tenants')).status).toBe(401);

    const output = log.lines.join('\n');
    for (const secret of secrets) expect(output.includes(secret), `a secret of ${secret.length} characters is in the log`).toBe(false);
    for (const part of secrets.filter((s) => s.split('.').length === 3).flatMap((jwt) => jwt.split('.').slice(1))) expect(output).not.toContain(part);

    const entries = log.lines.map((line) => JSON.parse(line) as { level: number; msg: string; listen?: string; code?: string });
    expect(entries.find((e) => e.msg === 'verity started')).toMatchObject({ level: 30, listen: server.url });
    const refused = entries.filter((e) => e.msg === 'request refused');
    expect(refused.every((e) => e.level === 40)).toBe(true);
    expect(refused.map((e) => e.code)).toEqual(expect.arrayContaining(['ERR_AUTH_INVALID', 'ERR_STS_INVALID_CLIENT']));
    // No line per request at info.
    expect(entries.filter((e) => e.msg === 'request' || e.msg === 'incoming request' || e.msg === 'request completed')).toEqual([]);
  });

  it('logs every 5xx with its cause, and one line per request only at debug', async () => {
    const db = await createPgliteDatabase({});
    const lines = collector();
    const { createLogger } = await import('../packages/server/src/logger.js');
    const c = await createComponents(resolveConfig({ dataDir: null, adminToken: ADMIN_TOKEN }), db, { log: createLogger({ level: 'debug', stream: lines.stream }) });
    await c.credentials.bootstrap(ADMIN_TOKEN);
    c.tenants.list = async () => {
      throw new Error('engine exploded: the cause an operator needs');
    };
    const app = await buildApp(c);
    try {
      const answer = await app.inject({ method: 'GET', url: '/admin/v1/tenants?x=1', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(answer.json()).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' });
      const entries = lines.lines.map((line) => JSON.parse(line) as { level: number; msg: string; code?: string; path?: string; err?: { message: string } });
      expect(entries.find((e) => e.msg === 'request failed')).toMatchObject({ level: 50, code: 'ERR_INTERNAL', path: '/admin/v1/tenants', err: { message: 'engine exploded: the cause an operator needs' } });
      expect(entries.find((e) => e.msg === 'request')).toMatchObject({ level: 20, path: '/admin/v1/tenants' });
      expect(lines.lines.join('\n')).not.toContain(ADMIN_TOKEN);
    } finally {
      await app.close();
      await c.changes.close();
      await c.audit.close();
      await db.close();
    }
  });
});
