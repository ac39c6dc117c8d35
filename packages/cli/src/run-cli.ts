/** The dispatcher: finds the command for argv, parses its flags, runs it and reports errors. */
import { parseArgs } from 'node:util';
import type { Command, CommandIo, ParsedArgs } from './command.js';
import { commands as allCommands } from './commands/index.js';
import { EXIT, toCliError, usageError } from './errors.js';
import { commandHelp, listHelp, sharedOptions } from './help.js';
import { writeError } from './output.js';

const isHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h' || arg === 'help';

function findCommand(argv: readonly string[], commands: readonly Command[]): { command: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = commands.find((c) => c.name === name);
    if (command && argv.length >= words) return { command, rest: argv.slice(words) };
  }
  return undefined;
}

function parse(command: Command, rest: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries({ ...command.options, ...sharedOptions }).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple ? { multiple: true } : {}) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(`${(error as Error).message} (see 'verity ${command.name} --help')`);
  }
  const expected = command.arguments;
  const most = expected.length + (command.optionalArguments?.length ?? 0);
  const count = parsed.positionals.length;
  if (count < expected.length || count > most) {
    const what = count < expected.length ? `missing ${expected.slice(count).join(' ')}` : `unexpected argument ${parsed.positionals[most]}`;
    throw usageError(`${what} (usage: verity ${command.name} ${command.usage})`);
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

/**
 * Runs `verity` with `given` (without the node and script paths; a leading `--version` is the
 * `version` command) and resolves to the exit code.
 * Never throws: every failure is printed and mapped to an exit code (see `EXIT`).
 */
export async function runCli(given: readonly string[], io: CommandIo, commands: readonly Command[] = allCommands): Promise<number> {
  const argv = given[0] === '--version' ? ['version', ...given.slice(1)] : given;
  const [first, second] = argv;
  if (first === undefined || isHelp(first)) {
    (first === undefined ? io.stderr : io.stdout).write(listHelp(commands));
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const found = findCommand(argv, commands);
  const json = argv.includes('--json');
  if (!found) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0 && (second === undefined || isHelp(second))) {
      (second === undefined ? io.stderr : io.stdout).write(listHelp(group, first));
      return second === undefined ? EXIT.USAGE : EXIT.OK;
    }
    const what = group.length > 0 ? `unknown command 'verity ${first} ${second ?? ''}'` : `unknown command '${first}'`;
    return writeError(io, usageError(`${what.trimEnd()}; run 'verity --help' for the list`), json);
  }
  const { command, rest } = found;
  const end = rest.indexOf('--');
  if ((end === -1 ? rest : rest.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')) {
    io.stdout.write(commandHelp(command));
    return EXIT.OK;
  }
  try {
    return await command.run(parse(command, rest), io);
  } catch (error) {
    return writeError(io, toCliError(error), json);
  }
}
