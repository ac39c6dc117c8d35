/** Tests for `verity eval`: local decisions from a folder, checked against cedar-wasm's isAuthorized. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { ENTITIES, contentOf, everyRequest, fixtureFiles, jsonLines, oracleDecides, writeFolder } from '../rollout-test-helpers.js';
import { run } from '../test-helpers.js';

let dir: string;

async function* chunks(...parts: string[]): AsyncIterable<string> {
  yield* parts;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-eval-'));
  await writeFolder(dir, fixtureFiles());
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ask = (principal: string, action: string, resource: string, ...more: string[]) => run(['eval', dir, '--principal', principal, '--action', action, '--resource', resource, ...more]);

describe('verity eval', () => {
  it('allow: prints the decision and the determining policies, exits 0', async () => {
    const { code, out } = await ask('User::"alice"', 'Action::"read"', 'Doc::"d1"');
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('allow\ndetermined by: owner-any\n');
  });

  it('deny: exits 1, naming a policy by its file position when it has no @id', async () => {
    const denied = await ask('User:bob', 'Action:delete', 'Doc:d1');
    expect(denied).toMatchObject({ code: EXIT.CHECK_FAILED, out: 'deny\n' });
    const forbidden = await ask('User:root', 'Action:delete', 'Doc:d3', '--json');
    expect(forbidden.code).toBe(EXIT.CHECK_FAILED);
    expect(JSON.parse(forbidden.out)).toMatchObject({ decision: 'deny', determiningPolicies: ['no-archived'], errors: [] });
    const read = await ask('User:bob', 'Action:read', 'Doc:d1', '--json');
    expect(JSON.parse(read.out)).toMatchObject({ decision: 'allow', determiningPolicies: ['docs.1'] });
  });

  it('reports a policy that errored (and was skipped), with the context', async () => {
    const { code, out } = await ask('User:bob', 'Action:delete', 'Doc:d4');
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(out).toMatch(/^deny\n/);
    expect(out).toContain('error: no-archived: `Doc::"d4"` does not have the attribute `archived`');
    expect(out).toContain('error: owner-any: `Doc::"d4"` does not have the attribute `owner`');
    expect((await ask('User:bob', 'Action:share', 'Doc:d1')).out).toMatch(/error: share-mfa: .*mfa/);
    expect(await ask('User:bob', 'Action:share', 'Doc:d1', '--context', '{"mfa": true}')).toMatchObject({ code: EXIT.OK, out: 'allow\ndetermined by: share-mfa\n' });
  });

  it('a template link determines as its link id', async () => {
    expect((await ask('User:carol', 'Action:read', 'Doc:d2')).out).toMatch(/^allow\ndetermined by: (owner-any, grant-carol-d2|grant-carol-d2, owner-any)\n$/);
    expect((await ask('User:carol', 'Action:read', 'Doc:d4')).code).toBe(EXIT.CHECK_FAILED);
  });

  it('--entities adds entities; naming one entities.json holds is refused (exit 3)', async () => {
    await writeFolder(dir, { 'more.json': JSON.stringify([{ uid: { type: 'User', id: 'erin' }, parents: [{ type: 'Group', id: 'staff' }] }]) });
    expect((await ask('User:erin', 'Action:read', 'Doc:d1')).code).toBe(EXIT.CHECK_FAILED);
    expect(await ask('User:erin', 'Action:read', 'Doc:d1', '--entities', join(dir, 'more.json'))).toMatchObject({ code: EXIT.OK, out: 'allow\ndetermined by: docs.1\n' });
    await writeFolder(dir, { 'more.json': JSON.stringify([{ uid: { type: 'User', id: 'bob' } }]) });
    const { code, err } = await ask('User:bob', 'Action:read', 'Doc:d1', '--entities', join(dir, 'more.json'));
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('User::"bob" more than once');
  });

  it('--request FILE: one request prints as one, several as lines; exit 1 when one is denied', async () => {
    await writeFolder(dir, { 'one.json': JSON.stringify({ principal: 'User::"alice"', action: { type: 'Action', id: 'read' }, resource: 'Doc::"d1"' }) });
    expect(await run(['eval', dir, '--request', 'one.json'], { cwd: dir })).toMatchObject({ code: EXIT.OK, out: 'allow\ndetermined by: owner-any\n' });
    const lines = jsonLines([
      { name: 'owner reads', principal: 'User::"alice"', action: 'Action::"read"', resource: 'Doc::"d1"' },
      { name: 'authzen form', request: { subject: { type: 'User', id: 'bob' }, action: { name: 'delete' }, resource: { type: 'Doc', id: 'd1' } }, expect: 'deny' },
    ]);
    await writeFolder(dir, { 'many.jsonl': lines });
    const { code, out } = await run(['eval', dir, '--request', 'many.jsonl'], { cwd: dir });
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(out).toBe('allow  owner reads\n       determined by: owner-any\ndeny   authzen form\n');
    const json = await run(['eval', dir, '--request', '-', '--json'], { cwd: dir, stdin: chunks(lines) });
    expect(JSON.parse(json.out).results.map((r: { decision: string }) => r.decision)).toEqual(['allow', 'deny']);
  });

  it('request entities describe the principal (as is-authorized takes them)', async () => {
    const item = { principal: 'User::"dave"', action: 'Action::"read"', resource: 'Doc::"d1"', entities: [{ uid: { type: 'User', id: 'dave' }, parents: [{ type: 'Group', id: 'staff' }] }] };
    await writeFolder(dir, { 'dave.json': JSON.stringify(item) });
    expect(await run(['eval', dir, '--request', 'dave.json'], { cwd: dir })).toMatchObject({ code: EXIT.OK, out: 'allow\ndetermined by: docs.1\n' });
  });

  it('a request Verity refuses is an error, exit 3; so is a malformed request file', async () => {
    const rewrite = { principal: 'User::"bob"', action: 'Action::"read"', resource: 'Doc::"d1"', entities: [{ uid: { type: 'Group', id: 'staff' }, attrs: { x: 1 } }] };
    await writeFolder(dir, { 'bad.json': JSON.stringify(rewrite), 'typo.json': '{"principal": "User::\\"a\\"", "acton": "Action::\\"read\\""}', 'broken.jsonl': '{"principal": 1}\n{' });
    const refused = await run(['eval', dir, '--request', 'bad.json'], { cwd: dir });
    expect(refused.code).toBe(EXIT.INVALID_INPUT);
    expect(refused.out).toMatch(/^error\nerror: ERR_DECISION_INVALID_REQUEST: .*Group::"staff"/);
    const typo = await run(['eval', dir, '--request', 'typo.json', '--json'], { cwd: dir });
    expect(typo.code).toBe(EXIT.INVALID_INPUT);
    expect(JSON.parse(typo.out)).toMatchObject({ error: { code: 'ERR_CLI_REQUEST_FILE', message: expect.stringContaining('unknown key "acton"') } });
    expect((await run(['eval', dir, '--request', 'broken.jsonl'], { cwd: dir })).err).toContain('broken.jsonl:2: not valid JSON');
  });

  it('usage: the request by flags or by file, not both, and the principal is required', async () => {
    expect((await run(['eval', dir, '--action', 'Action:read', '--resource', 'Doc:d1'])).code).toBe(EXIT.USAGE);
    expect((await run(['eval', dir, '--request', 'x.json', '--principal', 'User:a'])).code).toBe(EXIT.USAGE);
    expect((await run(['eval', dir, '--principal', 'alice', '--action', 'Action:read', '--resource', 'Doc:d1'])).code).toBe(EXIT.USAGE);
  });

  it('decides every one of 300 requests as cedar-wasm isAuthorized does', async () => {
    const cases = everyRequest();
    await writeFolder(dir, { 'all.jsonl': jsonLines(cases) });
    const { out } = await run(['eval', dir, '--request', 'all.jsonl', '--json'], { cwd: dir });
    const results = JSON.parse(out).results as Array<{ name: string; decision: string; determiningPolicies: string[]; errors: Array<{ policyId: string }> }>;
    const content = await contentOf(fixtureFiles());
    expect(results).toHaveLength(cases.length);
    const seen = { allow: 0, deny: 0, errors: 0 };
    cases.forEach((c, i) => {
      const got = results[i];
      const want = oracleDecides(content, ENTITIES, c);
      expect({ name: got?.name, decision: got?.decision, reasons: [...(got?.determiningPolicies ?? [])].sort(), errors: (got?.errors ?? []).map((e) => e.policyId).sort() }).toEqual({ name: c.name, ...want });
      seen[want.decision]++;
      if (want.errors.length > 0) seen.errors++;
    });
    // The cases are worth comparing: both decisions and erroring policies occur often.
    expect(Math.min(seen.allow, seen.deny, seen.errors)).toBeGreaterThan(30);
  });
});
