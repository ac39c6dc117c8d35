/**
 * Job-scoped credentials (issue 12, seed 004): a batch job exchanges for exactly its audiences
 * and scopes, tagged with a job id (`job_id` → `job` claim); a job's token cannot be exchanged
 * out of its job; revoking the job (admin API, `{job}` or `/jobs/{id}/revoke`) refuses all its
 * tokens at once — at the PDP, as a subject token of a further exchange, and at a PEP deciding
 * locally within a second — while another job's tokens keep working. The SDK's `runJob` revokes
 * the job when its function settles, on success and on a thrown error; the CLI's `job revoke`,
 * `token revoke --job` and `token exchange --job-id` do the same against the real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createEnforcer, createLocalDecisionSource, createTokenExchanger, runJob, type LocalDecisionSource } from '@verity/enforce';
import { runVerity } from './helpers/cli-run.js';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';

const TENANT = 'batch';
const POLICIES = `@id("nightly-exchanges") permit(principal == Client::"nightly", action == Action::"exchange", resource) when { [Audience::"orders", Audience::"billing"].contains(resource) };
@id("orders-readers") permit(principal, action == Action::"read", resource) when { context has scopes && context.scopes.contains("orders:read") };
@id("invoice-writers") permit(principal, action == Action::"write", resource) when { context has scopes && context.scopes.contains("invoices:write") };`;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;
let base: string;
let secret: string;
let pepLocal: string;
let pinned: string[];
const closers: Array<() => Promise<unknown> | void> = [];

async function tokenEndpoint(params: Record<string, string>) {
  const response = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`nightly:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** nightly's own token for the token service: what its jobs are exchanged from. */
async function ownToken(): Promise<string> {
  const answer = await tokenEndpoint({ grant_type: 'client_credentials', audience: base, scope: 'orders:read invoices:write' });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.access_token;
}

const exchange = (subjectToken: string, audience: string, extra: Record<string, string> = {}) =>
  tokenEndpoint({ grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience, ...extra });

async function jobToken(subjectToken: string, audience: string, scope: string, jobId: string): Promise<string> {
  const answer = await exchange(subjectToken, audience, { scope, job_id: jobId });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.access_token;
}

/** The PDP's answer for `token` at `audience`: true/false, or the refusal's code. */
async function decide(token: string, audience: string, action: string): Promise<boolean | string> {
  const answer = await pdp.post(`/tenants/${TENANT}/access/v1/evaluation`, { token, audience, action: { name: action }, resource: { type: 'Order', id: 'o-1' } });
  return answer.status === 200 ? (answer.body.decision as boolean) : (answer.body.code as string);
}

const canRead = (token: string) => decide(token, 'orders', 'read');
const canWrite = (token: string) => decide(token, 'billing', 'write');

function localSource(): LocalDecisionSource {
  const source = createLocalDecisionSource({ url: server.url, tenant: TENANT, credential: pepLocal, bundleKeyThumbprints: pinned, retryBackoff: { initialMs: 20, maxMs: 100 } });
  closers.push(() => source.close());
  return source;
}

async function until(check: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

const revokeJob$ = (id: string) => `/admin/v1/tenants/${TENANT}/jobs/${id}/revoke`;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  base = `${server.url}/tenants/${TENANT}`;
  expect((await server.admin.post('/admin/v1/tenants', { id: TENANT })).status).toBe(201);
  expect((await server.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  // nightly serves `orders` too, so a job's orders token is a subject token it may present (the laundering case).
  const client = await server.admin.request('PUT', `/admin/v1/tenants/${TENANT}/clients/nightly`, {
    principal: { type: 'Client', id: 'nightly' }, audiences: ['orders', 'billing', base], subjectAudiences: ['orders'], scopes: ['orders:read', 'invoices:write'], secret: true,
  });
  expect(client.status, JSON.stringify(client.body)).toBe(200);
  secret = client.body.clientSecret;
  pinned = (await server.admin.get(`/tenants/${TENANT}/bundle/keys`)).body.thumbprints;
  pepLocal = (await server.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: TENANT })).body.token;
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await server?.close();
});

describe('job-scoped credentials', () => {
  it("a job's tokens carry exactly its audiences and scopes and its job, and are accepted by the PDP", async () => {
    const own = await ownToken();
    const orders = await jobToken(own, 'orders', 'orders:read', 'export-1');
    const billing = await jobToken(own, 'billing', 'invoices:write', 'export-1');
    expect(decodeJwt(orders)).toMatchObject({ job: 'export-1', aud: 'orders', scope: 'orders:read', sub: 'nightly', client_id: 'nightly' });
    expect(decodeJwt(billing)).toMatchObject({ job: 'export-1', aud: 'billing', scope: 'invoices:write' });
    expect([await canRead(orders), await canWrite(billing)]).toEqual([true, true]);
    // Exactly what was asked: the orders token may not write invoices, nor be used at billing.
    expect(await decide(orders, 'orders', 'write')).toBe(false);
    expect(await canWrite(orders)).toBe('ERR_TOKEN_AUDIENCE');
  });

  it('refuses a malformed job_id, a scope or audience beyond the grant, and a job token exchanged into another job', async () => {
    const own = await ownToken();
    for (const [extra, audience, code, error] of [
      [{ job_id: 'a b' }, 'orders', 'ERR_STS_INVALID_JOB', 'invalid_request'],
      [{ job_id: 'x'.repeat(129) }, 'orders', 'ERR_STS_INVALID_JOB', 'invalid_request'],
      [{ job_id: 'export-2', scope: 'orders:read orders:write' }, 'orders', 'ERR_STS_INVALID_SCOPE', 'invalid_scope'],
      [{ job_id: 'export-2' }, 'warehouse', 'ERR_STS_INVALID_TARGET', 'invalid_target'],
    ] as const) {
      const answer = await exchange(own, audience, extra);
      expect([answer.status, answer.body], JSON.stringify(extra)).toMatchObject([400, { code, error }]);
    }
    const orders = await jobToken(own, 'orders', 'orders:read', 'export-2');
    expect((await exchange(orders, 'orders', { job_id: 'export-3' })).body).toMatchObject({ code: 'ERR_STS_INVALID_JOB', error: 'invalid_request' });
    // Without job_id the job is kept: the new token is the job's too.
    const again = await exchange(orders, 'orders', { scope: 'orders:read' });
    expect(again.status).toBe(200);
    expect(decodeJwt(again.body.access_token).job).toBe('export-2');
  });

  it("revoking a job refuses all its tokens at once — at the PDP, in an exchange, at a local PEP within a second — and no other job's", async () => {
    const own = await ownToken();
    const orders = await jobToken(own, 'orders', 'orders:read', 'export-4');
    const billing = await jobToken(own, 'billing', 'invoices:write', 'export-4');
    const derived = (await exchange(orders, 'orders', { scope: 'orders:read' })).body.access_token as string;
    const otherJob = await jobToken(own, 'orders', 'orders:read', 'export-5');
    const source = localSource();
    await source.ready;
    const pep = createEnforcer({ source, tenant: TENANT, audience: 'orders', tier: 'batch-reader' });
    const localRead = async (token: string) => (await pep.enforce({ token, action: 'read', resource: { type: 'Order', id: 'o-1' } })).status;
    expect([await localRead(orders), await localRead(otherJob)]).toEqual([200, 200]);

    const revokedAt = Date.now();
    const revoked = await server.admin.post(`/admin/v1/tenants/${TENANT}/revocations`, { job: 'export-4' });
    expect([revoked.status, revoked.body]).toEqual([201, { revoked: { job: 'export-4' } }]);
    expect([await canRead(orders), await canWrite(billing), await canRead(derived)]).toEqual(['ERR_TOKEN_REVOKED', 'ERR_TOKEN_REVOKED', 'ERR_TOKEN_REVOKED']);
    expect(await until(async () => (await localRead(orders)) === 401, 1000)).toBe(true);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    // A revoked job's token buys nothing more at the token service either.
    expect((await exchange(orders, 'orders', { scope: 'orders:read' })).body).toMatchObject({ code: 'ERR_STS_INVALID_SUBJECT_TOKEN', error: 'invalid_request' });
    // Another job, and the client's own token, are untouched.
    expect([await canRead(otherJob), await localRead(otherJob)]).toEqual([true, 200]);
    expect((await exchange(own, 'orders', { scope: 'orders:read' })).status).toBe(200);
  });

  it('POST /jobs/{id}/revoke does the same; bad input is 400, no credential 401, an unknown tenant 404', async () => {
    const orders = await jobToken(await ownToken(), 'orders', 'orders:read', 'export-6');
    expect(await canRead(orders)).toBe(true);
    const revoked = await server.admin.post(revokeJob$('export-6'), undefined);
    expect([revoked.status, revoked.body]).toEqual([201, { revoked: { job: 'export-6' } }]);
    expect(await canRead(orders)).toBe('ERR_TOKEN_REVOKED');
    for (const [path, body, status, code] of [
      [revokeJob$('a%20b'), undefined, 400, 'ERR_REQUEST_INVALID'],
      [revokeJob$('x'.repeat(129)), undefined, 400, 'ERR_REQUEST_INVALID'],
      ['/admin/v1/tenants/nope/jobs/export-6/revoke', undefined, 404, 'ERR_TENANT_NOT_FOUND'],
      [`/admin/v1/tenants/${TENANT}/revocations`, { job: 'a/b' }, 400, 'ERR_REQUEST_INVALID'],
      [`/admin/v1/tenants/${TENANT}/revocations`, { job: 'export-6', subject: 'nightly' }, 400, 'ERR_REQUEST_INVALID'],
      [`/admin/v1/tenants/${TENANT}/revocations`, { job: 7 }, 400, 'ERR_REQUEST_INVALID'],
    ] as const) {
      const answer = await server.admin.post(path, body);
      expect([answer.status, answer.body.code], path).toEqual([status, code]);
    }
    const anonymous = await pdp.post(revokeJob$('export-7'), undefined);
    expect(anonymous.status).toBe(401);
    const reader = (await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT })).body.token as string;
    expect((await createClient(server.url, reader).post(revokeJob$('export-7'), undefined)).status).toBe(403);
  });
});

describe('runJob (@verity/enforce)', () => {
  const exchanger = () => createTokenExchanger({ url: server.url, tenant: TENANT, clientId: 'nightly', clientSecret: secret });
  const grants = [{ audience: 'orders', scope: 'orders:read' }, { audience: 'billing', scope: 'invoices:write' }];
  const revoke = () => ({ url: server.url, tenant: TENANT, credential: ADMIN_TOKEN });

  it('runs the job with its tokens and revokes them all when it completes', async () => {
    const kept: string[] = [];
    const result = await runJob({ exchanger: exchanger(), subjectToken: await ownToken(), jobId: 'sdk-1', grants, revoke: revoke() }, async (job) => {
      kept.push(job.token('orders'), job.token('billing'));
      expect(job.jobId).toBe('sdk-1');
      expect([await canRead(job.token('orders')), await canWrite(job.token('billing'))]).toEqual([true, true]);
      expect(() => job.token('warehouse')).toThrow(TypeError);
      return 'exported';
    });
    expect(result).toBe('exported');
    expect([await canRead(kept[0]!), await canWrite(kept[1]!)]).toEqual(['ERR_TOKEN_REVOKED', 'ERR_TOKEN_REVOKED']);
  });

  it("revokes on a thrown error and rethrows the job's own error", async () => {
    const kept: string[] = [];
    const failure = new Error('export failed halfway');
    let jobId = '';
    const run = runJob({ exchanger: exchanger(), subjectToken: await ownToken(), grants, revoke: revoke() }, async (job) => {
      jobId = job.jobId;
      kept.push(job.token('orders'));
      throw failure;
    });
    await expect(run).rejects.toBe(failure);
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(kept[0]!).job).toBe(jobId);
    expect(await canRead(kept[0]!)).toBe('ERR_TOKEN_REVOKED');
  });

  it('reports a revocation that failed: as ERR_ENFORCE_JOB_REVOKE_FAILED after success, to onRevokeError after a failure', async () => {
    const badRevoke = { ...revoke(), credential: 'vrt_not-a-credential' };
    await expect(runJob({ exchanger: exchanger(), subjectToken: await ownToken(), grants, revoke: badRevoke }, async () => 'done')).rejects.toMatchObject({
      code: 'ERR_ENFORCE_JOB_REVOKE_FAILED',
      pdpStatus: 401,
    });
    const reported: unknown[] = [];
    const failure = new Error('boom');
    await expect(runJob({ exchanger: exchanger(), subjectToken: await ownToken(), grants, revoke: badRevoke, onRevokeError: (error) => reported.push(error) }, async () => {
      throw failure;
    })).rejects.toBe(failure);
    expect(reported).toMatchObject([{ code: 'ERR_ENFORCE_JOB_REVOKE_FAILED', pdpStatus: 401 }]);
    expect(JSON.stringify(reported) + String((reported[0] as Error).message)).not.toContain('vrt_not-a-credential');
    // A job id the server would refuse is refused before any exchange.
    await expect(runJob({ exchanger: exchanger(), subjectToken: 'unused', jobId: 'a b', grants, revoke: revoke() }, async () => 'never')).rejects.toMatchObject({ code: 'ERR_ENFORCE_JOB_INVALID' });
  });
});

describe('verity CLI: job-scoped tokens', () => {
  const verity = (argv: string[], stdin?: string) => runVerity(argv, { url: server.url, env: { VERITY_CLIENT_ID: 'nightly', VERITY_CLIENT_SECRET: secret }, ...(stdin === undefined ? {} : { stdin }) });

  it('token exchange --job-id tags the token; job revoke ID and token revoke --job end the job', async () => {
    const exchanged = await verity(['token', 'exchange', '--tenant', TENANT, '--audience', 'orders', '--scope', 'orders:read', '--job-id', 'cli-1', '--subject-token-file', '-'], await ownToken());
    expect(exchanged.code, exchanged.err).toBe(0);
    const token = exchanged.out.trim();
    expect(decodeJwt(token).job).toBe('cli-1');
    expect(await canRead(token)).toBe(true);
    expect(await verity(['job', 'revoke', 'cli-1', '--tenant', TENANT])).toMatchObject({ code: 0, out: 'revoked every token of job cli-1 issued until now\n' });
    expect(await canRead(token)).toBe('ERR_TOKEN_REVOKED');

    const second = await jobToken(await ownToken(), 'orders', 'orders:read', 'cli-2');
    const byFlag = await verity(['token', 'revoke', '--tenant', TENANT, '--job', 'cli-2', '--json']);
    expect([byFlag.code, JSON.parse(byFlag.out)]).toEqual([0, { revoked: { job: 'cli-2' } }]);
    expect(await canRead(second)).toBe('ERR_TOKEN_REVOKED');
  });

  it('refuses a malformed job id before asking the server (exit 2), and reports an unknown tenant', async () => {
    expect((await verity(['job', 'revoke', 'a/b', '--tenant', TENANT])).code).toBe(2);
    expect((await verity(['token', 'revoke', '--tenant', TENANT, '--job', 'a b'])).code).toBe(2);
    expect((await verity(['token', 'exchange', '--tenant', TENANT, '--audience', 'orders', '--job-id', 'a b', '--subject-token-file', '-'], 'x')).code).toBe(2);
    const unknown = await verity(['job', 'revoke', 'cli-3', '--tenant', 'nope']);
    expect([unknown.code, unknown.err]).toEqual([6, 'verity: no tenant "nope"\n']);
  });
});
