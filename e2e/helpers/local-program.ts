/**
 * Test helper: a real program of the operating system (nginx, caddy) run as a child process on
 * free loopback ports: found where Debian installs it, started, waited on until it listens,
 * stopped. Never skips: a missing program fails the test and says how to install it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, connect } from 'node:net';

/** The first executable of `candidates`, or an error naming the Debian package to install. */
export function findProgram(debianPackage: string, candidates: string[]): string {
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here; try the next place
    }
  }
  throw new Error(`${debianPackage} is not installed: apt-get install -y --no-install-recommends ${debianPackage} (scripts/ensure-test-peers.sh, run by .ci/run and npm test, does this)`);
}

/** A port that was free a moment ago (nginx and caddy cannot take port 0 and report it back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Run a program to completion (a version or config check), its stdout and stderr together. */
export function runProgram(binary: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code, output }));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Wait until `child` accepts connections on every port, for at most `withinMs`. If it exits or
 * the time runs out, it is killed and the error carries `explain()` (its output, its log).
 */
export async function waitUntilListening(child: ChildProcess, ports: number[], explain: () => Promise<string>, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the program did not listen on 127.0.0.1:${port}: ${await explain()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Ask `child` to stop with SIGTERM (nginx's fast shutdown, caddy's graceful one); kill it if it lingers. */
export async function stopProgram(child: ChildProcess, withinMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
  await exited;
  clearTimeout(timer);
}
