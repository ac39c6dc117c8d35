/** `verity version` (and `verity --version`): the CLI's version, read from its package.json, and Node's. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.js';
import { cliError, EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);

/** Builds the version command around a package.json (tests pass their own). */
export function createVersionCommand(packageJson: URL = PACKAGE_JSON): Command {
  return {
    name: 'version',
    summary: "Print the CLI's version and Node.js's",
    usage: '',
    arguments: [],
    options: {},
    async run(args, io) {
      const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version?: unknown };
      if (typeof version !== 'string') throw cliError('ERR_CLI_INTERNAL', `${fileURLToPath(packageJson)} has no version`);
      writeResult(args, io, { verity: version, node: process.version }, () => writeLines(io.stdout, `verity ${version} (Node.js ${process.version})`));
      return EXIT.OK;
    },
  };
}

export const version: Command = createVersionCommand();
