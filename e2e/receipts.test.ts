/**
 * Data-tier receipts at the PDP over HTTP: the receipt-key admin API (platform admins only,
 * secrets only in create and export answers, never in a list or a log), receipts minted on allow
 * for `options.verity_receipt` (single, batch, token-in), their lifetime, and key rotation.
 */
import { Writable } from 'node:stream';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

const POLICY = `
@id("read") permit(principal, action == Action::"read", resource);
@id("clients") permit(principal is Client, action == Action::"list", resource);`;

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
let logText = '';
const roles: Record<string, Client> = {};

const question = (action = 'read', resource = 'o-1') => ({ subject: { type: 'User', id: 'al"ice' }, action: { name: action }, resource: { type: 'Order', id: resource } });
const evaluate = (body: Record<string, unknown>, tenant = 'acme') => admin.post(`/tenants/${tenant}/access/v1/evaluation`, body);
const evaluations = (body: Record<string, unknown>, tenant = 'acme') => admin.post(`/tenants/${tenant}/access/v1/evaluations`, body);
const keysPath = (tenant = 'acme') => `/admin/v1/tenants/${tenant}/receipt-keys`;

/** Verify a receipt as the data tier would (HS256, exact typ) with an exported base64url secret. */
async function verifyReceipt(receipt: string, secret: string) {
  return jwtVerify(receipt, Buffer.from(secret, 'base64url'), { algorithms: ['HS256'], typ: 'verity-receipt+jwt' });
}

let first: { kid: string; secret: string };

beforeAll(async () => {
  const log = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText += chunk.toString('utf8');
      done();
    },
  });
  // Debug logs a line per request: the receipt and the secrets must still never appear.
  server = await startTestServer({ logLevel: 'debug', logStream: log });
  admin = server.admin;
  for (const id of ['acme', 'globex']) {
    expect((await admin.post('/admin/v1/tenants', { id })).status).toBe(201);
    expect((await admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': POLICY } })).status).toBe(201);
  }
  for (const role of ['policy-author', 'pep', 'pep-local']) {
    const created = await admin.post('/admin/v1/tenants/acme/credentials', { role });
    expect(created.status).toBe(201);
    roles[role] = createClient(server.url, created.body.token);
  }
});

afterAll(async () => {
  await server?.close();
});

describe('without an active receipt key', () => {
  it('answers 409 ERR_RECEIPT_KEY_MISSING before deciding, also while a key is only pending', async () => {
    const before = (await server.components.store.audit.query('acme', { limit: 1000 })).length;
    for (const answer of [await evaluate({ ...question(), options: { verity_receipt: true } }), await evaluations({ ...question(), evaluations: [{}], options: { verity_receipt: true } })]) {
      expect(answer.status).toBe(409);
      expect(answer.body.code).toBe('ERR_RECEIPT_KEY_MISSING');
    }
    expect((await server.components.store.audit.query('acme', { limit: 1000 })).length).toBe(before);

    const created = await admin.post(keysPath(), {});
    expect(created.status).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual(['kid', 'secret', 'state']);
    expect(created.body.state).toBe('pending');
    expect(Buffer.from(created.body.kid, 'base64url')).toHaveLength(16);
    expect(Buffer.from(created.body.secret, 'base64url')).toHaveLength(32);
    first = { kid: created.body.kid, secret: created.body.secret };
    expect((await evaluate({ ...question(), options: { verity_receipt: true } })).body.code).toBe('ERR_RECEIPT_KEY_MISSING');
  });
});

describe('receipt-key admin API', () => {
  it('lists keys without secrets, exports the verifying set with them, and activates', async () => {
    const listed = await admin.get(keysPath());
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ keys: [{ kid: first.kid, state: 'pending', created_at: expect.any(String), activated_at: null, retired_at: null, verify_until: null }] });
    expect(JSON.stringify(listed.body)).not.toContain(first.secret);

    const exported = await admin.post(`${keysPath()}/export`, {});
    expect(exported.status).toBe(200);
    expect(exported.body).toEqual({ keys: [{ kid: first.kid, state: 'pending', secret: first.secret, verify_until: null }] });

    const activated = await admin.post(`${keysPath()}/${first.kid}/activate`, {});
    expect(activated.status).toBe(200);
    expect(activated.body).toMatchObject({ kid: first.kid, state: 'active', activated_at: expect.any(String), verify_until: null });
    expect(JSON.stringify(activated.body)).not.toContain(first.secret);
    // Another tenant's keys are its own: none here, and acme's kid is unknown there.
    expect((await admin.get(keysPath('globex'))).body).toEqual({ keys: [] });
    expect((await admin.post(`${keysPath('globex')}/${first.kid}/activate`, {})).body.code).toBe('ERR_RECEIPT_KEY_NOT_FOUND');
  });

  it('refuses unknown, active and malformed kids, unknown tenants and the system tenant', async () => {
    const again = await admin.post(`${keysPath()}/${first.kid}/activate`, {});
    expect([again.status, again.body.code]).toEqual([409, 'ERR_RECEIPT_KEY_NOT_PENDING']);
    const unknown = await admin.post(`${keysPath()}/AAAAAAAAAAAAAAAAAAAAAA/activate`, {});
    expect([unknown.status, unknown.body.code]).toEqual([404, 'ERR_RECEIPT_KEY_NOT_FOUND']);
    expect((await admin.post(`${keysPath()}/${'x'.repeat(65)}/activate`, {})).status).toBe(404);
    expect((await admin.get(keysPath('nope'))).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await admin.post(keysPath('nope'), {})).body.code).toBe('ERR_TENANT_NOT_FOUND');
    expect((await admin.get(keysPath('_system'))).status).toBe(403);
  });

  it('is for platform admins only: a tenant\'s author and PEPs are refused (403), no credential is 401', async () => {
    for (const role of ['policy-author', 'pep', 'pep-local']) {
      const client = roles[role] as Client;
      const answers = [await client.get(keysPath()), await client.post(keysPath(), {}), await client.post(`${keysPath()}/export`, {}), await client.post(`${keysPath()}/${first.kid}/activate`, {})];
      expect(answers.map((a) => [a.status, a.body.code]), role).toEqual(Array(4).fill([403, 'ERR_AUTH_FORBIDDEN']));
      expect(JSON.stringify(answers.map((a) => a.body))).not.toContain(first.secret);
    }
    expect((await createClient(server.url, null).post(`${keysPath()}/export`, {})).status).toBe(401);
    // Refused calls created nothing.
    expect((await admin.get(keysPath())).body.keys).toHaveLength(1);
  });

  it('audits every call in _system, one action per operation (the audit tells which calls revealed secrets)', async () => {
    const events = await server.components.store.audit.query('_system', { limit: 10_000 });
    const manage = events.filter((event) => event.action.id.startsWith('receipt-key.'));
    for (const operation of ['list', 'create', 'export', 'activate']) {
      expect(manage.some((event) => event.action.id === `receipt-key.${operation}` && event.decision === 'allow'), operation).toBe(true);
    }
    expect(manage.filter((event) => event.decision === 'deny').length).toBeGreaterThanOrEqual(12);
    expect(manage.every((event) => event.resource.type === 'Verity::Tenant')).toBe(true);
  });
});

describe('options.verity_receipt', () => {
  it('returns a receipt on allow whose claims are the decision\'s, signed with the active key, 30 s by default', async () => {
    const answer = await evaluate({ ...question(), options: { verity_receipt: true } });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
    const receipt = answer.body.context.verity_receipt as string;
    const { payload, protectedHeader } = await verifyReceipt(receipt, first.secret);
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: first.kid });
    expect(payload).toEqual({
      iss: `${server.url}/tenants/acme`,
      tenant: 'acme',
      principal: 'User::"al\\"ice"',
      action: 'read',
      resource_type: 'Order',
      resource_id: 'o-1',
      decision_id: answer.body.context.id,
      policy_version: answer.body.context.reason_admin.policy_version,
      jti: answer.body.context.id,
      iat: expect.any(Number),
      exp: (payload.iat as number) + 30,
    });
    // The decision id is the audit record's.
    const audited = await server.components.store.audit.query('acme', { limit: 1000 });
    expect(audited.some((event) => event.decisionId === answer.body.context.id && event.decision === 'allow')).toBe(true);
  });

  it('gives no receipt on deny, and changes nothing when not asked', async () => {
    const denied = await evaluate({ ...question('write'), options: { verity_receipt: true } });
    expect(denied.body.decision).toBe(false);
    expect(denied.body.context.id).toEqual(expect.any(String));
    expect(denied.body.context).not.toHaveProperty('verity_receipt');
    const plain = await evaluate(question());
    expect(Object.keys(plain.body.context).sort()).toEqual(['id', 'reason_admin']);
    expect(await evaluations({ ...question(), evaluations: [{}, { action: { name: 'write' } }] })).toMatchObject({ body: { evaluations: [{ decision: true }, { decision: false }] } });
    expect((await evaluations({ ...question(), evaluations: [{}] })).body.evaluations[0]).toEqual({ decision: true });
  });

  it('takes a lifetime up to --receipt-ttl and refuses anything else with 400', async () => {
    const short = await evaluate({ ...question(), options: { verity_receipt: { ttl: 5 } } });
    const claims = decodeJwt(short.body.context.verity_receipt);
    expect((claims.exp as number) - (claims.iat as number)).toBe(5);
    const longest = decodeJwt((await evaluate({ ...question(), options: { verity_receipt: { ttl: 30 } } })).body.context.verity_receipt);
    expect((longest.exp as number) - (longest.iat as number)).toBe(30);
    for (const value of [{ ttl: 31 }, { ttl: 0 }, { ttl: -1 }, { ttl: 1.5 }, { ttl: '5' }, {}, { ttl: 5, extra: 1 }, false, null, 'yes', 1]) {
      for (const answer of [await evaluate({ ...question(), options: { verity_receipt: value } }), await evaluations({ ...question(), evaluations: [{}], options: { verity_receipt: value } })]) {
        expect([answer.status, answer.body.code], JSON.stringify(value)).toEqual([400, 'ERR_DECISION_INVALID_REQUEST']);
      }
    }
  });

  it('gives each allowed item of a batch its own receipt, and a single-shaped evaluations request one', async () => {
    const answer = await evaluations({ ...question(), evaluations: [{}, { action: { name: 'write' } }, { resource: { type: 'Order', id: 'o-2' } }], options: { verity_receipt: true } });
    expect(answer.status).toBe(200);
    const [one, two, three] = answer.body.evaluations;
    expect([one.decision, two.decision, three.decision]).toEqual([true, false, true]);
    expect(two.context).not.toHaveProperty('verity_receipt');
    for (const [item, resource] of [[one, 'o-1'], [three, 'o-2']] as const) {
      const { payload } = await verifyReceipt(item.context.verity_receipt, first.secret);
      expect(payload).toMatchObject({ decision_id: item.context.id, jti: item.context.id, resource_id: resource, action: 'read' });
    }
    expect(one.context.id).not.toBe(three.context.id);
    const single = await evaluations({ ...question(), options: { verity_receipt: true } });
    expect((await verifyReceipt(single.body.context.verity_receipt, first.secret)).payload.decision_id).toBe(single.body.context.id);
  });

  it('names the token\'s principal for a token-in decision', async () => {
    const client = await admin.request('PUT', '/admin/v1/tenants/acme/clients/orders', { principal: { type: 'Client', id: 'orders' }, audiences: ['api'], scopes: ['read'], secret: true });
    expect(client.status).toBe(200);
    const issued = await fetch(`${server.url}/tenants/acme/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`orders:${client.body.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'api' }).toString(),
    });
    const token = ((await issued.json()) as { access_token: string }).access_token;
    const answer = await evaluate({ token, action: { name: 'list' }, resource: { type: 'Order', id: 'all' }, options: { verity_receipt: true } });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
    const { payload } = await verifyReceipt(answer.body.context.verity_receipt, first.secret);
    expect(payload).toMatchObject({ principal: 'Client::"orders"', action: 'list', resource_type: 'Order', resource_id: 'all', decision_id: answer.body.context.id });
  });

  it('is answered at the root paths for the default tenant too', async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'demo' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants/demo/policies', { files: { 'p.cedar': POLICY } })).status).toBe(201);
    expect((await admin.post('/access/v1/evaluation', { ...question(), options: { verity_receipt: true } })).body.code).toBe('ERR_RECEIPT_KEY_MISSING');
    const key = (await admin.post(keysPath('demo'), {})).body;
    expect((await admin.post(`${keysPath('demo')}/${key.kid}/activate`, {})).status).toBe(200);
    const answer = await admin.post('/access/v1/evaluation', { ...question(), options: { verity_receipt: true } });
    expect((await verifyReceipt(answer.body.context.verity_receipt, key.secret)).payload).toMatchObject({ tenant: 'demo', iss: `${server.url}/tenants/demo` });
    // A receipt of one tenant does not verify with another tenant's key.
    await expect(verifyReceipt(answer.body.context.verity_receipt, first.secret)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});

describe('rotation', () => {
  it('signs with the new key once activated; the old one is exported as retired until verify_until and its receipts still verify', async () => {
    const old = await evaluate({ ...question(), options: { verity_receipt: true } });
    const second = (await admin.post(keysPath(), {})).body as { kid: string; secret: string };
    expect((await admin.post(`${keysPath()}/export`, {})).body.keys.map((k: { kid: string; state: string }) => [k.kid, k.state])).toEqual([
      [first.kid, 'active'],
      [second.kid, 'pending'],
    ]);
    // Still the old key until the new one is activated (the database learns the new key first).
    expect(decodeProtectedHeader((await evaluate({ ...question(), options: { verity_receipt: true } })).body.context.verity_receipt).kid).toBe(first.kid);

    const before = Date.now();
    expect((await admin.post(`${keysPath()}/${second.kid}/activate`, {})).body.state).toBe('active');
    const fresh = await evaluate({ ...question(), options: { verity_receipt: true } });
    expect(decodeProtectedHeader(fresh.body.context.verity_receipt).kid).toBe(second.kid);
    await verifyReceipt(fresh.body.context.verity_receipt, second.secret);
    await expect(verifyReceipt(fresh.body.context.verity_receipt, first.secret)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    await verifyReceipt(old.body.context.verity_receipt, first.secret);

    const exported = (await admin.post(`${keysPath()}/export`, {})).body.keys as Array<{ kid: string; state: string; secret: string; verify_until: string | null }>;
    expect(exported.map((k) => [k.kid, k.state, k.secret])).toEqual([
      [first.kid, 'retired', first.secret],
      [second.kid, 'active', second.secret],
    ]);
    // Retired for the longest receipt lifetime (30 s) plus 60 s: every receipt it signed expires before.
    const verifyUntil = Date.parse(exported[0]?.verify_until as string);
    expect(verifyUntil).toBeGreaterThanOrEqual(before + 90_000);
    expect(verifyUntil).toBeLessThanOrEqual(Date.now() + 90_000);
    expect(verifyUntil).toBeGreaterThanOrEqual((decodeJwt(old.body.context.verity_receipt).exp as number) * 1000);
    const listed = (await admin.get(keysPath())).body.keys as Array<Record<string, unknown>>;
    expect(listed.map((k) => [k.kid, k.state, k.verify_until])).toEqual([
      [first.kid, 'retired', exported[0]?.verify_until],
      [second.kid, 'active', null],
    ]);
    expect(listed[0]?.retired_at).toEqual(expect.any(String));
    expect((await admin.post(`${keysPath()}/${first.kid}/activate`, {})).body.code).toBe('ERR_RECEIPT_KEY_NOT_PENDING');
  });
});

describe('logs', () => {
  it('never hold a receipt secret or a receipt', async () => {
    const exported = (await admin.post(`${keysPath()}/export`, {})).body.keys as Array<{ secret: string }>;
    expect(logText.length).toBeGreaterThan(0);
    for (const { secret } of exported) expect(logText).not.toContain(secret);
    expect(logText).not.toContain(first.secret);
    expect(logText).not.toMatch(/eyJhbGciOiJIUzI1NiIsInR5cCI6InZlcml0eS1yZWNlaXB0K2p3dCI/);
  });
});

describe('with open decisions (--open-decisions)', () => {
  it('a receipt still takes a credential that may decide for the tenant (outsider attack F5)', async () => {
    const open = await startTestServer({ decisionAuth: 'open' });
    try {
      expect((await open.admin.post('/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
      expect((await open.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': POLICY } })).status).toBe(201);
      const created = (await open.admin.post('/admin/v1/tenants/acme/receipt-keys', {})).body as { kid: string };
      expect((await open.admin.post(`/admin/v1/tenants/acme/receipt-keys/${created.kid}/activate`, {})).status).toBe(200);
      const anonymous = createClient(open.url, null);
      // The decision itself is open…
      expect((await anonymous.post('/tenants/acme/access/v1/evaluation', question())).body.decision).toBe(true);
      // …a receipt is not: 401 without a credential, 403 with another tenant's.
      const refused = await anonymous.post('/tenants/acme/access/v1/evaluation', { ...question(), options: { verity_receipt: true } });
      expect(refused.status).toBe(401);
      expect(JSON.stringify(refused.body)).not.toContain('verity_receipt');
      const otherPep = createClient(open.url, (await open.admin.post('/admin/v1/tenants', { id: 'globex' }), (await open.admin.post('/admin/v1/tenants/globex/credentials', { role: 'pep' })).body.token));
      expect((await otherPep.post('/tenants/acme/access/v1/evaluations', { ...question(), options: { verity_receipt: true } })).status).toBe(403);
      const pep = createClient(open.url, (await open.admin.post('/admin/v1/tenants/acme/credentials', { role: 'pep' })).body.token);
      const granted = await pep.post('/tenants/acme/access/v1/evaluation', { ...question(), options: { verity_receipt: true } });
      expect(granted.status).toBe(200);
      expect(typeof granted.body.context.verity_receipt).toBe('string');
    } finally {
      await open.close();
    }
  });
});
