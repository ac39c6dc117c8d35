/**
 * Attack: docs/continuous-verification.md "Job-scoped credentials": `job_id` is "1–128 characters
 * [A-Za-z0-9._:-], else 400 ERR_STS_INVALID_JOB". An empty `job_id=` is accepted (200) and the
 * token issued carries no job at all: a caller that asked for a job token (and will revoke "the
 * job" when done) holds a token that no job revocation reaches.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { startTestServer } from './helpers/verity.js';

const T = 'jobempty';
const POLICIES = `@id("x") permit(principal == Client::"nightly", action == Action::"exchange", resource);`;
let server: Awaited<ReturnType<typeof startTestServer>>;
let secret: string;
const base = () => `${server.url}/tenants/${T}`;
async function tokenEndpoint(params: Record<string, string>) {
  const response = await fetch(`${base()}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`nightly:${encodeURIComponent(secret)}`).toString('base64')}` }, body: new URLSearchParams(params).toString() });
  return { status: response.status, body: (await response.json()) as any };
}

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  expect((await server.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
  expect((await server.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
  const client = await server.admin.request('PUT', `/admin/v1/tenants/${T}/clients/nightly`, { principal: { type: 'Client', id: 'nightly' }, audiences: ['orders', base()], subjectAudiences: ['orders'], scopes: ['orders:read'], secret: true });
  secret = client.body.clientSecret;
}, 60_000);
afterAll(async () => { await server?.close(); });

it('refuses an empty job_id with 400 ERR_STS_INVALID_JOB rather than issuing a token outside any job', async () => {
  const own = (await tokenEndpoint({ grant_type: 'client_credentials', audience: base(), scope: 'orders:read' })).body.access_token as string;
  const answer = await tokenEndpoint({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: own, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: 'orders', scope: 'orders:read', job_id: '' });
  const issuedJob = answer.status === 200 ? decodeJwt(answer.body.access_token).job : undefined;
  expect({ status: answer.status, code: answer.body.code, issuedJob }).toEqual({ status: 400, code: 'ERR_STS_INVALID_JOB', issuedJob: undefined });
});
