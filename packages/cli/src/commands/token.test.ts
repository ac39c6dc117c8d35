/** Tests for `token issue|exchange|revoke` against a recording server. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer, type RecordedRequest } from '../test-helpers.js';

let server: FakeServer | undefined;
let dir: string;
const tokenPath = '/tenants/acme%20co/oauth2/token';
const revokePath = '/tenants/acme%20co/oauth2/revoke';
// An id and secret with the characters RFC 6749 §2.3.1 makes a client form-urlencode first.
const env = { VERITY_CLIENT_ID: 'svc:a b', VERITY_CLIENT_SECRET: 'p@ss:wörd+/', VERITY_ADMIN_TOKEN: 'vrt_admin_secret' };
// base64('svc%3Aa+b' + ':' + 'p%40ss%3Aw%C3%B6rd%2B%2F'), written out so the test does not reuse the code under test.
const basic = `Basic ${Buffer.from('svc%3Aa+b:p%40ss%3Aw%C3%B6rd%2B%2F').toString('base64')}`;
const issued = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMifQ.ISSUED-SECRET-SIGNATURE';
const subject = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.SUBJECT-SECRET-SIGNATURE';
const tokenAnswer = { access_token: issued, token_type: 'Bearer', expires_in: 300, scope: 'orders:read' };

/** Nothing secret in what a run printed, apart from the token it was asked to print. */
function expectNoSecrets(text: string, ...also: string[]): void {
  for (const secret of ['p@ss:wörd+/', 'p%40ss', 'vrt_admin_secret', subject, basic.slice('Basic '.length), ...also]) expect(text).not.toContain(secret);
}

function expectClientRequest(request: RecordedRequest | undefined, path: string): void {
  expect(request).toMatchObject({ method: 'POST', path });
  expect(request?.headers['authorization']).toBe(basic);
  expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-token-'));
  await writeFile(join(dir, 'subject.jwt'), `${subject}\n`);
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('verity token issue', () => {
  it('asks for client_credentials with Basic auth (form-urlencoded id and secret), not the admin token', async () => {
    server = await startFakeServer({ [`POST ${tokenPath}`]: { status: 200, body: tokenAnswer } });
    const { code, out, err } = await run(['token', 'issue', '-t', 'acme co', '--scope', 'orders:read orders:write', '--audience', 'api://orders', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(`${issued}\n`);
    expect(err).toMatch(/^type Bearer, expires in 300s \(\d{4}-\d\d-\d\dT[^)]+\), scope orders:read\n$/);
    expectClientRequest(server.requests[0], tokenPath);
    expect(server.requests[0]?.body).toEqual({ grant_type: 'client_credentials', scope: 'orders:read orders:write', audience: 'api://orders' });
    expectNoSecrets(err, issued);
  });

  it('sends only grant_type without --scope/--audience; --json prints the whole answer', async () => {
    server = await startFakeServer({ [`POST ${tokenPath}`]: { status: 200, body: tokenAnswer } });
    const { code, out, err } = await run(['token', 'issue', '-t', 'acme co', '--json', '--url', server.url], { env });
    expect(code).toBe(EXIT.OK);
    expect(JSON.parse(out)).toEqual(tokenAnswer);
    expect(err).toBe('');
    expect(server.requests[0]?.body).toEqual({ grant_type: 'client_credentials' });
  });

  it('needs VERITY_CLIENT_ID and VERITY_CLIENT_SECRET (exit 2, no request)', async () => {
    server = await startFakeServer({});
    for (const partial of [{}, { VERITY_CLIENT_ID: 'svc' }, { VERITY_CLIENT_SECRET: 's', VERITY_ADMIN_TOKEN: 'vrt_admin_secret' }]) {
      const { code, err } = await run(['token', 'issue', '-t', 'acme co', '--url', server.url], { env: partial });
      expect(code).toBe(EXIT.USAGE);
      expect(err).toContain('VERITY_CLIENT_ID and VERITY_CLIENT_SECRET');
    }
    expect((await run(['token', 'issue', '--url', server.url], { env })).code).toBe(EXIT.USAGE);
    expect(server.requests).toHaveLength(0);
  });

  it('maps ERR_STS_INVALID_CLIENT to 5, ERR_STS_INVALID_SCOPE to 3, an unknown tenant to 6, without echoing secrets', async () => {
    const answers = {
      bad: { status: 401, body: { code: 'ERR_STS_INVALID_CLIENT', message: 'client authentication failed' } },
      wide: { status: 400, body: { code: 'ERR_STS_INVALID_SCOPE', message: 'scope not allowed' } },
    } as const;
    server = await startFakeServer({ [`POST ${tokenPath}`]: ({ body }) => ((body as { scope?: string }).scope === 'admin' ? answers.wide : answers.bad) });
    const denied = await run(['token', 'issue', '-t', 'acme co', '--url', server.url], { env });
    expect(denied.code).toBe(EXIT.AUTH);
    expect(denied.err).toBe('verity: client authentication failed\n');
    const json = await run(['token', 'issue', '-t', 'acme co', '--scope', 'admin', '--json', '--url', server.url], { env });
    expect(json.code).toBe(EXIT.INVALID_INPUT);
    expect(JSON.parse(json.out)).toMatchObject({ error: { code: 'ERR_STS_INVALID_SCOPE', exitCode: EXIT.INVALID_INPUT } });
    const unknown = await run(['token', 'issue', '-t', 'nope', '--url', server.url], { env });
    expect(unknown.code).toBe(EXIT.NOT_FOUND);
    for (const r of [denied, json, unknown]) expectNoSecrets(r.out + r.err);
  });

  it('an answer without access_token is a server failure (exit 4)', async () => {
    server = await startFakeServer({ [`POST ${tokenPath}`]: { status: 200, body: { token_type: 'Bearer' } } });
    expect((await run(['token', 'issue', '-t', 'acme co', '--url', server.url], { env })).code).toBe(EXIT.SERVER);
  });
});

describe('verity token exchange', () => {
  const exchanged = { ...tokenAnswer, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' };
  const argv = (url: string, ...more: string[]) => ['token', 'exchange', '-t', 'acme co', '--audience', 'api://billing', '--url', url, ...more];

  it('sends the RFC 8693 grant with the subject token from a file', async () => {
    server = await startFakeServer({ [`POST ${tokenPath}`]: { status: 200, body: exchanged } });
    const { code, out, err } = await run(argv(server.url, '--subject-token-file', 'subject.jwt', '--scope', 'orders:read'), { env, cwd: dir });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(`${issued}\n`);
    expectClientRequest(server.requests[0], tokenPath);
    expect(server.requests[0]?.body).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'api://billing',
      scope: 'orders:read',
    });
    expectNoSecrets(err, issued);
  });

  it("reads the subject token from stdin with '-'; --json prints the answer", async () => {
    server = await startFakeServer({ [`POST ${tokenPath}`]: { status: 200, body: exchanged } });
    const { code, out } = await run(argv(server.url, '--subject-token-file', '-', '--json'), { env, stdin: Readable.from([`  ${subject}\n`]) });
    expect(code).toBe(EXIT.OK);
    expect(JSON.parse(out)).toEqual(exchanged);
    expect(server.requests[0]?.body).toMatchObject({ subject_token: subject });
    expect(server.requests[0]?.body).not.toHaveProperty('scope');
  });

  it('a refused exchange exits 5 (403) or 3 (invalid_grant) without echoing the subject token', async () => {
    const denied = { status: 403, body: { code: 'ERR_STS_EXCHANGE_DENIED', message: 'the policy does not permit this exchange' } };
    const grant = { status: 400, body: { code: 'ERR_STS_INVALID_GRANT', message: 'the subject token is not acceptable' } };
    server = await startFakeServer({ [`POST ${tokenPath}`]: ({ body }) => ((body as { audience: string }).audience === 'api://billing' ? denied : grant) });
    const forbidden = await run(argv(server.url, '--subject-token-file', 'subject.jwt'), { env, cwd: dir });
    expect(forbidden.code).toBe(EXIT.AUTH);
    const invalid = await run(['token', 'exchange', '-t', 'acme co', '--audience', 'x', '--subject-token-file', 'subject.jwt', '--json', '--url', server.url], { env, cwd: dir });
    expect(invalid.code).toBe(EXIT.INVALID_INPUT);
    for (const r of [forbidden, invalid]) expectNoSecrets(r.out + r.err, issued);
  });

  it('usage errors (exit 2) and unreadable or empty token input (exit 3) send nothing', async () => {
    await writeFile(join(dir, 'empty.jwt'), '\n');
    await writeFile(join(dir, 'two.jwt'), 'a.b.c d.e.f');
    server = await startFakeServer({});
    expect((await run(argv(server.url), { env, cwd: dir })).code).toBe(EXIT.USAGE);
    expect((await run(['token', 'exchange', '-t', 'acme co', '--subject-token-file', 'subject.jwt', '--url', server.url], { env, cwd: dir })).code).toBe(EXIT.USAGE);
    expect((await run(argv(server.url, '--subject-token-file', '-'), { env })).code).toBe(EXIT.USAGE);
    expect((await run(argv(server.url, '--subject-token-file', 'subject.jwt'), { env: {}, cwd: dir })).code).toBe(EXIT.USAGE);
    for (const file of ['missing.jwt', 'empty.jwt', 'two.jwt']) expect((await run(argv(server.url, '--subject-token-file', file), { env, cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
    expect(server.requests).toHaveLength(0);
  });
});

describe('verity token revoke', () => {
  const revocations = '/admin/v1/tenants/acme%20co/revocations';

  it('--token-file POSTs token=… to the RFC 7009 endpoint as the client', async () => {
    server = await startFakeServer({ [`POST ${revokePath}`]: { status: 200 } });
    const { code, out, err } = await run(['token', 'revoke', '-t', 'acme co', '--token-file', 'subject.jwt', '--url', server.url], { env, cwd: dir });
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('token revoked');
    expectClientRequest(server.requests[0], revokePath);
    expect(server.requests[0]?.body).toEqual({ token: subject });
    expectNoSecrets(out + err);
    const piped = await run(['token', 'revoke', '-t', 'acme co', '--token-file', '-', '--json', '--url', server.url], { env, stdin: Readable.from([Buffer.from(subject)]) });
    expect(piped.code).toBe(EXIT.OK);
    expect(JSON.parse(piped.out)).toEqual({});
    expect(server.requests[1]?.body).toEqual({ token: subject });
  });

  it('--subject and --client POST to the admin revocations with the admin token', async () => {
    server = await startFakeServer({ [`POST ${revocations}`]: ({ body }) => ({ status: 201, body }) });
    const bySubject = await run(['token', 'revoke', '-t', 'acme co', '--subject', 'alice', '--url', server.url], { env });
    expect(bySubject).toMatchObject({ code: EXIT.OK, out: 'revoked every token of subject alice issued until now\n' });
    const byClient = await run(['token', 'revoke', '-t', 'acme co', '--client', 'svc', '--json', '--url', server.url], { env });
    expect(JSON.parse(byClient.out)).toEqual({ client: 'svc' });
    expect(server.requests.map((r) => r.body)).toEqual([{ subject: 'alice' }, { client: 'svc' }]);
    for (const request of server.requests) {
      expect(request.headers['authorization']).toBe('Bearer vrt_admin_secret');
      expect(request.headers['content-type']).toBe('application/json');
    }
  });

  it('needs exactly one of the three (exit 2); a refused admin credential exits 5', async () => {
    server = await startFakeServer({ [`POST ${revocations}`]: { status: 403, body: { code: 'ERR_AUTH_FORBIDDEN', message: 'not allowed' } } });
    const base = ['token', 'revoke', '-t', 'acme co', '--url', server.url];
    for (const extra of [[], ['--subject', 'a', '--client', 'b'], ['--subject', 'a', '--token-file', 'subject.jwt'], ['--subject', '']]) {
      expect((await run([...base, ...extra], { env, cwd: dir })).code, extra.join(' ')).toBe(EXIT.USAGE);
    }
    expect(server.requests).toHaveLength(0);
    expect((await run([...base, '--client', 'svc'], { env })).code).toBe(EXIT.AUTH);
  });
});
