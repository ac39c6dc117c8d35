/** Tests for `policy push|versions|activate|diff` against a recording server. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer } from '../test-helpers.js';

let server: FakeServer | undefined;
let dir: string;
const base = '/admin/v1/tenants/acme%20co/policies';
const info = (version: number, active: boolean) => ({ tenant: 'acme co', version, hash: 'ab'.repeat(32), createdAt: '2025-01-02T00:00:00.000Z', createdBy: 'admin', message: `v${version}`, active });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-push-'));
  await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);\n');
  await writeFile(join(dir, 'schema.cedarschema'), 'entity User;\n');
  await writeFile(join(dir, 'entities.json'), '[]');
  await mkdir(join(dir, 'tests'));
});
afterEach(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('verity policy push', () => {
  it('uploads files, schema, links and validation mode as one version (not entities)', async () => {
    server = await startFakeServer({ [`POST ${base}`]: { status: 201, body: info(4, true) } });
    const { code, out } = await run(['policy', 'push', '--tenant', 'acme co', dir, '-m', 'first', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(`pushed version 4 (active) sha256:${'ab'.repeat(32)}\n`);
    expect(server.requests[0]?.body).toEqual({
      files: { 'a.cedar': 'permit(principal, action, resource);\n' },
      schema: 'entity User;\n',
      validationMode: 'strict',
      links: [],
      message: 'first',
      activate: true,
      dryRun: false,
    });
  });

  it('--no-activate and --dry-run are passed on', async () => {
    server = await startFakeServer({ [`POST ${base}`]: { status: 200, body: { valid: true } } });
    const { code, out } = await run(['policy', 'push', '--tenant', 'acme co', dir, '--no-activate', '--dry-run', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('valid (dry run');
    expect(server.requests[0]?.body).toMatchObject({ activate: false, dryRun: true });
  });

  it("prints the server's diagnostics as file:line:col and exits 3", async () => {
    const diagnostics = [{ message: 'unexpected token', positions: [{ source: 'a.cedar', start: 26, end: 34 }] }];
    server = await startFakeServer({ [`POST ${base}`]: { status: 422, body: { code: 'ERR_POLICY_PARSE', message: 'Cedar could not parse the policies', diagnostics } } });
    const { code, err } = await run(['policy', 'push', '--tenant', 'acme co', dir, '--url', server.url]);
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('a.cedar:1:27: unexpected token');
  });

  it('needs --tenant (exit 2) and a readable folder (exit 3), before any request', async () => {
    server = await startFakeServer({});
    expect((await run(['policy', 'push', dir, '--url', server.url])).code).toBe(EXIT.USAGE);
    expect((await run(['policy', 'push', '-t', 'acme', join(dir, 'nope'), '--url', server.url])).code).toBe(EXIT.INVALID_INPUT);
    expect(server.requests).toHaveLength(0);
  });
});

describe('verity policy versions / activate / diff', () => {
  it('versions prints a table marking the active version', async () => {
    server = await startFakeServer({ [`GET ${base}/versions`]: { status: 200, body: { versions: [info(1, false), info(2, true)] } } });
    const { code, out } = await run(['policy', 'versions', '--tenant', 'acme co', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toMatch(/^2 \*\s+2025-01-02\S*\s+admin\s+abababababab\s+v2$/m);
  });

  it('activate posts {version}; a bad number exits 2; an unknown version exits 6', async () => {
    server = await startFakeServer({
      [`POST ${base}/activate`]: ({ body }) =>
        (body as { version: number }).version === 2 ? { status: 200, body: info(2, true) } : { status: 404, body: { code: 'ERR_POLICY_VERSION_NOT_FOUND', message: 'no version 9' } },
    });
    const ok = await run(['policy', 'activate', '-t', 'acme co', '2', '--url', server.url]);
    expect(ok).toMatchObject({ code: EXIT.OK, out: 'activated version 2\n' });
    expect(server.requests[0]?.body).toEqual({ version: 2 });
    expect((await run(['policy', 'activate', '-t', 'acme co', '9', '--url', server.url])).code).toBe(EXIT.NOT_FOUND);
    expect((await run(['policy', 'activate', '-t', 'acme co', 'two', '--url', server.url])).code).toBe(EXIT.USAGE);
  });

  it('diff asks from/to and prints +/-/~ lines', async () => {
    const diff = { from: 1, to: 3, policies: { added: ['new'], removed: ['old'], changed: ['edited'] }, templates: { added: [], removed: [], changed: [] }, links: { added: ['l1'], removed: [], changed: [] }, schemaChanged: true };
    server = await startFakeServer({ [`GET ${base}/diff`]: { status: 200, body: diff } });
    const { code, out } = await run(['policy', 'diff', '-t', 'acme co', '1', 'active', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(server.requests[0]?.query).toEqual({ from: '1', to: 'active' });
    expect(out).toBe(['version 1 -> 3', '+ policy new', '- policy old', '~ policy edited', '+ link l1', '~ schema', ''].join('\n'));
    expect((await run(['policy', 'diff', '-t', 'acme co', '1', 'latest', '--url', server.url])).code).toBe(EXIT.USAGE);
  });
});
