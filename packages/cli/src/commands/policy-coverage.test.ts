/** Tests for `verity policy test --coverage` and `--coverage-min`, checked against cedar-wasm's isAuthorized. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { ENTITIES, LINKS, contentOf, everyRequest, fixtureFiles, oracleDecides, writeFolder } from '../rollout-test-helpers.js';
import { run } from '../test-helpers.js';

let dir: string;

const test = (name: string, subject: string, action: string, resource: string, expect: 'allow' | 'deny', context?: Record<string, unknown>) => ({
  name,
  request: { subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: resource }, ...(context ? { context } : {}) },
  expect,
});

/** Tests that exercise every policy of the fixture but root-all: share-mfa only by erroring. */
const TESTS = {
  'tests/owner.json': JSON.stringify([test('owner reads', 'alice', 'read', 'd1', 'allow'), test('link reads', 'carol', 'read', 'd2', 'allow')]),
  'tests/staff.json': JSON.stringify([test('staff reads', 'bob', 'read', 'd1', 'allow'), test('archived', 'root', 'delete', 'd3', 'deny'), test('share without mfa', 'bob', 'share', 'd1', 'deny')]),
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-coverage-'));
  await writeFolder(dir, fixtureFiles(TESTS));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verity policy test --coverage', () => {
  it('reports covered/total per file and the uncovered policy with its file:line', async () => {
    const { code, out } = await run(['policy', 'test', dir, '--coverage']);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('5 passed, 0 failed\n');
    expect(out).toContain(
      [
        'coverage: 5/6 policies and templates (83.3%) determining or erroring in a test',
        '  admin.cedar  1/1',
        '  docs.cedar   4/5',
        '    not covered: root-all  docs.cedar:13',
        '',
      ].join('\n'),
    );
  });

  it('--json: per-policy hits, an erroring policy counts, a template by its links', async () => {
    const { out } = await run(['policy', 'test', dir, '--coverage', '--json']);
    const { coverage } = JSON.parse(out) as { coverage: { covered: number; total: number; percent: number; files: unknown[]; policies: Array<{ id: string; hits: number; line: number; kind: string; links?: string[] }> } };
    expect(coverage).toMatchObject({ covered: 5, total: 6, percent: 83.3 });
    expect(coverage.files).toEqual([
      { file: 'admin.cedar', covered: 1, total: 1, uncovered: [] },
      { file: 'docs.cedar', covered: 4, total: 5, uncovered: [{ id: 'root-all', kind: 'policy', line: 13 }] },
    ]);
    const hits = Object.fromEntries(coverage.policies.map((p) => [p.id, p.hits]));
    // owner-any determines "owner reads" and "link reads"; share-mfa only errored.
    expect(hits).toEqual({ grant: 1, 'owner-any': 2, 'docs.1': 1, 'no-archived': 1, 'share-mfa': 1, 'root-all': 0 });
    expect(coverage.policies.find((p) => p.id === 'grant')).toMatchObject({ kind: 'template', line: 1, links: ['grant-carol-d2'] });
    // Without coverage, the report is as before.
    expect(JSON.parse((await run(['policy', 'test', dir, '--json'])).out).coverage).toBeUndefined();
  });

  it('a policy only an erroring request reached is uncovered without that request', async () => {
    await writeFolder(dir, { 'tests/staff.json': JSON.stringify([test('staff reads', 'bob', 'read', 'd1', 'allow')]) });
    const { out } = await run(['policy', 'test', dir, '--coverage']);
    expect(out).toContain('coverage: 3/6');
    expect(out).toContain('    not covered: no-archived  docs.cedar:7\n    not covered: share-mfa  docs.cedar:10\n    not covered: root-all  docs.cedar:13\n');
  });

  it('a template without links is never covered, and says so', async () => {
    await writeFolder(dir, { 'links.json': '[]' });
    const { out } = await run(['policy', 'test', dir, '--coverage']);
    expect(out).toContain('    not covered: grant  admin.cedar:1 (template without links)');
  });

  it('--coverage-min PCT: exit 1 below it, 0 at or above it, 2 for a bad PCT', async () => {
    expect((await run(['policy', 'test', dir, '--coverage-min', '83'])).code).toBe(EXIT.OK);
    const below = await run(['policy', 'test', dir, '--coverage-min', '83.4']);
    expect(below.code).toBe(EXIT.CHECK_FAILED);
    expect(below.out).toContain('5 passed, 0 failed');
    expect(below.out).toContain('FAIL coverage 83.3% is below --coverage-min 83.4%');
    const json = JSON.parse((await run(['policy', 'test', dir, '--coverage-min', '90', '--json'])).out);
    expect(json.coverage).toMatchObject({ min: 90, belowMin: true });
    await writeFolder(dir, { 'tests/root.json': JSON.stringify(test('root reads', 'root', 'read', 'd4', 'allow')) });
    expect((await run(['policy', 'test', dir, '--coverage-min', '100'])).code).toBe(EXIT.OK);
    for (const bad of ['101', 'abc', '-5', '']) expect((await run(['policy', 'test', dir, '--coverage-min', bad])).code).toBe(EXIT.USAGE);
  });

  it('a failing test still fails with enough coverage', async () => {
    await writeFolder(dir, { 'tests/wrong.json': JSON.stringify(test('root reads?', 'root', 'read', 'd4', 'deny')) });
    const { code, out } = await run(['policy', 'test', dir, '--coverage-min', '50']);
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(out).toContain('coverage: 6/6');
  });

  it('on 300 generated tests, decisions and per-policy hits are those of cedar-wasm isAuthorized', async () => {
    const content = await contentOf(fixtureFiles());
    const templateOf = new Map(LINKS.map((l) => [l.id, l.templateId]));
    const want: Record<string, number> = Object.fromEntries([...Object.keys(content.policies), ...Object.keys(content.templates)].map((id) => [id, 0]));
    const cases = everyRequest().map((c) => {
      const answer = oracleDecides(content, ENTITIES, c);
      for (const id of new Set([...answer.reasons, ...answer.errors].map((x) => templateOf.get(x) ?? x))) want[id] = (want[id] ?? 0) + 1;
      return { ...test(c.name, c.principal.id, c.action.id, c.resource.id, answer.decision), request: { ...test(c.name, c.principal.id, c.action.id, c.resource.id, 'deny').request, context: c.context } };
    });
    await writeFolder(dir, { 'tests/owner.json': '[]', 'tests/staff.json': '[]', 'tests/all.json': JSON.stringify(cases) });
    const { code, out } = await run(['policy', 'test', dir, '--coverage', '--json']);
    const report = JSON.parse(out) as { passed: number; failed: number; coverage: { policies: Array<{ id: string; hits: number }> } };
    expect(report).toMatchObject({ passed: 300, failed: 0 });
    expect(code).toBe(EXIT.OK);
    expect(Object.fromEntries(report.coverage.policies.map((p) => [p.id, p.hits]))).toEqual(want);
    // Every policy is reached by some request and none by all: the hits tell policies apart.
    expect(Object.values(want).every((n) => n > 0 && n < 300)).toBe(true);
  });
});
