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

  it('diff reads both versions and prints +/-/~ lines with each text change', async () => {
    const v1 = { validationMode: 'off', policies: { edited: 'permit(principal, action, resource)\nwhen { context.a };', old: 'forbid(principal, action, resource);' }, templates: {}, links: [] };
    const v3 = { ...v1, schema: 'entity User;\n', policies: { edited: 'permit(principal, action, resource)\nwhen { context.b };', new: 'permit(principal, action, resource);' }, links: [{ id: 'l1', templateId: 't', values: {} }], templates: { t: 'permit(principal == ?principal, action, resource);' } };
    server = await startFakeServer({
      [`GET ${base}/versions/1`]: { status: 200, body: { ...info(1, false), content: v1 } },
      [`GET ${base}/versions/active`]: { status: 200, body: { ...info(3, true), content: v3 } },
    });
    const { code, out } = await run(['policy', 'diff', '-t', 'acme co', '1', 'active', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(server.requests.map((r) => r.path).sort()).toEqual([`${base}/versions/1`, `${base}/versions/active`]);
    expect(out).toBe(
      [
        'version 1 -> version 3',
        '+ policy new',
        '    @@ -0,0 +1,1 @@',
        '    +permit(principal, action, resource);',
        '- policy old',
        '    @@ -1,1 +0,0 @@',
        '    -forbid(principal, action, resource);',
        '~ policy edited',
        '    @@ -1,2 +1,2 @@',
        '     permit(principal, action, resource)',
        '    -when { context.a };',
        '    +when { context.b };',
        '+ template t',
        '    @@ -0,0 +1,1 @@',
        '    +permit(principal == ?principal, action, resource);',
        '+ link l1',
        '    @@ -0,0 +1,5 @@',
        '    +{',
        '    +  "id": "l1",',
        '    +  "templateId": "t",',
        '    +  "values": {}',
        '    +}',
        '+ schema',
        '    @@ -0,0 +1,1 @@',
        '    +entity User;',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await run(['policy', 'diff', '-t', 'acme co', '1', 'active', '--url', server.url, '--json'])).out);
    expect(json).toMatchObject({ from: 1, to: 3, policies: { added: ['new'], removed: ['old'], changed: ['edited'] }, schemaChanged: true });
    expect((await run(['policy', 'diff', '-t', 'acme co', '1', 'latest', '--url', server.url])).code).toBe(EXIT.USAGE);
    expect((await run(['policy', 'diff', '-t', 'acme co', '1', '9', '--url', server.url])).code).toBe(EXIT.NOT_FOUND);
  });

  it('diff --requests decides on both versions with the tenant\'s entities (every page) and settings', async () => {
    const content = (group: string) => ({ validationMode: 'off', policies: { readers: `permit(principal, action == Acme::Action::"read", resource) when { principal in Group::"${group}" };` }, templates: {}, links: [] });
    const tenant = '/admin/v1/tenants/acme%20co';
    server = await startFakeServer({
      [`GET ${base}/versions/1`]: { status: 200, body: { ...info(1, false), content: content('staff') } },
      [`GET ${base}/versions/2`]: { status: 200, body: { ...info(2, true), content: content('admins') } },
      [`GET ${tenant}`]: { status: 200, body: { id: 'acme co', name: 'acme co', settings: { actionType: 'Acme::Action' } } },
      [`GET ${tenant}/entities`]: ({ query }) =>
        query['after'] === 'p2'
          ? { status: 200, body: { entities: [{ uid: { type: 'User', id: 'carol' }, attrs: {}, parents: [{ type: 'Group', id: 'admins' }] }], next: null } }
          : { status: 200, body: { entities: [{ uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] }], next: 'p2' } },
    });
    const ask = (who: string) => ({ name: `${who} reads`, request: { subject: { type: 'User', id: who }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } } });
    await writeFile(join(dir, 'requests.json'), JSON.stringify([ask('bob'), ask('carol'), ask('dave')]));
    const { code, out } = await run(['policy', 'diff', '-t', 'acme co', '1', '2', '--requests', 'requests.json', '--exit-code', '--url', server.url], { cwd: dir });
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(out).toContain(
      [
        '3 requests: 2 decisions differ',
        '~ decision bob reads (User::"bob" Acme::Action::"read" Doc::"d")',
        '    from: allow  determined by readers',
        '    to:   deny   no policy applied',
        '~ decision carol reads (User::"carol" Acme::Action::"read" Doc::"d")',
        '    from: deny   no policy applied',
        '    to:   allow  determined by readers',
        '',
      ].join('\n'),
    );
    // The tenant's entities and settings are read once for both versions.
    expect(server.requests.filter((r) => r.path === `${tenant}/entities`)).toHaveLength(2);
    expect(server.requests.filter((r) => r.path === tenant)).toHaveLength(1);
  });
});
