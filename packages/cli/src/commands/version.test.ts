/** Tests for `verity --version` and `verity version`: the package's version, read at run time, and Node's. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { runCli } from '../run-cli.js';
import { createTestIo, run } from '../test-helpers.js';
import { createVersionCommand } from './version.js';

describe('verity --version', () => {
  it("prints packages/cli/package.json's version and Node's, as --version and as version", async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const argv of [['--version'], ['version']]) {
      expect(await run(argv)).toEqual({ code: EXIT.OK, out: `verity ${version} (Node.js ${process.version})\n`, err: '' });
    }
    const json = await run(['--version', '--json']);
    expect(JSON.parse(json.out)).toEqual({ verity: version, node: process.version });
  });

  it('reads the version from the package file when it runs, not from the code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-version-'));
    try {
      const file = join(dir, 'package.json');
      await writeFile(file, JSON.stringify({ name: '@verity/cli', version: '9.8.7-test' }));
      const io = createTestIo();
      expect(await runCli(['version'], io, [createVersionCommand(pathToFileURL(file))])).toBe(EXIT.OK);
      expect(io.out()).toBe(`verity 9.8.7-test (Node.js ${process.version})\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
