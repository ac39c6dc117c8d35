/** Tests for `authorize` and `entities import` against a recording server. */
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

describe('verity authorize', () => {
  const path = 'POST /tenants/acme/access/v1/evaluation';
  const argv = (url: string, ...more: string[]) => ['authorize', '-t', 'acme', '--subject', 'App::User:alice', '--action', 'read', '--resource', 'Doc::"urn:d:1"', '--url', url, ...more];

  it('sends an AuthZEN evaluation and exits 0 on allow', async () => {
    server = await startFakeServer({ [path]: { status: 200, body: { decision: true, context: { id: 'dec_1', reason_admin: { policy_version: 7, determining_policies: ['owner-any'], errors: [] } } } } });
    const { code, out } = await run(argv(server.url, '--context', '{"ip":"10.0.0.1"}'));
    expect(code).toBe(EXIT.OK);
    expect(server.requests[0]?.body).toEqual({
      subject: { type: 'App::User', id: 'alice' },
      action: { name: 'read' },
      resource: { type: 'Doc', id: 'urn:d:1' },
      context: { ip: '10.0.0.1' },
    });
    expect(out).toContain('allow\ndecision id:    dec_1\npolicy version: 7\ndetermined by:  owner-any\n');
  });

  it('exits 1 on deny and prints the raw answer with --json', async () => {
    const answer = { decision: false, context: { id: 'dec_2', reason_admin: { policy_version: 1, determining_policies: [], errors: [{ policyId: 'p9', message: 'no attr' }] } } };
    server = await startFakeServer({ [path]: { status: 200, body: answer } });
    const human = await run(argv(server.url));
    expect(human.code).toBe(EXIT.CHECK_FAILED);
    expect(human.out).toBe('deny\ndecision id:    dec_2\npolicy version: 1\nerror:          p9: no attr\n');
    const json = await run(argv(server.url, '--json'));
    expect(json.code).toBe(EXIT.CHECK_FAILED);
    expect(JSON.parse(json.out)).toEqual(answer);
  });

  it.each([
    [['--subject', 'alice'], /--subject must be type:id/],
    [['--context', '[1]'], /--context must be a JSON object/],
    [['--action', ''], /--action is required/],
  ])('rejects bad flags %j with exit 2', async (more, message) => {
    server = await startFakeServer({});
    const { code, err } = await run([...argv(server.url), ...more]);
    expect(code).toBe(EXIT.USAGE);
    expect(err).toMatch(message);
    expect(server.requests).toHaveLength(0);
  });

  it('a missing --resource is a usage error; an unknown tenant exits 6', async () => {
    server = await startFakeServer({});
    expect((await run(['authorize', '-t', 'acme', '-s', 'User:a', '-a', 'read', '--url', server.url])).code).toBe(EXIT.USAGE);
    expect((await run(['authorize', '-t', 'nobody', '-s', 'User:a', '-a', 'read', '-r', 'Doc:d', '--url', server.url])).code).toBe(EXIT.NOT_FOUND);
  });
});

describe('verity entities import', () => {
  it('PUTs a file (merge) or a folder entities.json (--replace)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-ent-'));
    try {
      const entities = [{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }];
      await writeFile(join(dir, 'people.json'), JSON.stringify({ entities }));
      await writeFile(join(dir, 'entities.json'), JSON.stringify(entities));
      server = await startFakeServer({ 'PUT /admin/v1/tenants/acme/entities': ({ body }) => ({ status: 200, body: { imported: (body as { entities: unknown[] }).entities.length } }) });
      const file = await run(['entities', 'import', '-t', 'acme', 'people.json', '--url', server.url], { cwd: dir });
      expect(file).toMatchObject({ code: EXIT.OK, out: 'imported 1 entities (merge)\n' });
      expect(server.requests[0]?.body).toEqual({ entities, mode: 'merge' });
      const folder = await run(['entities', 'import', '-t', 'acme', dir, '--replace', '--url', server.url]);
      expect(folder.code).toBe(EXIT.OK);
      expect(server.requests[1]?.body).toEqual({ entities, mode: 'replace' });
      await writeFile(join(dir, 'bad.json'), '[{"uid": "User::alice"}]');
      const bad = await run(['entities', 'import', '-t', 'acme', 'bad.json', '--url', server.url], { cwd: dir });
      expect(bad.code).toBe(EXIT.INVALID_INPUT);
      expect(bad.err).toContain('bad.json: entity #0: uid');
      expect((await run(['entities', 'import', '-t', 'acme', 'missing.json', '--url', server.url], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
      expect(server.requests).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
