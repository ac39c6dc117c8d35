/** Tests for `tenant create`, `tenant list`, `tenant update`, `tenant delete` and `tenant bundle-key` against a recording server. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer } from '../test-helpers.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
});

const acme = { id: 'acme', name: 'Acme Corp', createdAt: '2025-01-01T00:00:00.000Z', activeVersion: 3, settings: {} };

describe('verity tenant', () => {
  it('create posts {id, name} and prints the tenant', async () => {
    server = await startFakeServer({ 'POST /admin/v1/tenants': ({ body }) => ({ status: 201, body: { ...acme, ...(body as object) } }) });
    const { code, out } = await run(['tenant', 'create', 'acme', '--name', 'Acme Corp', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('created tenant acme\n');
    expect(server.requests[0]?.body).toEqual({ id: 'acme', name: 'Acme Corp' });
    expect(server.requests[0]?.headers['content-type']).toBe('application/json');
  });

  it('create without --name sends only the id; a conflict exits 3', async () => {
    server = await startFakeServer({ 'POST /admin/v1/tenants': { status: 409, body: { code: 'ERR_TENANT_EXISTS', message: 'tenant acme exists' } } });
    const { code, err } = await run(['tenant', 'create', 'acme', '--url', server.url]);
    expect(server.requests[0]?.body).toEqual({ id: 'acme' });
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('tenant acme exists');
  });

  it('list prints a table, or the answer with --json', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants': { status: 200, body: { tenants: [acme, { ...acme, id: 'globex', activeVersion: null }] } } });
    const table = await run(['tenant', 'list', '--url', server.url]);
    expect(table.code).toBe(EXIT.OK);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ACTIVE VERSION\s+CREATED$/);
    expect(lines[1]).toMatch(/^acme\s+Acme Corp\s+3\s+2025-01-01/);
    expect(lines[2]).toMatch(/^globex\s+Acme Corp\s+-\s+/);
    const json = await run(['tenant', 'list', '--json', '--url', server.url]);
    expect(JSON.parse(json.out)).toEqual({ tenants: [acme, { ...acme, id: 'globex', activeVersion: null }] });
  });

  it('delete needs --yes (exit 2, nothing sent), then sends DELETE and says the audit is kept', async () => {
    server = await startFakeServer({ 'DELETE /admin/v1/tenants/acme': { status: 200, body: { id: 'acme', deleted: true, auditKept: true } } });
    const refused = await run(['tenant', 'delete', 'acme', '--url', server.url]);
    expect(refused.code).toBe(EXIT.USAGE);
    expect(refused.err).toContain('--yes');
    expect(server.requests).toHaveLength(0);
    const { code, out } = await run(['tenant', 'delete', 'acme', '--yes', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('deleted tenant acme; its audit is kept\n');
    expect(server.requests[0]?.method).toBe('DELETE');
  });

  it('bundle-key prints the thumbprints to pin, one a line, and the keys with --json', async () => {
    const keys = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k', alg: 'ES256', use: 'sig' }], thumbprints: ['A'.repeat(43), 'B'.repeat(43)] };
    server = await startFakeServer({ 'GET /tenants/acme/bundle/keys': { status: 200, body: keys } });
    const { code, out } = await run(['tenant', 'bundle-key', 'acme', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(`${'A'.repeat(43)}\n${'B'.repeat(43)}\n`);
    expect(JSON.parse((await run(['tenant', 'bundle-key', 'acme', '--json', '--url', server.url])).out)).toEqual(keys);
  });

  it('update sends the settings file, then --set (JSON, else a string) over it, then --unset as null', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-cli-'));
    try {
      await writeFile(join(dir, 'settings.json'), JSON.stringify({ gatewayRoutes: ['/a'], actionType: 'Old::Action' }));
      server = await startFakeServer({ 'PATCH /admin/v1/tenants/acme': ({ body }) => ({ status: 200, body: { ...acme, settings: (body as { settings: object }).settings } }) });
      const argv = ['tenant', 'update', 'acme', '--settings-file', 'settings.json', '--set', 'actionType=App::Action', '--set', 'validateRequests=true', '--unset', 'typeMapping', '--url', server.url];
      const { code, out } = await run(argv, { cwd: dir });
      expect(code).toBe(EXIT.OK);
      expect(server.requests[0]?.body).toEqual({ settings: { gatewayRoutes: ['/a'], actionType: 'App::Action', validateRequests: true, typeMapping: null } });
      expect(out).toMatch(/^updated tenant acme; its settings are now:\n/);
      const json = await run([...argv, '--json'], { cwd: dir });
      expect(JSON.parse(json.out)).toMatchObject({ id: 'acme', settings: { validateRequests: true } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('update refuses bad input before asking, and maps the server refusals to exit codes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-cli-'));
    try {
      await writeFile(join(dir, 'list.json'), '[1]');
      await writeFile(join(dir, 'broken.json'), '{');
      server = await startFakeServer({});
      const local = async (...flags: string[]) => (await run(['tenant', 'update', 'acme', ...flags, '--json', '--url', server?.url ?? ''], { cwd: dir })).out;
      expect(JSON.parse(await local())).toMatchObject({ error: { code: 'ERR_CLI_USAGE', exitCode: EXIT.USAGE } });
      expect(JSON.parse(await local('--set', '=x'))).toMatchObject({ error: { code: 'ERR_CLI_USAGE', exitCode: EXIT.USAGE } });
      expect(JSON.parse(await local('--settings-file', 'list.json'))).toMatchObject({ error: { code: 'ERR_CLI_SETTINGS_FILE', exitCode: EXIT.INVALID_INPUT } });
      expect(JSON.parse(await local('--settings-file', 'broken.json'))).toMatchObject({ error: { code: 'ERR_CLI_SETTINGS_FILE', exitCode: EXIT.INVALID_INPUT } });
      expect(JSON.parse(await local('--settings-file', 'missing.json'))).toMatchObject({ error: { code: 'ERR_CLI_FILE', exitCode: EXIT.INVALID_INPUT } });
      expect(server.requests).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    for (const [status, code, exit] of [[400, 'ERR_TENANT_INVALID', EXIT.INVALID_INPUT], [403, 'ERR_AUTH_FORBIDDEN', EXIT.AUTH], [404, 'ERR_TENANT_NOT_FOUND', EXIT.NOT_FOUND]] as const) {
      await server?.close();
      server = await startFakeServer({ 'PATCH /admin/v1/tenants/acme': { status, body: { code, message: 'no' } } });
      expect((await run(['tenant', 'update', 'acme', '--set', 'validateRequests=1', '--url', server.url])).code, code).toBe(exit);
    }
  });

  it('update --help names the settings and the flags', async () => {
    const { code, out } = await run(['tenant', 'update', '--help']);
    expect(code).toBe(EXIT.OK);
    for (const text of ['--settings-file FILE', '--set KEY=VALUE', '--unset KEY', 'validateRequests', '--json']) expect(out).toContain(text);
  });
});
