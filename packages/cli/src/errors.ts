/** Exit codes and the CLI's one error type, mapping server and core errors to exit codes. */
import { isVerityError } from '@verity/core';
import type { Diagnostic } from '@verity/core';

/** Exit codes; documented in README.md and `verity --help`. Never renumbered. */
export const EXIT = {
  OK: 0,
  /** A check failed: `policy test` failures, `authorize` deny, `audit verify` problems. */
  CHECK_FAILED: 1,
  /** Unknown command or flag, missing or extra argument. */
  USAGE: 2,
  /** Invalid input: policy parse or validation error, bad folder or file. */
  INVALID_INPUT: 3,
  /** Server unreachable or server error (5xx). */
  SERVER: 4,
  /** Authentication or authorization refused (401/403). */
  AUTH: 5,
  /** Not found (404), e.g. unknown tenant or version. */
  NOT_FOUND: 6,
  /** Interrupted (SIGINT/SIGTERM) while waiting for the server; the shell convention 128 + 2. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The CLI's own error codes — failures that are not the server's (whose codes pass through
 * unchanged) — each with the exit code it ends the command with. Listed in README.md; never
 * renamed or reused.
 */
export const CLI_ERROR_CODES = {
  /** Unknown command or flag, missing or extra argument, a flag value of the wrong form. */
  ERR_CLI_USAGE: EXIT.USAGE,
  /** `serve --config`: the file cannot be read, is not YAML or JSON, or holds an unknown key or a bad value. */
  ERR_CLI_CONFIG_FILE: EXIT.USAGE,
  /** A file or folder that cannot be read. */
  ERR_CLI_FILE: EXIT.INVALID_INPUT,
  /** `identity-source add --keys`: not a JWKS, or a private key. */
  ERR_CLI_KEYS_FILE: EXIT.INVALID_INPUT,
  /** `tenant update --settings-file`: not a JSON object. */
  ERR_CLI_SETTINGS_FILE: EXIT.INVALID_INPUT,
  /** A token file (or stdin) that is empty. */
  ERR_CLI_TOKEN_EMPTY: EXIT.INVALID_INPUT,
  /** A token file that does not hold exactly one JWT. */
  ERR_CLI_TOKEN_MALFORMED: EXIT.INVALID_INPUT,
  /** `eval --request`, `policy diff --requests`: not JSON or JSON lines of requests, or a malformed request. */
  ERR_CLI_REQUEST_FILE: EXIT.INVALID_INPUT,
  /** `audit verify --checkpoint`: not a checkpoint file, or one of another tenant. */
  ERR_CLI_CHECKPOINT_FILE: EXIT.INVALID_INPUT,
  /** `audit verify --file`: a line that is not an audit event, or an event of another tenant. */
  ERR_CLI_AUDIT_FILE: EXIT.INVALID_INPUT,
  /** `tenant delete --export-audit`: the audit exported does not verify, so it is not removed from the store. */
  ERR_CLI_AUDIT_CHAIN: EXIT.CHECK_FAILED,
  /** The server answered 2xx with something that is not the expected answer. */
  ERR_CLI_BAD_ANSWER: EXIT.SERVER,
  /** `db install`/`db rotate`: the application database cannot be reached, or refused a statement. */
  ERR_CLI_DATABASE: EXIT.SERVER,
  /** The server cannot be reached. */
  ERR_CLI_UNREACHABLE: EXIT.SERVER,
  /** Anything unexpected (a bug). */
  ERR_CLI_INTERNAL: EXIT.SERVER,
  /** SIGINT/SIGTERM while waiting for the server. */
  ERR_CLI_INTERRUPTED: EXIT.INTERRUPTED,
} as const;

export type CliErrorCode = keyof typeof CLI_ERROR_CODES;

/** An error that ends the command with `exitCode`; `message` is safe to print. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly code: string;
  readonly diagnostics: Diagnostic[];
  /** Policy texts by file name, so diagnostics with only offsets get line and column. */
  sources: Readonly<Record<string, string>> = {};

  constructor(exitCode: ExitCode, code: string, message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = code;
    this.diagnostics = diagnostics;
  }
}

/** A CLI error with one of the CLI's own codes, ending the command with that code's exit code. */
export function cliError(code: CliErrorCode, message: string): CliError {
  return new CliError(CLI_ERROR_CODES[code], code, message);
}

/** Runs `fn`; an error it throws becomes a CliError that knows the policy `sources`. */
export async function withSources<T>(sources: Readonly<Record<string, string>>, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const cliError = toCliError(error);
    cliError.sources = sources;
    throw cliError;
  }
}

/** A usage error (exit 2). */
export function usageError(message: string): CliError {
  return cliError('ERR_CLI_USAGE', message);
}

/** The exit code for an HTTP status (or a core error's status). */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status >= 400 && status < 500) return EXIT.INVALID_INPUT;
  return EXIT.SERVER;
}

/**
 * Turns anything thrown into a CliError: file-system errors (ENOENT, EACCES…) are invalid
 * input (3); anything else unexpected is reported as an internal failure (4).
 */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (isVerityError(error)) {
    return new CliError(exitCodeForStatus(error.status), error.code, error.message, error.diagnostics ?? []);
  }
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error instanceof Error && typeof errno === 'string' && errno.startsWith('E')) {
    return cliError('ERR_CLI_FILE', error.message);
  }
  const message = error instanceof Error ? error.message : String(error);
  return cliError('ERR_CLI_INTERNAL', message);
}
