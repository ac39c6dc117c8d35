/** Tests for `verity policy test DIR --watch`: every change runs the tests again until the signal ends it. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../e2e/helpers/eventually.js';
import { EXIT } from '../errors.js';
import { fixtureFiles, writeFolder } from '../rollout-test-helpers.js';
import { runCli } from '../run-cli.js';
import { createTestIo } from '../test-helpers.js';

let dir: string;
const request = (subject: string, action: string, resource: string) => ({ subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: resource } });
const cases = (expect: 'allow' | 'deny') => JSON.stringify([{ name: 'alice reads d1', request: request('alice', 'read', 'd1'), expect }]);
/** How many runs' summary lines the output holds so far. */
const runs = (out: string): string[] => out.split('\n').filter((line) => /^\d+ passed, \d+ failed$/.test(line));
/** Bounded wait for a watch reaction: file events and a re-run take milliseconds, a loaded box seconds. */
const WITHIN_MS = 20_000;
/** Each test waits for several reactions. */
const TEST_MS = 120_000;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-watch-'));
  await writeFolder(dir, fixtureFiles({ 'tests/alice.json': cases('allow') }));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verity policy test --watch', () => {
  it('runs again on every change, reports a policy that does not parse and goes on, and ends on the signal with the last exit code', async () => {
    const controller = new AbortController();
    const io = createTestIo({ signal: controller.signal });
    const done = runCli(['policy', 'test', dir, '--watch'], io);
    await eventually(async () => expect(runs(io.out())).toEqual(['1 passed, 0 failed']), WITHIN_MS);

    // A test that now expects the opposite: the next run fails it.
    await writeFile(join(dir, 'tests', 'alice.json'), cases('deny'));
    await eventually(async () => expect(runs(io.out()).at(-1)).toBe('0 passed, 1 failed'), WITHIN_MS);
    expect(io.out()).toContain(`-- change in ${dir}: running again`);
    expect(io.out()).toContain('FAIL tests/alice.json: alice reads d1: expected deny, got allow');

    // A policy that does not parse: its diagnostic on stderr, and the watch goes on.
    await writeFile(join(dir, 'docs.cedar'), 'permit(principal, action, resource) when {');
    await eventually(async () => expect(io.err()).toMatch(/docs\.cedar:1:\d+/), WITHIN_MS);

    // Fixed again, with the owner policy gone: alice is denied, which the test now expects.
    const seen = runs(io.out()).length;
    await writeFile(join(dir, 'docs.cedar'), '@id("root-all")\npermit(principal == User::"root", action, resource);\n');
    await eventually(async () => {
      expect(runs(io.out()).length).toBeGreaterThan(seen);
      expect(runs(io.out()).at(-1)).toBe('1 passed, 0 failed');
    }, WITHIN_MS);

    controller.abort();
    expect(await done).toBe(EXIT.OK);
  }, TEST_MS);

  it('ends with exit 1 when the last run failed, and runs once without a signal to end it', async () => {
    await writeFile(join(dir, 'tests', 'alice.json'), cases('deny'));
    const controller = new AbortController();
    const io = createTestIo({ signal: controller.signal });
    const done = runCli(['policy', 'test', dir, '--watch'], io);
    await eventually(async () => expect(runs(io.out())).toHaveLength(1), WITHIN_MS);
    controller.abort();
    expect(await done).toBe(EXIT.CHECK_FAILED);

    const once = createTestIo();
    expect(await runCli(['policy', 'test', dir, '--watch'], once)).toBe(EXIT.CHECK_FAILED);
    expect(runs(once.out())).toHaveLength(1);
  }, TEST_MS);

  it('a folder removed is reported and the watch goes on; made again, it is watched again', async () => {
    const controller = new AbortController();
    const io = createTestIo({ signal: controller.signal });
    let ended = false;
    const done = runCli(['policy', 'test', dir, '--watch'], io).finally(() => (ended = true));
    await eventually(async () => expect(runs(io.out())).toHaveLength(1), WITHIN_MS);
    await rm(dir, { recursive: true, force: true });
    await eventually(async () => expect(io.err()).toContain('verity: '), WITHIN_MS);
    expect(ended).toBe(false);
    await writeFolder(dir, fixtureFiles({ 'tests/alice.json': cases('allow') }));
    await eventually(async () => expect(runs(io.out()).length).toBeGreaterThan(1), WITHIN_MS);
    expect(runs(io.out()).at(-1)).toBe('1 passed, 0 failed');
    controller.abort();
    expect(await done).toBe(EXIT.OK);
  }, TEST_MS);

  it('a folder that cannot be read is reported like any run, and the watch ends on the signal', async () => {
    const controller = new AbortController();
    const io = createTestIo({ signal: controller.signal });
    const missing = join(dir, 'missing');
    const done = runCli(['policy', 'test', missing, '--watch'], io);
    await eventually(async () => expect(io.err()).toContain('verity: '), WITHIN_MS);
    controller.abort();
    expect(await done).not.toBe(EXIT.OK);
  });
});
