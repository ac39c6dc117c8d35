/**
 * `workload register|list|remove|join-token` and `ca show|rotate` against a recording server.
 *
 * The server answers here are the shapes of the issue-11 admin API contract (the workload and CA
 * endpoints of docs/workload-identity.md); e2e tests against the real server come with it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer } from '../test-helpers.js';

let server: FakeServer | undefined;
const base = '/admin/v1/tenants/acme';
const env = { VERITY_ADMIN_TOKEN: 'vrt_admin_secret' };
const JOIN_TOKEN = 'vjt_once_only_secret';

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const workload = {
  id: 'wl_1',
  tenant: 'acme',
  spiffe_id: 'spiffe://acme.example/ns/prod/sa/api',
  selectors: ['k8s:ns:prod', 'k8s:sa:api'],
  attestor: 'k8s_psat',
  x509_ttl_sec: 600,
  jwt_ttl_sec: 300,
  created_at: '2025-01-01T00:00:00.000Z',
};

const ca = {
  trust_domain: 'acme.example',
  authorities: [
    { id: 'ca_2', state: 'active', root_pem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', intermediate_pem: 'INTERMEDIATE', not_after: '2026-01-01T00:00:00.000Z' },
    { id: 'ca_1', state: 'retiring', root_pem: '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n', intermediate_pem: 'INTERMEDIATE', not_after: '2025-06-01T00:00:00.000Z', retire_after: '2025-01-02T00:00:00.000Z' },
  ],
  jwt_authorities: [{ kid: 'k2', state: 'active' }, { kid: 'k1', state: 'retiring' }],
};

describe('verity workload register', () => {
  it('POSTs the registration with only the given members, Bearer admin token', async () => {
    server = await startFakeServer({ [`POST ${base}/workloads`]: { status: 201, body: workload } });
    const argv = ['workload', 'register', '-t', 'acme', '--spiffe-id', workload.spiffe_id, '--selector', 'k8s:ns:prod', '--selector', 'k8s:sa:api', '--attestor', 'k8s_psat', '--x509-ttl', '600', '--url', server.url];
    const { code, out } = await run(argv, { env });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('registered workload wl_1 (spiffe://acme.example/ns/prod/sa/api, attestor k8s_psat)\n');
    const request = server.requests[0];
    expect(request?.headers['authorization']).toBe('Bearer vrt_admin_secret');
    expect(request?.body).toEqual({ spiffe_id: workload.spiffe_id, selectors: ['k8s:ns:prod', 'k8s:sa:api'], attestor: 'k8s_psat', x509_ttl_sec: 600 });
  });

  it('sends just the SPIFFE id by default; --json prints the answer', async () => {
    server = await startFakeServer({ [`POST ${base}/workloads`]: { status: 201, body: workload } });
    const { code, out } = await run(['workload', 'register', '-t', 'acme', '--spiffe-id', workload.spiffe_id, '--jwt-ttl', '120', '--json', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(server.requests[0]?.body).toEqual({ spiffe_id: workload.spiffe_id, jwt_ttl_sec: 120 });
    expect(JSON.parse(out)).toEqual(workload);
  });

  it.each([
    [['--spiffe-id', 'spiffe://a/b', '--selector', 'nocolon'], '--selector must be type:value'],
    [['--spiffe-id', 'spiffe://a/b', '--attestor', 'x509pop'], '--attestor must be join_token or k8s_psat'],
    [['--spiffe-id', 'spiffe://a/b', '--x509-ttl', '0'], '--x509-ttl must be a positive integer'],
    [[], '--spiffe-id is required'],
  ])('usage errors exit 2 without a request: %j', async (flags, message) => {
    server = await startFakeServer({});
    const { code, err } = await run(['workload', 'register', '-t', 'acme', ...flags, '--url', server.url], { env });
    expect(code).toBe(EXIT.USAGE);
    expect(err).toContain(message);
    expect(server.requests).toEqual([]);
  });

  it("passes the server's refusals on with their exit codes", async () => {
    server = await startFakeServer({
      [`POST ${base}/workloads`]: { status: 409, body: { code: 'ERR_WORKLOAD_EXISTS', message: 'a workload with this SPIFFE id is registered' } },
      [`POST /admin/v1/tenants/other/workloads`]: { status: 400, body: { code: 'ERR_SPIFFE_ID_INVALID', message: 'the SPIFFE id is not in the trust domain of the tenant' } },
    });
    const exists = await run(['workload', 'register', '-t', 'acme', '--spiffe-id', workload.spiffe_id, '--json', '--url', server.url], { env });
    expect(exists.code).toBe(EXIT.INVALID_INPUT);
    expect(JSON.parse(exists.out).error.code).toBe('ERR_WORKLOAD_EXISTS');
    const invalid = await run(['workload', 'register', '-t', 'other', '--spiffe-id', 'spiffe://elsewhere/x', '--url', server.url], { env });
    expect(invalid.code).toBe(EXIT.INVALID_INPUT);
    expect(invalid.err).toBe('verity: the SPIFFE id is not in the trust domain of the tenant\n');
  });
});

describe('verity workload list and remove', () => {
  it('lists workloads as a table', async () => {
    server = await startFakeServer({ [`GET ${base}/workloads`]: { status: 200, body: { workloads: [workload] } } });
    const { code, out } = await run(['workload', 'list', '-t', 'acme', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(out.split('\n')[0]).toMatch(/^ID\s+SPIFFE ID\s+ATTESTOR\s+X509 TTL\s+JWT TTL\s+CREATED\s+SELECTORS$/);
    expect(out).toContain('wl_1  spiffe://acme.example/ns/prod/sa/api  k8s_psat  600s');
    expect(out).toContain('k8s:ns:prod,k8s:sa:api');
  });

  it('says when there are none', async () => {
    server = await startFakeServer({ [`GET ${base}/workloads`]: { status: 200, body: { workloads: [] } } });
    expect((await run(['workload', 'list', '-t', 'acme', '--url', server.url], { env })).out).toBe('no workloads\n');
  });

  it('DELETEs the workload and says until when its id is refused; 404 exits 6', async () => {
    server = await startFakeServer({ [`DELETE ${base}/workloads/wl_1`]: { status: 200, body: { removed: true, denied_until: '2025-01-01T01:00:00.000Z' } } });
    const removed = await run(['workload', 'remove', '-t', 'acme', 'wl_1', '--url', server.url], { env });
    expect(removed).toEqual({ code: EXIT.OK, out: 'removed workload wl_1; its SPIFFE id is refused until 2025-01-01T01:00:00.000Z\n', err: '' });
    const missing = await run(['workload', 'remove', '-t', 'acme', 'wl_9', '--url', server.url], { env });
    expect(missing.code).toBe(EXIT.NOT_FOUND);
  });
});

describe('verity workload join-token', () => {
  it('prints only the token, for $(…)', async () => {
    server = await startFakeServer({ [`POST ${base}/workloads/wl_1/join-tokens`]: { status: 201, body: { join_token: JOIN_TOKEN, expires_at: '2025-01-01T00:05:00.000Z' } } });
    const { code, out, err } = await run(['workload', 'join-token', '-t', 'acme', 'wl_1', '--ttl', '120', '--url', server.url], { env });
    expect({ code, out, err }).toEqual({ code: EXIT.OK, out: `${JOIN_TOKEN}\n`, err: '' });
    expect(server.requests[0]?.body).toEqual({ ttl_sec: 120 });
  });

  it('--json prints the whole answer; an answer without a token is a bad answer (exit 4)', async () => {
    server = await startFakeServer({
      [`POST ${base}/workloads/wl_1/join-tokens`]: { status: 201, body: { join_token: JOIN_TOKEN, expires_at: 'x' } },
      [`POST ${base}/workloads/wl_2/join-tokens`]: { status: 201, body: { expires_at: 'x' } },
    });
    expect(JSON.parse((await run(['workload', 'join-token', '-t', 'acme', 'wl_1', '--json', '--url', server.url], { env })).out)).toEqual({ join_token: JOIN_TOKEN, expires_at: 'x' });
    expect(server.requests[0]?.body).toEqual({});
    const bad = await run(['workload', 'join-token', '-t', 'acme', 'wl_2', '--url', server.url], { env });
    expect(bad.code).toBe(EXIT.SERVER);
  });
});

describe('verity ca show and rotate', () => {
  it('shows the trust domain, authorities and JWT keys, never a PEM', async () => {
    server = await startFakeServer({ [`GET ${base}/ca`]: { status: 200, body: ca } });
    const { code, out } = await run(['ca', 'show', '-t', 'acme', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('trust domain acme.example');
    expect(out).toMatch(/ca_1\s+retiring\s+2025-06-01T00:00:00.000Z\s+2025-01-02T00:00:00.000Z/);
    expect(out).toMatch(/k2\s+active/);
    expect(out).not.toContain('BEGIN CERTIFICATE');
  });

  it('--pem prints every trusted root', async () => {
    server = await startFakeServer({ [`GET ${base}/ca`]: { status: 200, body: ca } });
    const { out } = await run(['ca', 'show', '-t', 'acme', '--pem', '--url', server.url], { env });
    expect(out).toBe(`${ca.authorities[0]?.root_pem}${ca.authorities[1]?.root_pem}`);
  });

  it('rotate POSTs and names the new active authority', async () => {
    server = await startFakeServer({ [`POST ${base}/ca/rotate`]: { status: 200, body: ca } });
    const { code, out } = await run(['ca', 'rotate', '-t', 'acme', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(out.split('\n')[0]).toBe('rotated the CA of trust domain acme.example: authority ca_2 is active');
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${base}/ca/rotate`]);
  });

  it('refusals keep their exit codes (403 exits 5)', async () => {
    server = await startFakeServer({ [`POST ${base}/ca/rotate`]: { status: 403, body: { code: 'ERR_AUTH_FORBIDDEN', message: 'this credential may not manage the CA' } } });
    expect((await run(['ca', 'rotate', '-t', 'acme', '--url', server.url], { env })).code).toBe(EXIT.AUTH);
  });
});

describe('no secret in any output', () => {
  it('the admin token and a join token appear only where asked for', async () => {
    server = await startFakeServer({ [`POST ${base}/workloads/wl_1/join-tokens`]: { status: 500, body: { code: 'ERR_INTERNAL', message: 'boom' } } });
    const failed = await run(['workload', 'join-token', '-t', 'acme', 'wl_1', '--url', server.url], { env });
    expect(failed.code).toBe(EXIT.SERVER);
    expect(failed.out + failed.err).not.toContain('vrt_admin_secret');
  });
});
