/** The `verity` CLI run in-process (runCli) against a server, as a user runs it: its exit code and what it printed. */
import { Readable } from 'node:stream';
import { runCli } from '@verity/cli';
import { ADMIN_TOKEN } from './verity.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export interface CliRunOptions {
  /** The server (VERITY_URL). */
  url: string;
  /** More environment (the admin token is VERITY_ADMIN_TOKEN already). */
  env?: Record<string, string>;
  /** The working folder (default the process's). */
  cwd?: string;
  /** What standard input holds. */
  stdin?: string;
}

export async function runVerity(argv: readonly string[], options: CliRunOptions): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    env: { VERITY_URL: options.url, VERITY_ADMIN_TOKEN: ADMIN_TOKEN, ...options.env },
    fetch: globalThis.fetch,
    cwd: options.cwd ?? process.cwd(),
    ...(options.stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(options.stdin)]) }),
  });
  return { code, out, err };
}
