/** The `verity` CLI against a real server: the README's tour, with its exit codes. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerity } from './helpers/cli-run.js';
import { examplePath, startTestServer } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;

const verity = (...argv: string[]) => runVerity(argv, { url: server.url });

const MORTY = 'CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs';
const BETH = 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs';

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('verity CLI against a real server', () => {
  it("updates a tenant's settings, and an invalid change alters nothing (exit 3)", async () => {
    expect((await verity('tenant', 'create', 'settings-cli')).code).toBe(0);
    const updated = await verity('tenant', 'update', 'settings-cli', '--set', 'validateRequests=true', '--set', 'stsPrincipalType=Member', '--json');
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.out).settings).toEqual({ validateRequests: true, stsPrincipalType: 'Member' });
    expect((await verity('tenant', 'update', 'settings-cli', '--unset', 'stsPrincipalType', '--set', 'gatewayRoutes=["nope"]')).code).toBe(3);
    expect((await verity('tenant', 'update', 'settings-cli', '--unset', 'stsPrincipalType')).code).toBe(0);
    const tenants = JSON.parse((await verity('tenant', 'list', '--json')).out).tenants;
    expect(tenants.find((t: { id: string }) => t.id === 'settings-cli').settings).toEqual({ validateRequests: true });
    // Each change is a settings version; a rollback restores one as the next.
    expect((await verity('tenant', 'versions', 'settings-cli')).out).toMatch(/^VERSION[^\n]*\n1 [^\n]*\n2 [^\n]*\n3 \*/);
    expect((await verity('tenant', 'diff', 'settings-cli', '1', '3')).out).toBe('+ validateRequests: true\n');
    expect((await verity('tenant', 'rollback', 'settings-cli', '2', '-m', 'back', '--if-version', '3')).code).toBe(0);
    expect(JSON.parse((await verity('tenant', 'versions', 'settings-cli', '--version', '4', '--json')).out)).toMatchObject({ restoredFrom: 2, message: 'back', settings: { validateRequests: true, stsPrincipalType: 'Member' } });
    expect((await verity('tenant', 'rollback', 'settings-cli', '1', '--if-version', '3')).code).toBe(3);
  });

  it("tenant delete --export-audit on a server that keeps deleted tenants' audits (the default): exported, and kept", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-keep-'));
    try {
      expect((await verity('tenant', 'create', 'kept-audit')).code).toBe(0);
      expect((await verity('tenant', 'update', 'kept-audit', '--set', 'validateRequests=true')).code).toBe(0); // an admin decision in _system, not this tenant's
      const deleted = await runVerity(['tenant', 'delete', 'kept-audit', '--yes', '--export-audit', 'kept.jsonl', '--json'], { url: server.url, cwd: dir });
      expect(deleted.code, deleted.err).toBe(0);
      expect(JSON.parse(deleted.out)).toMatchObject({ auditKept: true, auditExported: { removed: false } });
      const removal = await server.admin.request('DELETE', `/admin/v1/tenants/kept-audit/audit?exportedThrough=0:${'0'.repeat(64)}`);
      expect([removal.status, removal.body.code]).toEqual([409, 'ERR_AUDIT_REMOVAL_DISABLED']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates a tenant, pushes a folder, imports entities and decides', async () => {
    expect((await verity('tenant', 'create', 'acme')).code).toBe(0);
    expect((await verity('tenant', 'create', 'acme')).code).not.toBe(0);
    expect((await verity('policy', 'push', '--tenant', 'acme', examplePath('todo'), '-m', 'first')).code).toBe(0);
    expect((await verity('entities', 'import', '--tenant', 'acme', examplePath('todo'))).code).toBe(0);
    expect((await verity('authorize', '--tenant', 'acme', '--subject', `user:${MORTY}`, '--action', 'can_create_todo', '--resource', 'todo:t1')).code).toBe(0);
    expect((await verity('authorize', '--tenant', 'acme', '--subject', `user:${BETH}`, '--action', 'can_create_todo', '--resource', 'todo:t1')).code).toBe(1);
    // --explain: why, not audited (the audit tail below sees the two decisions above only).
    const why = await verity('authorize', '--tenant', 'acme', '--subject', `user:${BETH}`, '--action', 'can_create_todo', '--resource', 'todo:t1', '--explain');
    expect(why.code).toBe(1);
    expect(why.out).toMatch(/^deny\npolicy version: 1\nclosest permits:\n {2}todo\.editor-create-todo {2}scope did not match: principal\n/);
    expect(why.out).toContain('forbids that applied: none\n');
    const allowed = await verity('authorize', '--tenant', 'acme', '--subject', `user:${MORTY}`, '--action', 'can_create_todo', '--resource', 'todo:t1', '--explain', '--json');
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.out)).toMatchObject({ decision: 'allow', determining: ['todo.editor-create-todo'], explanation: { permits: [{ policyId: 'todo.editor-create-todo', applies: true }] } });
  });

  it('lists, diffs and rolls back versions', async () => {
    expect((await verity('policy', 'push', '--tenant', 'acme', examplePath('todo'), '-m', 'same again')).code).toBe(0);
    const versions = JSON.parse((await verity('policy', 'versions', '--tenant', 'acme', '--json')).out);
    expect(JSON.stringify(versions)).toContain('same again');
    expect((await verity('policy', 'diff', '--tenant', 'acme', '1', '2')).code).toBe(0);
    expect((await verity('policy', 'activate', '--tenant', 'acme', '1')).code).toBe(0);
    expect((await verity('policy', 'activate', '--tenant', 'acme', '99')).code).toBe(6);
  });

  it('tails and verifies the audit, and refuses a wrong token', async () => {
    const tail = await verity('audit', 'tail', '--tenant', 'acme', '--limit', '5', '--json');
    expect(tail.code).toBe(0);
    expect(tail.out.trim().split('\n').map((line) => JSON.parse(line).decision)).toEqual(['allow', 'deny']);
    expect((await verity('audit', 'verify', '--tenant', 'acme')).code).toBe(0);
    await server.components.store.db.query(`UPDATE audit_events SET decision = 'allow' WHERE tenant_id = 'acme' AND decision = 'deny'`);
    expect((await verity('audit', 'verify', '--tenant', 'acme')).code).toBe(1);
    expect((await verity('tenant', 'list', '--url', server.url, '--json')).code).toBe(0);
    const refused = (await runVerity(['tenant', 'list'], { url: server.url, env: { VERITY_ADMIN_TOKEN: 'vrt_wrong' } })).code;
    expect(refused).toBe(5);
    expect((await verity('authorize', '--tenant', 'nope', '--subject', 'user:x', '--action', 'a', '--resource', 'r:1')).code).toBe(6);
  });

  it('lists, creates, rotates and revokes credentials; a token is printed once, never listed', async () => {
    const created = JSON.parse((await verity('credential', 'create', '--role', 'pep', '--tenant', 'acme', '--label', 'gateway', '--json')).out) as { id: string; token: string };
    expect(created.token).toMatch(/^vrt_/);
    const human = await verity('credential', 'create', '--role', 'policy-author', '--tenant', 'acme');
    expect(human.code).toBe(0);
    expect(human.out.trim().split('\n').at(-1)).toMatch(/^vrt_[\w-]{43}$/);
    const listed = await verity('credential', 'list', '--tenant', 'acme');
    expect(listed.out).toContain(created.id);
    expect(listed.out).not.toContain(created.token);
    expect((await verity('credential', 'list')).out).toContain('bootstrap-admin');

    const rotated = JSON.parse((await verity('credential', 'rotate', created.id, '--tenant', 'acme', '--json')).out) as { token: string };
    expect(rotated.token).not.toBe(created.token);
    expect((await verity('credential', 'revoke', created.id)).code).toBe(0);
    expect((await verity('credential', 'rotate', created.id)).code).toBe(6);
    expect((await verity('credential', 'revoke', 'bootstrap-admin')).code).toBe(3);
    expect((await verity('credential', 'create', '--role', 'pep')).code).toBe(2);
  });
});
