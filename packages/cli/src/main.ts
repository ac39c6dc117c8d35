/** Process entry of `verity`: wires real stdio, env, fetch and signals into runCli. */
import { runCli } from './run-cli.js';

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // First signal: let the command finish cleanly (serve closes, tail stops). Second: give up.
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  });
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  fetch: globalThis.fetch,
  cwd: process.cwd(),
  signal: controller.signal,
  stdin: process.stdin,
});
// The command is done: a handle it could not close (a stopped server's connection to a
// black-holed database) must not keep the process alive. After a short grace, exit once the
// output is written (a reader that is slow to drain a pipe must still get all of it).
setTimeout(function exitWhenWritten() {
  if (process.stdout.writableLength > 0 || process.stderr.writableLength > 0) setTimeout(exitWhenWritten, 100).unref();
  else process.exit();
}, 1000).unref();
