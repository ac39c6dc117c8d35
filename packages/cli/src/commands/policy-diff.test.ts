/** Tests for `verity policy diff OLD_DIR NEW_DIR [--requests FILE]`, decisions checked against cedar-wasm's isAuthorized. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { DOCS_CEDAR, ENTITIES, contentOf, everyRequest, fixtureFiles, jsonLines, oracleDecides, writeFolder } from '../rollout-test-helpers.js';
import { run } from '../test-helpers.js';

let root: string;
let oldDir: string;
let newDir: string;

/** owner-any's condition written the other way round: another text, the same decisions. */
const REORDERED = DOCS_CEDAR.replace('when { resource.owner == principal }', 'when { principal == resource.owner }');
/** docs.1 (no @id: named by its place) also lets readers write: flips "bob writes d1". */
const READERS_WRITE = DOCS_CEDAR.replace('action == Action::"read", resource) when { principal in', 'action in [Action::"read", Action::"write"], resource) when { principal in');

const diff = (...more: string[]) => run(['policy', 'diff', 'old', 'new', ...more], { cwd: root });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'verity-diff-'));
  oldDir = join(root, 'old');
  newDir = join(root, 'new');
  await writeFolder(oldDir, fixtureFiles());
  await writeFolder(root, { 'requests.jsonl': jsonLines(everyRequest()) });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('verity policy diff OLD_DIR NEW_DIR', () => {
  it('no change: says so, and no decision differs', async () => {
    await writeFolder(newDir, fixtureFiles());
    expect(await diff('--requests', 'requests.jsonl')).toMatchObject({ code: EXIT.OK, out: 'old -> new\nno changes\n300 requests: 0 decisions differ\n' });
  });

  it('a policy whose text changed but whose decisions did not: its unified diff, no decision differs, exit 0', async () => {
    await writeFolder(newDir, fixtureFiles({ 'docs.cedar': REORDERED }));
    const { code, out } = await diff('--requests', 'requests.jsonl', '--exit-code');
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(
      [
        'old -> new',
        '~ policy owner-any  (docs.cedar:1 -> docs.cedar:1)',
        '    @@ -1,2 +1,2 @@',
        '     @id("owner-any")',
        '    -permit(principal, action, resource) when { resource.owner == principal };',
        '    +permit(principal, action, resource) when { principal == resource.owner };',
        '300 requests: 0 decisions differ',
        '',
      ].join('\n'),
    );
  });

  it('a change that flips a request: both answers with their determining policies; exit 1 with --exit-code', async () => {
    await writeFolder(newDir, fixtureFiles({ 'docs.cedar': READERS_WRITE }));
    await writeFolder(root, { 'one.json': JSON.stringify({ name: 'bob writes d1', principal: 'User::"bob"', action: 'Action::"write"', resource: 'Doc::"d1"' }) });
    const { code, out } = await diff('--requests', 'one.json', '--exit-code');
    expect(code).toBe(EXIT.CHECK_FAILED);
    expect(await diff('--requests', 'one.json')).toMatchObject({ code: EXIT.OK, out });
    expect(out).toBe(
      [
        'old -> new',
        '~ policy docs.1  (docs.cedar:4 -> docs.cedar:4)',
        '    @@ -4,1 +4,1 @@',
        '    -permit(principal, action == Action::"read", resource) when { principal in resource.readers };',
        '    +permit(principal, action in [Action::"read", Action::"write"], resource) when { principal in resource.readers };',
        '1 requests: 1 decision differs',
        '~ decision bob writes d1 (User::"bob" Action::"write" Doc::"d1")',
        '    from: deny   no policy applied',
        '    to:   allow  determined by docs.1',
        '',
      ].join('\n'),
    );
  });

  it('added and removed policies, links and the schema, with their text; validation mode', async () => {
    const links = [{ id: 'grant-bob-d4', templateId: 'grant', values: { '?principal': { type: 'User', id: 'bob' }, '?resource': { type: 'Doc', id: 'd4' } } }];
    await writeFolder(newDir, {
      ...fixtureFiles({ 'docs.cedar': DOCS_CEDAR.replace(/@id\("root-all"\)\n.*\n/, ''), 'links.json': JSON.stringify(links) }),
      'extra.cedar': 'forbid(principal == User::"dave", action, resource);\n',
      'schema.cedarschema': 'entity Group; entity User in [Group]; entity Doc { owner?: User, readers?: Group, archived?: Bool };\naction read, write, delete, share appliesTo { principal: User, resource: Doc, context: { mfa?: Bool } };\n',
      'verity.json': JSON.stringify({ validationMode: 'off' }),
    });
    const { code, out } = await diff('--json');
    expect(code).toBe(EXIT.OK);
    const report = JSON.parse(out);
    expect(report).toMatchObject({
      from: 'old',
      to: 'new',
      policies: { added: ['extra.0'], removed: ['root-all'], changed: [] },
      links: { added: ['grant-bob-d4'], removed: ['grant-carol-d2'], changed: [] },
      schemaChanged: true,
      validationModeChanged: false,
    });
    expect(report.changes.map((c: { change: string; kind: string; id: string; from?: string; to?: string }) => [c.change, c.kind, c.id, c.from ?? c.to])).toEqual([
      ['added', 'policy', 'extra.0', 'extra.cedar:1'],
      ['removed', 'policy', 'root-all', 'docs.cedar:13'],
      ['added', 'link', 'grant-bob-d4', undefined],
      ['removed', 'link', 'grant-carol-d2', undefined],
      ['added', 'schema', 'schema', undefined],
    ]);
    expect(report.changes[0].diff).toBe('@@ -0,0 +1,1 @@\n+forbid(principal == User::"dave", action, resource);');
    expect(report.changes[1].diff).toBe('@@ -13,2 +0,0 @@\n-@id("root-all")\n-permit(principal == User::"root", action, resource);');
    const human = (await diff()).out;
    expect(human).toContain('+ policy extra.0  (extra.cedar:1)\n    @@ -0,0 +1,1 @@\n    +forbid(');
    expect(human).toContain('- link grant-carol-d2\n');
    expect(human).toContain('+ schema\n    @@ -0,0 +1,2 @@\n    +entity Group;');
    expect(report.requests).toBeUndefined();
  });

  it('on 300 requests, the differing decisions are exactly those cedar-wasm isAuthorized finds', async () => {
    const newFiles = fixtureFiles({ 'docs.cedar': READERS_WRITE.replace('when { resource.owner == principal }', 'when { principal == resource.owner }').replace(/@id\("root-all"\)\n.*\n/, '') });
    await writeFolder(newDir, newFiles);
    const { code, out } = await diff('--requests', 'requests.jsonl', '--json', '--exit-code');
    expect(code).toBe(EXIT.CHECK_FAILED);
    const report = JSON.parse(out) as { requests: { total: number; differing: number; changes: Array<{ name: string; from: Outcome; to: Outcome }> } };
    const [before, after] = [await contentOf(fixtureFiles()), await contentOf(newFiles)];
    let otherReasons = 0;
    const want = everyRequest().flatMap((c) => {
      const [a, b] = [oracleDecides(before, ENTITIES, c), oracleDecides(after, ENTITIES, c)];
      if (a.decision === b.decision && a.reasons.join() !== b.reasons.join()) otherReasons++;
      return a.decision === b.decision ? [] : [{ name: c.name, from: a, to: b }];
    });
    // Some requests keep their decision with other determining policies (bob writes d3, which he
    // owns and staff reads): not a decision change, so not listed.
    expect(otherReasons).toBeGreaterThan(0);
    const got = report.requests.changes.map((c) => ({ name: c.name, from: answer(c.from), to: answer(c.to) }));
    expect(got).toEqual(want);
    expect(report.requests).toMatchObject({ total: 300, differing: want.length });
    // Both kinds of flip occur: readers may now write (deny → allow), root lost root-all (allow → deny).
    expect(want.some((w) => w.to.decision === 'allow') && want.some((w) => w.to.decision === 'deny')).toBe(true);
    // owner-any's rewrite flips nothing: no request it determines on one side only changed.
    expect(got.filter((c) => c.from.reasons.includes('owner-any') !== c.to.reasons.includes('owner-any'))).toEqual([]);
  });

  it('a missing folder exits 3; a --tenant side must be a version, --exit-code needs --requests (exit 2)', async () => {
    expect((await diff()).code).toBe(EXIT.INVALID_INPUT);
    await writeFolder(newDir, fixtureFiles());
    expect((await diff('--exit-code')).code).toBe(EXIT.USAGE);
    expect((await run(['policy', 'diff', '--tenant', 'acme', 'old', 'new'], { cwd: root })).code).toBe(EXIT.USAGE);
  });
});

interface Outcome {
  decision: 'allow' | 'deny';
  determiningPolicies: string[];
  errors: Array<{ policyId: string }>;
}

const answer = (o: Outcome) => ({ decision: o.decision, reasons: [...o.determiningPolicies].sort(), errors: o.errors.map((e) => e.policyId).sort() });
