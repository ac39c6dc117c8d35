/** The shape every `verity` command module exports, and the I/O it runs against. */

/** Where a command writes; `process.stdout` fits, and so does a string collector in tests. */
export interface Writer {
  write(chunk: string): unknown;
}

/** Everything a command may touch outside its arguments, injectable so tests run in-process. */
export interface CommandIo {
  stdout: Writer;
  stderr: Writer;
  env: Readonly<Record<string, string | undefined>>;
  fetch: typeof globalThis.fetch;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM: `serve` closes, `audit tail --follow` stops, requests are cancelled. */
  signal?: AbortSignal;
  /** Standard input, for commands that read a file argument given as `-` (e.g. a token). */
  stdin?: AsyncIterable<string | Uint8Array>;
}

/** One flag, in the shape `util.parseArgs` takes plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** Placeholder shown in help for string options (`--port N`). */
  valueName?: string;
  /** The flag may be given more than once; its value is then an array of strings. */
  multiple?: boolean;
}

/** Parsed flags and positionals, positionals already checked against `Command.arguments`. */
export interface ParsedArgs {
  values: Readonly<Record<string, string | boolean | readonly string[] | undefined>>;
  positionals: readonly string[];
}

/** A `verity` command: one file per command under `src/commands/`. */
export interface Command {
  /** Words after `verity`, e.g. `policy push`. */
  name: string;
  summary: string;
  /** Synopsis after `verity <name>`, e.g. `--tenant T DIR [--message M]`. */
  usage: string;
  /** Required positional arguments, by placeholder name; the count is enforced. */
  arguments: readonly string[];
  /** Optional positional arguments after the required ones (`[FILE]`), at most this many. */
  optionalArguments?: readonly string[];
  /** Flags besides the shared `--help` and `--json`. */
  options: Readonly<Record<string, OptionSpec>>;
  /** Longer help text printed after the options, if any. */
  details?: string;
  /** Runs the command and resolves to its exit code (see `EXIT`). */
  run(args: ParsedArgs, io: CommandIo): Promise<number>;
}
