/**
 * Tests for `tenant create`, `list`, `update`, `versions`, `diff`, `rollback`, `delete` (and its
 * audit export, verified offline by `audit verify --file`) and `bundle-key` against a recording server.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeAuditHash, GENESIS_HASH, type AuditEvent } from '@verity/core';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { SETTING_KEYS } from '../../../server/src/tenant-settings.js';
import { EXIT } from '../errors.js';
import { tenantUpdate } from './tenant-update.js';
import { run, startFakeServer, type FakeServer, type RecordedRequest } from '../test-helpers.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
});

const acme = { id: 'acme', name: 'Acme Corp', createdAt: '2025-01-01T00:00:00.000Z', activeVersion: 3, settings: {}, settingsVersion: 4 };

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
      expect(out).toMatch(/^updated tenant acme; its settings are now version 4:\n/);
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

  it('update and rollback send a message and, with --if-version, If-Match; a stale version exits 3', async () => {
    server = await startFakeServer({
      'PATCH /admin/v1/tenants/acme': ({ headers }) => (headers['if-match'] === '"4"' ? { status: 200, body: { ...acme, settingsVersion: 5 } } : { status: 412, body: { code: 'ERR_TENANT_SETTINGS_CONFLICT', message: 'at 5' } }),
      'POST /admin/v1/tenants/acme/settings/rollback': { status: 200, body: { ...acme, settings: { validateRequests: true }, settingsVersion: 6 } },
    });
    const updated = await run(['tenant', 'update', 'acme', '--set', 'validateRequests=true', '-m', 'strict now', '--if-version', '4', '--url', server.url]);
    expect(updated.code).toBe(EXIT.OK);
    expect(server.requests[0]?.body).toEqual({ settings: { validateRequests: true }, message: 'strict now' });
    const stale = await run(['tenant', 'update', 'acme', '--set', 'validateRequests=true', '--if-version', '3', '--url', server.url]);
    expect(stale).toMatchObject({ code: EXIT.INVALID_INPUT });
    expect(stale.err).toContain('at 5');
    expect((await run(['tenant', 'update', 'acme', '--set', 'a=1', '--if-version', 'x', '--url', server.url])).code).toBe(EXIT.USAGE);
    expect(server.requests).toHaveLength(2);

    const rolled = await run(['tenant', 'rollback', 'acme', '2', '-m', 'undo', '--url', server.url]);
    expect(rolled.code).toBe(EXIT.OK);
    expect(rolled.out).toBe('restored the settings of version 2 as version 6 of tenant acme:\n{\n  "validateRequests": true\n}\n');
    expect(server.requests[2]).toMatchObject({ method: 'POST', body: { version: 2, message: 'undo' } });
    expect(server.requests[2]?.headers['if-match']).toBeUndefined();
    expect((await run(['tenant', 'rollback', 'acme', 'latest', '--url', server.url])).code).toBe(EXIT.USAGE);
  });

  it('versions lists who changed the settings when (* the current, rollbacks named), or prints one version', async () => {
    const versions = [
      { tenant: 'acme', version: 1, createdAt: '2025-01-01T00:00:00.000Z', createdBy: 'ops', message: '', restoredFrom: null, current: false },
      { tenant: 'acme', version: 2, createdAt: '2025-01-02T00:00:00.000Z', createdBy: 'alice', message: 'strict', restoredFrom: null, current: false },
      { tenant: 'acme', version: 3, createdAt: '2025-01-03T00:00:00.000Z', createdBy: 'bob', message: 'undo', restoredFrom: 1, current: true },
    ];
    server = await startFakeServer({
      'GET /admin/v1/tenants/acme/settings/versions': { status: 200, body: { versions } },
      'GET /admin/v1/tenants/acme/settings/versions/2': { status: 200, body: { ...versions[1], settings: { validateRequests: true } } },
      'GET /admin/v1/tenants/acme/settings/versions/9': { status: 404, body: { code: 'ERR_TENANT_SETTINGS_VERSION_NOT_FOUND', message: 'no' } },
    });
    const table = await run(['tenant', 'versions', 'acme', '--url', server.url]);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+CREATED\s+BY\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^1\s+2025-01-01T00:00:00.000Z\s+ops$/);
    expect(lines[3]).toMatch(/^3 \*\s+2025-01-03\S+\s+bob\s+\[rollback to 1\] undo$/);
    const one = await run(['tenant', 'versions', 'acme', '--version', '2', '--url', server.url]);
    expect(one.out).toBe('settings version 2, by alice at 2025-01-02T00:00:00.000Z: strict\n{\n  "validateRequests": true\n}\n');
    expect(JSON.parse((await run(['tenant', 'versions', 'acme', '--json', '--url', server.url])).out)).toEqual({ versions });
    expect((await run(['tenant', 'versions', 'acme', '--version', '9', '--url', server.url])).code).toBe(EXIT.NOT_FOUND);
  });

  it('diff prints one line per setting added (+), removed (-) or changed (~), with JSON values', async () => {
    const changes = [
      { key: 'actionType', kind: 'removed', before: 'A::Action' },
      { key: 'gatewayRoutes', kind: 'added', after: ['/a'] },
      { key: 'validateRequests', kind: 'changed', before: false, after: true },
    ];
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/settings/diff': ({ query }) => ({ status: 200, body: { from: Number(query['from']), to: Number(query['to']), changes: query['from'] === query['to'] ? [] : changes } }) });
    const { code, out } = await run(['tenant', 'diff', 'acme', '1', '3', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('- actionType: "A::Action"\n+ gatewayRoutes: ["/a"]\n~ validateRequests: false -> true\n');
    expect(server.requests[0]?.query).toEqual({ from: '1', to: '3' });
    expect((await run(['tenant', 'diff', 'acme', '2', '2', '--url', server.url])).out).toBe('no settings differ between versions 2 and 2\n');
    expect((await run(['tenant', 'diff', 'acme', '0', '2', '--url', server.url])).code).toBe(EXIT.USAGE);
  });

  it('update --help names the settings and the flags', async () => {
    const { code, out } = await run(['tenant', 'update', '--help']);
    expect(code).toBe(EXIT.OK);
    for (const text of ['--settings-file FILE', '--set KEY=VALUE', '--unset KEY', 'validateRequests', '--json']) expect(out).toContain(text);
  });
});

/** A chain of `count` real events of `tenant` (hashes computed as the server does). */
function chainOf(tenant: string, count: number, from: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }): AuditEvent[] {
  const events: AuditEvent[] = [];
  let prevHash = from.hash;
  for (let seq = from.seq + 1; seq <= from.seq + count; seq++) {
    const record = {
      decisionId: `d${seq}`, time: '2025-01-01T00:00:00.000Z', tenant, requestId: null, tier: null, principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' },
      resource: { type: 'Doc', id: `d${seq}` }, decision: 'allow' as const, reasons: ['p'], errors: [], policyVersion: 1, latencyUs: 10,
    };
    const hash = computeAuditHash(record, seq, prevHash);
    events.push({ ...record, seq, prevHash, hash });
    prevHash = hash;
  }
  return events;
}

/** A checkpoint of `head` as the server signs it (Ed25519), with its public key. */
async function signedCheckpoint(tenant: string, head: { seq: number; hash: string }) {
  const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
  const body = { tenant, ...head, time: '2025-01-01T00:00:00.000Z' };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: 'Ed25519', typ: 'verity-audit-checkpoint+jws' }).sign(privateKey);
  return { ...body, jws, publicKey: await exportJWK(publicKey) };
}

describe('verity tenant delete --export-audit, and audit verify --file', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A server holding `log` (paged three at a time), deleting the tenant, and removing its audit at its head. */
  async function exportServer(log: AuditEvent[], options: { lateEvents?: AuditEvent[]; removal?: 'disabled' } = {}) {
    const checkpoint = await signedCheckpoint('acme', { seq: log.length, hash: log.at(-1)?.hash ?? GENESIS_HASH });
    return startFakeServer({
      'DELETE /admin/v1/tenants/acme': { status: 200, body: { id: 'acme', deleted: true, auditKept: true } },
      'POST /admin/v1/tenants/acme/audit/checkpoints': { status: 201, body: checkpoint },
      'GET /admin/v1/tenants/acme/audit': ({ query }: RecordedRequest) => {
        const page = log.filter((e) => e.seq > Number(query['after'])).slice(0, 3);
        return { status: 200, body: { events: page, next: page.length === 3 ? page.at(-1)?.seq : null } };
      },
      'DELETE /admin/v1/tenants/acme/audit': ({ query }: RecordedRequest) => {
        if (options.removal === 'disabled') return { status: 409, body: { code: 'ERR_AUDIT_REMOVAL_DISABLED', message: 'kept' } };
        // A decision answered just before the deletion lands after the first export.
        if (options.lateEvents?.length) log.push(...options.lateEvents.splice(0));
        const head = log.at(-1);
        return query['exportedThrough'] === `${head?.seq}:${head?.hash}` ? { status: 200, body: { id: 'acme', auditRemoved: true, removed: log.length } } : { status: 409, body: { code: 'ERR_AUDIT_NOT_EXPORTED', message: 'moved' } };
      },
    });
  }

  it('deletes, exports every event (also those after the first export) with a signed checkpoint, then removes at the exported head', async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-export-'));
    const log = chainOf('acme', 7);
    const late = chainOf('acme', 2, { seq: 7, hash: log[6]?.hash ?? '' });
    const lastHash = late[1]?.hash;
    server = await exportServer(log, { lateEvents: late });
    const { code, out } = await run(['tenant', 'delete', 'acme', '--yes', '--export-audit', 'acme.jsonl', '--url', server.url], { cwd: dir });
    expect(code, out).toBe(EXIT.OK);
    expect(out).toContain('its audit (9 events, through seq 9, hash');
    expect(out).toContain('exported to acme.jsonl, with a signed checkpoint in acme.jsonl.checkpoint.json\nand removed from the store\n');
    const lines = (await readFile(join(dir, 'acme.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as AuditEvent).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The deletion first, the removal last: first at the export's head (refused), then at the new one.
    const calls = server.requests.map((r) => `${r.method} ${r.path}${r.query['exportedThrough'] ? ` ${r.query['exportedThrough'].split(':')[0]}` : ''}`);
    expect(calls[0]).toBe('DELETE /admin/v1/tenants/acme');
    expect(calls.filter((call) => call.startsWith('DELETE /admin/v1/tenants/acme/audit'))).toEqual(['DELETE /admin/v1/tenants/acme/audit 7', 'DELETE /admin/v1/tenants/acme/audit 9']);

    // Offline: the file verifies with the checkpoint beside it; an edited line does not.
    const verify = (...flags: string[]) => run(['audit', 'verify', '--file', 'acme.jsonl', ...flags], { cwd: dir });
    const ok = await verify('--checkpoint', 'acme.jsonl.checkpoint.json');
    expect(ok).toMatchObject({ code: EXIT.OK, out: `ok: 9 events checked, through seq 9 (hash ${lastHash})\n` });
    await writeFile(join(dir, 'acme.jsonl'), [...lines.slice(0, 4), lines[4]?.replace('"d5"', '"d6"'), ...lines.slice(5)].join('\n'));
    expect(await verify()).toMatchObject({ code: EXIT.CHECK_FAILED, out: 'problem at seq 5: edited\nFAILED: 1 problems in 9 events checked\n' });
    // A tail cut off passes the chain check alone, but not the checkpoint.
    await writeFile(join(dir, 'acme.jsonl'), lines.slice(0, 6).join('\n'));
    expect((await verify()).code).toBe(EXIT.OK);
    expect((await verify('--checkpoint', 'acme.jsonl.checkpoint.json')).out).toContain('problem at seq 7: checkpoint-mismatch');
    await writeFile(join(dir, 'other.jsonl'), `${lines[0]}\n${JSON.stringify(chainOf('globex', 1)[0])}\n`);
    expect((await run(['audit', 'verify', '--file', 'other.jsonl', '--json'], { cwd: dir })).out).toContain('ERR_CLI_AUDIT_FILE');
    await writeFile(join(dir, 'junk.jsonl'), '{"seq": 1}\n');
    expect((await run(['audit', 'verify', '--file', 'junk.jsonl'], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
    expect((await run(['audit', 'verify', '--file', 'acme.jsonl', '-t', 'globex'], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
  });

  it('never overwrites a file and deletes nothing then; keeps the audit where the server keeps them; a chain that does not verify is not removed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-export-'));
    await writeFile(join(dir, 'taken.jsonl'), 'evidence\n');
    server = await exportServer(chainOf('acme', 2), { removal: 'disabled' });
    expect((await run(['tenant', 'delete', 'acme', '--yes', '--export-audit', 'taken.jsonl', '--url', server.url], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
    expect(server.requests).toEqual([]);
    expect(await readFile(join(dir, 'taken.jsonl'), 'utf8')).toBe('evidence\n');

    const kept = await run(['tenant', 'delete', 'acme', '--yes', '--export-audit', 'kept.jsonl', '--json', '--url', server.url], { cwd: dir });
    expect(kept.code).toBe(EXIT.OK);
    expect(JSON.parse(kept.out)).toMatchObject({ id: 'acme', deleted: true, auditKept: true, auditExported: { events: 2, removed: false, exportedThrough: { seq: 2 } } });

    await server.close();
    const broken = chainOf('acme', 3);
    broken[1] = { ...broken[1], decision: 'deny' } as AuditEvent;
    server = await exportServer(broken);
    const refused = await run(['tenant', 'delete', 'acme', '--yes', '--export-audit', 'broken.jsonl', '--url', server.url], { cwd: dir });
    expect(refused.code).toBe(EXIT.CHECK_FAILED);
    expect(refused.err).toContain('seq 2: edited');
    expect(server.requests.some((r) => r.path === '/admin/v1/tenants/acme/audit' && r.method === 'DELETE')).toBe(false);

    // No such tenant, deleted or not: nothing exported, and no empty file left behind.
    await server.close();
    const notFound = { status: 404, body: { code: 'ERR_TENANT_NOT_FOUND', message: 'no tenant "nobody"' } };
    server = await startFakeServer({ 'DELETE /admin/v1/tenants/nobody': notFound, 'POST /admin/v1/tenants/nobody/audit/checkpoints': notFound });
    expect((await run(['tenant', 'delete', 'nobody', '--yes', '--export-audit', 'none.jsonl', '--url', server.url], { cwd: dir })).code).toBe(EXIT.NOT_FOUND);
    expect(server.requests.map((r) => r.method)).toEqual(['DELETE', 'POST']);
    await expect(readFile(join(dir, 'none.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(join(dir, 'none.jsonl.checkpoint.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('verity tenant update --help', () => {
  it('names every setting the server takes', () => {
    const listed = /Settings: ([^(]*)\(/.exec(tenantUpdate.details ?? '')?.[1]?.split(/[\s,]+/).filter((key) => key !== '');
    expect(new Set(listed)).toEqual(new Set(SETTING_KEYS));
  });
});
