/** Help text: the top-level command list, a command group, and one command's usage and flags. */
import type { Command, OptionSpec } from './command.js';

/** Flags every command takes; the dispatcher adds them. */
export const sharedOptions: Readonly<Record<string, OptionSpec>> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  json: { type: 'boolean', description: 'print machine-readable JSON' },
};

/** The exit-code table, shown by `verity --help` and kept equal to README.md. */
export const EXIT_CODE_HELP = [
  'Exit codes:',
  '  0    success (authorize: allow)',
  '  1    a check failed (policy test failures, authorize: deny, audit verify problems, serve: audit records not written at a stop)',
  '  2    usage error (unknown command or flag, missing argument)',
  '  3    invalid input (policy parse or validation error, bad folder or file)',
  '  4    server unreachable or server error (5xx)',
  '  5    authentication or authorization refused (401/403)',
  '  6    not found (404, e.g. unknown tenant or version)',
  '  130  interrupted (SIGINT/SIGTERM) while waiting for the server; serve: a second signal during the stop',
];

function flagLine(name: string, spec: OptionSpec): [string, string] {
  const short = spec.short ? `-${spec.short}, ` : '    ';
  const value = spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : '';
  const description = spec.multiple ? `${spec.description} (repeatable)` : spec.description;
  return [`${short}--${name}${value}${spec.multiple ? '…' : ''}`, description];
}

function columns(rows: ReadonlyArray<[string, string]>): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** `verity <command> --help`. */
export function commandHelp(command: Command): string {
  const flags = Object.entries({ ...command.options, ...sharedOptions }).map(([n, s]) => flagLine(n, s));
  const lines = [`Usage: verity ${command.name} ${command.usage}`.trimEnd(), '', command.summary, '', 'Options:', ...columns(flags)];
  if (command.details) lines.push('', command.details);
  return `${lines.join('\n')}\n`;
}

/** `verity --help`, or `verity <group>` listing that group's commands. */
export function listHelp(commands: readonly Command[], group?: string): string {
  const title = group ? `Usage: verity ${group} <command> [options]` : 'Usage: verity <command> [options]';
  const rows = commands.map((c): [string, string] => [c.name, c.summary]);
  const lines = [title, '', 'Commands:', ...columns(rows), '', `Run 'verity <command> --help' for a command's flags.`];
  if (!group) {
    lines.push(
      `'verity --version' (or 'verity version') prints the CLI's version and Node.js's.`,
      '',
      'Remote commands talk to --url (env VERITY_URL, default http://127.0.0.1:8181) and',
      'authenticate with VERITY_ADMIN_TOKEN; token issue, token exchange and token revoke',
      '--token-file authenticate as a token-service client with VERITY_CLIENT_ID and',
      'VERITY_CLIENT_SECRET. Every command takes --json and --help. Credentials and tokens are',
      'never printed, except the token that token issue, token exchange or dev token was asked for',
      'and the new token of credential create or credential rotate (shown once). The dev commands',
      '(dev idp, dev token) are a local token issuer for development only.',
      '',
      ...EXIT_CODE_HELP,
    );
  }
  return `${lines.join('\n')}\n`;
}
