/** Tests for dispatch, help on every command, usage errors and their exit codes. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { commands } from './commands/index.js';
import { EXIT } from './errors.js';
import { EXIT_CODE_HELP } from './help.js';
import { run } from './test-helpers.js';

describe('verity (top level)', () => {
  it('--help lists every command and the exit codes', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const { code, out } = await run([flag]);
      expect(code).toBe(EXIT.OK);
      for (const command of commands) expect(out).toContain(command.name);
      for (const line of EXIT_CODE_HELP) expect(out).toContain(line);
    }
  });

  it('no arguments prints help to stderr and exits 2', async () => {
    const { code, out, err } = await run([]);
    expect(code).toBe(EXIT.USAGE);
    expect(out).toBe('');
    expect(err).toContain('Usage: verity <command>');
  });

  it('an unknown command exits 2', async () => {
    const { code, err } = await run(['frobnicate']);
    expect(code).toBe(EXIT.USAGE);
    expect(err).toContain("unknown command 'frobnicate'");
  });

  it('a group lists its commands; an unknown subcommand exits 2', async () => {
    const help = await run(['policy', '--help']);
    expect(help.code).toBe(EXIT.OK);
    expect(help.out).toContain('policy push');
    expect(help.out).not.toContain('tenant create');
    expect((await run(['policy'])).code).toBe(EXIT.USAGE);
    const unknown = await run(['policy', 'frobnicate']);
    expect(unknown.code).toBe(EXIT.USAGE);
    expect(unknown.err).toContain("unknown command 'verity policy frobnicate'");
  });

  it('README documents the same exit codes as --help', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const line of EXIT_CODE_HELP.slice(1)) {
      const [number, ...words] = line.trim().split(/\s+/);
      expect(readme).toContain(`| ${number} | ${words[0]} `);
    }
  });
});

describe.each(commands.map((c) => [c.name, c] as const))('verity %s', (name, command) => {
  const argv = name.split(' ');

  it('--help and -h print usage, every flag, and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, out } = await run([...argv, flag]);
      expect(code).toBe(EXIT.OK);
      expect(out).toContain(`Usage: verity ${name}`);
      expect(out).toContain(command.summary);
      for (const option of [...Object.keys(command.options), 'help', 'json']) expect(out).toContain(`--${option}`);
    }
  });

  it('--help wins over other, even invalid, arguments', async () => {
    expect((await run([...argv, '--bogus', '--help'])).code).toBe(EXIT.OK);
  });

  it('an unknown flag exits 2', async () => {
    const { code, err } = await run([...argv, '--bogus']);
    expect(code).toBe(EXIT.USAGE);
    expect(err).toContain("'--bogus'");
  });

  it('a wrong number of arguments exits 2', async () => {
    const most = command.arguments.length + (command.optionalArguments?.length ?? 0);
    const args = command.arguments.length === 0 ? Array.from({ length: most + 1 }, () => 'extra') : [];
    const { code, err } = await run([...argv, ...args]);
    expect(code).toBe(EXIT.USAGE);
    expect(err).toMatch(command.arguments.length === 0 ? /unexpected argument extra/ : /missing/);
  });
});

describe('--json errors', () => {
  it('prints the error as JSON on stdout', async () => {
    const { code, out } = await run(['tenant', 'list', 'x', '--json']);
    expect(code).toBe(EXIT.USAGE);
    expect(JSON.parse(out)).toMatchObject({ error: { code: 'ERR_CLI_USAGE', exitCode: EXIT.USAGE } });
  });
});
