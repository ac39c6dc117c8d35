/** Tests for `dev idp` and `dev token`: the served issuer verifies the minted tokens, and a real server trusts `--source`. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPolicyFolder, startServer } from '@verity/server';
import { EXIT } from '../errors.js';
import { runCli } from '../run-cli.js';
import { createTestIo, run } from '../test-helpers.js';

const AUDIENCE = 'https://api.acme.example';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-dev-idp-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `verity dev idp` in-process until `stop()`; resolves once it printed its issuer. */
async function startIdp(...argv: string[]): Promise<{ issuer: string; jwksUri: string; out: () => string; stop: () => Promise<number> }> {
  const controller = new AbortController();
  const io = createTestIo({ cwd: dir, signal: controller.signal });
  const exited = runCli(['dev', 'idp', '--port', '0', ...argv], io);
  for (let waited = 0; !io.out().includes('jwks_uri:'); waited += 10) {
    if (waited > 10_000) throw new Error(`dev idp did not start: ${io.err()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, 'm').exec(io.out())?.[1] as string;
  return { issuer: field('issuer'), jwksUri: field('jwks_uri'), out: io.out, stop: () => (controller.abort(), exited) };
}

async function devToken(...argv: string[]): Promise<string> {
  const { code, out, err } = await run(['dev', 'token', ...argv], { cwd: dir });
  expect([code, err.includes(out.trim())]).toEqual([EXIT.OK, false]);
  return out.trim();
}

describe('verity dev idp (serving) and dev token', () => {
  it('serves discovery and a JWKS that verifies the tokens dev token mints, from a 0600 key file, git-ignored and kept across restarts', async () => {
    const idp = await startIdp();
    try {
      expect(idp.out()).toMatch(/DEVELOPMENT ONLY/);
      expect(idp.out()).toContain(`verity identity-source add --tenant acme dev --discovery --issuer ${idp.issuer} --audience ${AUDIENCE}`);
      const discovery = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
      expect(discovery).toMatchObject({ issuer: idp.issuer, jwks_uri: idp.jwksUri, id_token_signing_alg_values_supported: ['ES256'] });

      const token = await devToken('--sub', 'alice', '--claims', '{"groups":["admins"]}', '--ttl', '120');
      const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience: AUDIENCE, algorithms: ['ES256'] });
      expect(payload).toMatchObject({ sub: 'alice', groups: ['admins'] });
      expect((payload.exp as number) - (payload.iat as number)).toBe(120);
      expect(protectedHeader.alg).toBe('ES256');
      expect((await stat(join(dir, '.verity-dev-idp/key.json'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, '.verity-dev-idp'))).mode & 0o777).toBe(0o700);
      expect(await readFile(join(dir, '.verity-dev-idp/.gitignore'), 'utf8')).toBe('*\n');
    } finally {
      expect(await idp.stop()).toBe(EXIT.OK);
    }

    // A restart (another port, so another issuer) serves the same key: the earlier token still verifies.
    const again = await startIdp();
    try {
      const earlier = await devToken('--sub', 'bob');
      expect(decodeJwt(earlier).iss).toBe(again.issuer);
      const { keys } = (await (await fetch(again.jwksUri)).json()) as { keys: Array<{ kid: string; d?: string }> };
      expect(keys.map((k) => [k.kid, k.d])).toEqual([[decodeProtectedHeader(earlier).kid, undefined]]);
      await expect(jwtVerify(earlier, createRemoteJWKSet(new URL(again.jwksUri)), { issuer: again.issuer, audience: AUDIENCE })).resolves.toBeDefined();
    } finally {
      await again.stop();
    }
  });

  it('names its JWKS URL, not discovery, when --issuer is another name; a port in use is a usage error', async () => {
    const idp = await startIdp('--issuer', 'https://idp.dev.example', '--tenant', 'shop', '--aud', 'api://shop');
    try {
      expect(idp.issuer).toBe('https://idp.dev.example');
      expect(idp.out()).toContain(`verity identity-source add --tenant shop dev --jwks-uri ${idp.jwksUri} --issuer https://idp.dev.example --audience api://shop`);
      const port = new URL(idp.jwksUri).port;
      const taken = await run(['dev', 'idp', '--port', port], { cwd: dir });
      expect([taken.code, taken.err]).toEqual([EXIT.USAGE, `verity: 127.0.0.1:${port} is in use; choose another --port\n`]);
    } finally {
      await idp.stop();
    }
  });

  it('makes one key when several commands start at once', async () => {
    const tokens = await Promise.all([1, 2, 3].map(() => devToken('--sub', 'alice')));
    expect(new Set(tokens.map((t) => decodeProtectedHeader(t).kid)).size).toBe(1);
    expect(decodeJwt(tokens[0] as string).iss).toBe('http://127.0.0.1:8900');
  });

  it('refuses bad flags (exit 2) and a key file others may read or that is not one (exit 3)', async () => {
    for (const argv of [[], ['--sub', ''], ['--sub', 'a', '--claims', '{"iss":"x"}'], ['--sub', 'a', '--claims', '[1]'], ['--sub', 'a', '--ttl', '0'], ['--sub', 'a', '--ttl', '86401']]) {
      expect((await run(['dev', 'token', ...argv], { cwd: dir })).code).toBe(EXIT.USAGE);
    }
    for (const argv of [['--issuer', 'ftp://idp'], ['--issuer', 'https://idp/?q=1'], ['--port', '70000']]) {
      expect((await run(['dev', 'idp', '--source', ...argv], { cwd: dir })).code).toBe(EXIT.USAGE);
    }
    await devToken('--sub', 'alice');
    const file = join(dir, '.verity-dev-idp/key.json');
    await chmod(file, 0o644);
    const loose = await run(['dev', 'token', '--sub', 'alice'], { cwd: dir });
    expect([loose.code, loose.out]).toEqual([EXIT.INVALID_INPUT, '']);
    expect(loose.err).toMatch(/may be read by other users/);
    await writeFile(file, '{"issuer":"x"}', { mode: 0o600 });
    await chmod(file, 0o600);
    expect((await run(['dev', 'token', '--sub', 'alice'], { cwd: dir })).err).toMatch(/not a development issuer key file/);
  });
});

describe('verity dev idp --source against a real server', () => {
  it('is accepted without --allow-insecure-identity-sources, and a minted token is allowed as the docs show', async () => {
    const adminToken = `vrt_${randomBytes(32).toString('base64url')}`;
    let log = '';
    const logStream = new Writable({ write: (chunk: Buffer, _encoding, done) => ((log += chunk.toString()), done()) });
    const server = await startServer({ port: 0, dataDir: null, adminToken, decisionAuth: 'open', print: () => {}, logStream });
    const admin = (method: string, path: string, body: unknown) =>
      fetch(server.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    try {
      expect((await admin('POST', '/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
      const policy = await readPolicyFolder(fileURLToPath(new URL('../../../../examples/three-tier/policy', import.meta.url)));
      expect((await admin('POST', '/admin/v1/tenants/acme/policies', { files: policy.files })).status).toBe(201);

      const source = await run(['dev', 'idp', '--source', '--issuer', 'https://idp.dev.example'], { cwd: dir });
      expect(source.code).toBe(EXIT.OK);
      expect(source.err).toMatch(/DEVELOPMENT ONLY/);
      expect(source.err).not.toMatch(/refuses the issuer/);
      const put = await admin('PUT', '/admin/v1/tenants/acme/identity-sources/dev', JSON.parse(source.out));
      expect(put.status).toBe(200);

      const token = await devToken('--sub', 'alice', '--claims', '{"scope":"orders:read"}');
      const decide = (resource: string) =>
        fetch(`${server.url}/tenants/acme/access/v1/evaluation`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token, audience: AUDIENCE, action: { name: 'GET' }, resource: { type: 'route', id: resource } }),
        }).then((r) => r.json() as Promise<{ decision: boolean; context?: { reason_admin?: { determining_policies?: string[] } } }>);
      const allowed = await decide('/orders');
      expect([allowed.decision, allowed.context?.reason_admin?.determining_policies]).toEqual([true, ['gateway.read-routes']]);
      expect((await decide('/admin')).decision).toBe(false);
      expect(log).not.toContain(token);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('says that a local issuer needs an https --issuer on a server without the insecure flag', async () => {
    const { code, out, err } = await run(['dev', 'idp', '--source'], { cwd: dir });
    expect(code).toBe(EXIT.OK);
    expect(JSON.parse(out)).toMatchObject({ issuer: 'http://127.0.0.1:8900', keys: { kind: 'inline' }, audiences: [AUDIENCE], algorithms: ['ES256'] });
    expect(JSON.parse(out).keys.keys[0].d).toBeUndefined();
    expect(err).toMatch(/refuses the issuer http:\/\/127\.0\.0\.1:8900, even with inline keys; give an https --issuer/);
    expect(JSON.parse(await readFile(join(dir, '.verity-dev-idp/key.json'), 'utf8')).issuer).toBe('http://127.0.0.1:8900');
  });
});
