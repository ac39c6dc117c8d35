/** Tests for `identity-source add|list|remove` against a recording server. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer } from '../test-helpers.js';

let server: FakeServer | undefined;
let dir: string;
const base = '/admin/v1/tenants/acme%20co/identity-sources';
const env = { VERITY_ADMIN_TOKEN: 'vrt_admin_secret' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-idsrc-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

const add = (url: string, ...more: string[]) => ['identity-source', 'add', '-t', 'acme co', 'okta/main', '--issuer', 'https://idp.example/', '--audience', 'api://orders', '--principal-type', 'Acme::User', '--url', url, ...more];

describe('verity identity-source add', () => {
  it('PUTs discovery with only the given members, Bearer admin token', async () => {
    server = await startFakeServer({ [`PUT ${base}/okta%2Fmain`]: ({ body }) => ({ status: 200, body: { id: 'okta/main', ...(body as object) } }) });
    const { code, out, err } = await run(add(server.url, '--discovery'), { env });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('saved identity source okta/main (issuer https://idp.example/)\n');
    const request = server.requests[0];
    expect(request?.headers['authorization']).toBe('Bearer vrt_admin_secret');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({ issuer: 'https://idp.example/', keys: { kind: 'discovery' }, audiences: ['api://orders'], claims: { principalType: 'Acme::User' } });
    expect(out + err).not.toContain('vrt_admin_secret');
  });

  it('sends repeatable audiences and algorithms, tolerance and the claim mapping; --json prints the answer', async () => {
    server = await startFakeServer({ [`PUT ${base}/okta%2Fmain`]: ({ body }) => ({ status: 200, body }) });
    const argv = add(server.url, '--jwks-uri', 'https://idp.example/keys', '--audience', 'api://billing', '--algorithm', 'ES256', '--algorithm', 'PS256', '--clock-tolerance', '0',
      '--id-claim', 'email', '--groups-claim', 'groups', '--group-type', 'Acme::Team', '--attribute', 'dept=department', '--attribute', 'level=x=y', '--context', 'scopes=scp', '--json');
    const { code, out } = await run(argv, { env });
    expect(code).toBe(EXIT.OK);
    const expected = {
      issuer: 'https://idp.example/',
      keys: { kind: 'jwks', jwksUri: 'https://idp.example/keys' },
      audiences: ['api://orders', 'api://billing'],
      algorithms: ['ES256', 'PS256'],
      clockToleranceSec: 0,
      claims: { principalType: 'Acme::User', idClaim: 'email', groupsClaim: 'groups', groupType: 'Acme::Team', attributes: { dept: 'department', level: 'x=y' }, context: { scopes: 'scp' } },
    };
    expect(server.requests[0]?.body).toEqual(expected);
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('--keys reads a JWKS file or a bare array of public JWKs', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    await writeFile(join(dir, 'array.json'), JSON.stringify([jwk]));
    server = await startFakeServer({ [`PUT ${base}/okta%2Fmain`]: ({ body }) => ({ status: 200, body }) });
    expect((await run(add(server.url, '--keys', 'jwks.json'), { env, cwd: dir })).code).toBe(EXIT.OK);
    expect((await run(add(server.url, '--keys', join(dir, 'array.json')), { env })).code).toBe(EXIT.OK);
    for (const request of server.requests) expect((request.body as { keys: unknown }).keys).toEqual({ kind: 'inline', keys: [jwk] });
  });

  it('refuses private keys, non-JSON and empty key files with exit 3, before any request, without echoing the key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    await writeFile(join(dir, 'private.json'), JSON.stringify({ keys: [jwk] }));
    await writeFile(join(dir, 'bad.json'), 'not json');
    await writeFile(join(dir, 'empty.json'), '{"keys": []}');
    server = await startFakeServer({});
    for (const file of ['private.json', 'bad.json', 'empty.json', 'missing.json']) {
      const { code, out, err } = await run(add(server.url, '--keys', file), { env, cwd: dir });
      expect(code).toBe(EXIT.INVALID_INPUT);
      expect(out + err).not.toContain(String(jwk.d));
    }
    expect(server.requests).toHaveLength(0);
  });

  it('usage errors exit 2 before any request', async () => {
    server = await startFakeServer({});
    const url = server.url;
    const cases = [
      add(url), // no key source
      add(url, '--discovery', '--jwks-uri', 'https://idp.example/keys'),
      add(url, '--discovery', '--attribute', 'noequals'),
      add(url, '--discovery', '--attribute', 'a=b', '--attribute', 'a=c'),
      add(url, '--discovery', '--context', '=claim'),
      add(url, '--discovery', '--clock-tolerance', '-5'),
      ['identity-source', 'add', '-t', 'acme', 'x', '--discovery', '--issuer', 'https://i/', '--principal-type', 'User', '--url', url],
      ['identity-source', 'add', '-t', 'acme', 'x', '--discovery', '--audience', 'a', '--principal-type', 'User', '--url', url],
      ['identity-source', 'add', '-t', 'acme', 'x', '--discovery', '--audience', 'a', '--issuer', 'https://i/', '--url', url],
      ['identity-source', 'add', 'x', '--discovery', '--audience', 'a', '--issuer', 'https://i/', '--principal-type', 'User', '--url', url],
    ];
    for (const argv of cases) expect((await run(argv, { env })).code, argv.join(' ')).toBe(EXIT.USAGE);
    expect(server.requests).toHaveLength(0);
  });

  it("maps the server's ERR_IDENTITY_SOURCE_INVALID to exit 3 and 401 to exit 5", async () => {
    server = await startFakeServer({
      [`PUT ${base}/okta%2Fmain`]: ({ headers }) =>
        headers['authorization'] === 'Bearer vrt_admin_secret'
          ? { status: 400, body: { code: 'ERR_IDENTITY_SOURCE_INVALID', message: 'identity source: issuer must use https' } }
          : { status: 401, body: { code: 'ERR_AUTH_REQUIRED', message: 'a credential is required' } },
    });
    const invalid = await run(add(server.url, '--discovery', '--json'), { env });
    expect(invalid.code).toBe(EXIT.INVALID_INPUT);
    expect(JSON.parse(invalid.out)).toMatchObject({ error: { code: 'ERR_IDENTITY_SOURCE_INVALID', exitCode: EXIT.INVALID_INPUT } });
    expect((await run(add(server.url, '--discovery'))).code).toBe(EXIT.AUTH);
  });

  it('help marks repeatable flags', async () => {
    const { out } = await run(['identity-source', 'add', '--help']);
    expect(out).toMatch(/--audience A…\s+an accepted 'aud' \(required\) \(repeatable\)/);
    expect(out).toMatch(/--attribute NAME=CLAIM…/);
    expect(out).not.toMatch(/--issuer URL…/);
  });
});

describe('verity identity-source list / remove', () => {
  const sources = [
    { id: 'okta', issuer: 'https://idp.example/', keys: { kind: 'discovery' }, audiences: ['a', 'b'], algorithms: ['RS256'], clockToleranceSec: 30, claims: { principalType: 'User' } },
    { id: 'local', issuer: 'http://127.0.0.1:9/', keys: { kind: 'jwks', jwksUri: 'http://127.0.0.1:9/jwks' }, audiences: ['c'], algorithms: ['ES256'], clockToleranceSec: 30, claims: { principalType: 'Svc' } },
  ];

  it('list prints a table, or the answer with --json', async () => {
    server = await startFakeServer({ [`GET ${base}`]: { status: 200, body: { sources } } });
    const table = await run(['identity-source', 'list', '-t', 'acme co', '--url', server.url], { env });
    expect(table.code).toBe(EXIT.OK);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ISSUER\s+KEYS\s+AUDIENCES\s+PRINCIPAL$/);
    expect(lines[1]).toMatch(/^okta\s+https:\/\/idp\.example\/\s+discovery\s+a,b\s+User$/);
    expect(lines[2]).toMatch(/^local\s+\S+\s+jwks http:\/\/127\.0\.0\.1:9\/jwks\s+c\s+Svc$/);
    const json = await run(['identity-source', 'list', '-t', 'acme co', '--json', '--url', server.url], { env });
    expect(JSON.parse(json.out)).toEqual({ sources });
  });

  it('list says so when there are none', async () => {
    server = await startFakeServer({ [`GET ${base}`]: { status: 200, body: { sources: [] } } });
    expect((await run(['identity-source', 'list', '-t', 'acme co', '--url', server.url], { env })).out).toBe('no identity sources\n');
  });

  it('remove DELETEs the source (204); an unknown one exits 6', async () => {
    server = await startFakeServer({
      [`DELETE ${base}/okta`]: { status: 204 },
      [`DELETE ${base}/nope`]: { status: 404, body: { code: 'ERR_IDENTITY_SOURCE_NOT_FOUND', message: 'no identity source nope' } },
    });
    const ok = await run(['identity-source', 'remove', '-t', 'acme co', 'okta', '--url', server.url], { env });
    expect(ok).toMatchObject({ code: EXIT.OK, out: 'removed identity source okta\n' });
    expect(server.requests[0]).toMatchObject({ method: 'DELETE', path: `${base}/okta` });
    expect(server.requests[0]?.headers['authorization']).toBe('Bearer vrt_admin_secret');
    const json = await run(['identity-source', 'remove', '-t', 'acme co', 'okta', '--json', '--url', server.url], { env });
    expect(JSON.parse(json.out)).toEqual({ removed: 'okta' });
    const missing = await run(['identity-source', 'remove', '-t', 'acme co', 'nope', '--url', server.url], { env });
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.err).toContain('no identity source nope');
  });
});
