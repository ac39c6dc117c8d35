/**
 * From an outsider's attack (issue 12): an empty `job_id=` issued a token outside any job. RFC 6749
 * §3.1 makes a parameter sent without a value one that was not sent, so that is the token
 * endpoint's rule (docs/continuous-verification.md "Job-scoped credentials"); a malformed job id
 * is refused, and the SDK's `runJob` never sends an empty one (ERR_ENFORCE_JOB_INVALID).
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

it('takes an empty job_id as not sent (RFC 6749 §3.1), and refuses a malformed one', async () => {
  const own = (await tokenEndpoint({ grant_type: 'client_credentials', audience: base(), scope: 'orders:read' })).body.access_token as string;
  const exchange = (jobId: string) => tokenEndpoint({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: own, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: 'orders', scope: 'orders:read', job_id: jobId });
  const empty = await exchange('');
  expect(empty.status).toBe(200);
  expect(decodeJwt(empty.body.access_token).job).toBeUndefined();
  for (const bad of ['a b', 'x'.repeat(129), 'job/1']) expect((await exchange(bad)).body.error).toBe('invalid_request');
  expect(decodeJwt((await exchange('nightly-1')).body.access_token).job).toBe('nightly-1');
});
