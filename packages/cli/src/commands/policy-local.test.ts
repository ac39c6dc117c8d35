/** Tests for the local commands `policy validate` and `policy test` on folders made here. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run } from '../test-helpers.js';

let dir: string;

async function put(name: string, text: string): Promise<void> {
  await mkdir(join(dir, name, '..'), { recursive: true });
  await writeFile(join(dir, name), text);
}

const ask = (subject: string, action: string, resource: string) => ({
  subject: { type: 'User', id: subject },
  action: { name: action },
  resource: { type: 'Doc', id: resource },
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-cli-'));
  await put('docs.cedar', ['@id("owner-any")', 'permit(principal, action, resource) when { resource.owner == principal };', '', 'permit(principal, action == Action::"read", resource) when { principal in resource.readers };', ''].join('\n'));
  await put('entities.json', JSON.stringify([
    { uid: { type: 'User', id: 'alice' } },
    { uid: { type: 'User', id: 'bob' }, parents: [{ type: 'Group', id: 'staff' }] },
    { uid: { type: 'Group', id: 'staff' } },
    { uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } }, readers: { __entity: { type: 'Group', id: 'staff' } } } },
  ]));
  await put('tests/owner.json', JSON.stringify({ name: 'owner may delete', request: ask('alice', 'delete', 'd1'), expect: 'allow' }));
  await put('tests/readers.json', JSON.stringify([
    { name: 'staff may read', request: ask('bob', 'read', 'd1'), expect: 'allow' },
    { name: 'staff may not delete', request: ask('bob', 'delete', 'd1'), expect: 'deny' },
  ]));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verity policy validate', () => {
  it('accepts a valid folder', async () => {
    const { code, out } = await run(['policy', 'validate', dir]);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('ok: 2 policies, 0 templates, 0 links (no schema)');
  });

  it('says which evaluator decides the set, and why cedar-wasm when it does', async () => {
    expect((await run(['policy', 'validate', dir])).out).toContain('evaluator: compiled');
    await put('big.cedar', 'permit(principal, action, resource) when { principal.n == 9223372036854775807 };\n');
    const { code, out } = await run(['policy', 'validate', dir, '--json']);
    expect(code).toBe(EXIT.OK);
    expect(JSON.parse(out).evaluator).toEqual({ kind: 'cedar-wasm', reason: expect.stringContaining('beyond ±2^53') });
  });

  it('resolves DIR against cwd and reports ids with --json', async () => {
    const { code, out } = await run(['policy', 'validate', '.', '--json'], { cwd: dir });
    expect(code).toBe(EXIT.OK);
    const report = JSON.parse(out) as { policies: string[] };
    expect(report).toMatchObject({ valid: true, entities: 4, tests: 3 });
    expect(report.policies.sort()).toEqual(['docs.1', 'owner-any']);
  });

  it('reports a parse error as file:line:col and exits 3', async () => {
    await put('broken.cedar', 'permit(principal, action, resource);\n\npermit(principal, action resource);\n');
    const { code, err } = await run(['policy', 'validate', dir]);
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toMatch(/^broken\.cedar:3:26: unexpected token/m);
  });

  it('validates against the schema and reports the policy position', async () => {
    await put('schema.cedarschema', 'entity User in [Group]; entity Group; entity Doc { owner: User, readers: Group };\naction read, delete appliesTo { principal: User, resource: Doc };\n');
    expect((await run(['policy', 'validate', dir])).out).toContain('(schema, validation strict)');
    await put('typo.cedar', 'permit(principal, action, resource) when { resource.ownr == principal };\n');
    const { code, err } = await run(['policy', 'validate', dir]);
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('do not validate');
    expect(err).toMatch(/^typo\.cedar:1:\d+: /m);
  });

  it('a bad folder exits 3 naming the file', async () => {
    await put('tests/bad.json', '{"name": "x"');
    const { code, err } = await run(['policy', 'validate', dir]);
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('tests/bad.json: not valid JSON');
    expect((await run(['policy', 'validate', join(dir, 'missing')])).code).toBe(EXIT.INVALID_INPUT);
  });
});

describe('verity policy test', () => {
  it("decides with the tenant settings in verity.json, as the PDP would", async () => {
    await put('schema.cedarschema', 'entity Group; entity User in [Group]; entity Doc { owner?: User, readers?: Group }; entity Other; action read, delete appliesTo { principal: User, resource: Doc };');
    await put('docs.cedar', '@id("all") permit(principal, action, resource);\n');
    await put('tests/readers.json', JSON.stringify({ name: 'a resource of a type the action does not apply to', request: { subject: { type: 'User', id: 'bob' }, action: { name: 'read' }, resource: { type: 'Other', id: 'o' } }, expect: 'deny' }));
    // Without request validation Cedar decides it (allow: the test fails); with it, it is refused.
    const before = await run(['policy', 'test', dir, '--json']);
    expect(JSON.parse(before.out).results.find((r: { name: string }) => r.name.startsWith('a resource')).got).toBe('allow');
    await put('verity.json', JSON.stringify({ settings: { validateRequests: true } }));
    const { code, out } = await run(['policy', 'test', dir, '--json']);
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(JSON.parse(out).results.find((r: { name: string }) => r.name.startsWith('a resource')).got).toBe('error');
    await put('verity.json', JSON.stringify({ settings: { validateRequests: 'yes' } }));
    expect((await run(['policy', 'test', dir])).code).toBe(EXIT.INVALID_INPUT);
  });

  it('passes when every case passes', async () => {
    const { code, out } = await run(['policy', 'test', dir]);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('ok   tests/owner.json: owner may delete');
    expect(out).toContain('3 passed, 0 failed');
  });

  it('reports a failing case with expected, got and determining policies, and exits 1', async () => {
    await put('tests/wrong.json', JSON.stringify({ name: 'owner denied?', request: ask('alice', 'delete', 'd1'), expect: 'deny' }));
    const { code, out } = await run(['policy', 'test', dir]);
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(out).toContain('FAIL tests/wrong.json: owner denied?: expected deny, got allow (determined by owner-any)');
    expect(out).toContain('3 passed, 1 failed');
  });

  it('--json gives per-case results', async () => {
    await put('tests/wrong.json', JSON.stringify({ name: 'bob deletes', request: ask('bob', 'delete', 'd1'), expect: 'allow' }));
    const { code, out } = await run(['policy', 'test', dir, '--json']);
    expect(code).toBe(EXIT.CHECK_FAILED);
    const report = JSON.parse(out) as { passed: number; failed: number; results: Array<{ name: string; ok: boolean; got: string }> };
    expect(report).toMatchObject({ passed: 3, failed: 1 });
    expect(report.results.find((r) => !r.ok)).toMatchObject({ name: 'bob deletes', got: 'deny' });
  });

  it('exits 3 when the policies do not parse', async () => {
    await put('docs.cedar', 'permit(principal, action, resource)');
    expect((await run(['policy', 'test', dir])).code).toBe(EXIT.INVALID_INPUT);
  });
});
