/**
 * One `verity serve` per data folder, with real processes: a second one on a folder in use
 * exits at once naming the folder and the holder; a crashed holder does not block a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Each test starts real `verity serve` processes (the TypeScript loader and a PGlite first start each): slow on a
// busy machine, so a generous limit; nothing here waits for time to pass.
const PROCESSES_MS = 180_000;

const BIN = fileURLToPath(new URL('../packages/cli/bin/verity.mjs', import.meta.url));
let folder: string;
const children: ChildProcess[] = [];

interface Serve {
  child: ChildProcess;
  /** Resolves with the URL once it listens, or with the exit code when it ends first. */
  outcome: Promise<{ url?: string; code?: number | null; stdout: string; stderr: string }>;
}

function serve(dataDir: string): Serve {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VERITY_ADMIN_TOKEN: '' } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  const outcome = new Promise<{ url?: string; code?: number | null; stdout: string; stderr: string }>((done) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /Verity listening on (\S+)/.exec(stdout)?.[1];
      if (url) done({ url, stdout, stderr });
    });
    child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
  return { child, outcome };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((done) => child.once('exit', () => done()));
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-lock-'));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
  await rm(folder, { recursive: true, force: true });
});

describe('one server per data folder', () => {
  it('refuses a second serve on a folder in use, naming the folder and the holder; a crashed holder does not block', async () => {
    const dataDir = join(folder, 'data');
    const first = serve(dataDir);
    const started = await first.outcome;
    expect(started.url, started.stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const second = serve(dataDir);
    const refused = await second.outcome;
    expect(refused.url).toBeUndefined();
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('is in use by');
    expect(refused.stderr).toContain(dataDir);
    expect(refused.stderr).toContain(`process ${first.child.pid} on ${hostname()}`);

    // The first one still serves.
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);

    // A crash leaves the lock file behind; the next start sees its holder is gone.
    first.child.kill('SIGKILL');
    await exited(first.child);
    const third = serve(dataDir);
    const restarted = await third.outcome;
    expect(restarted.url, restarted.stderr).toBeDefined();
    third.child.kill('SIGTERM');
    await exited(third.child);
    expect(third.child.exitCode).toBe(0);
  }, PROCESSES_MS);

  it('takes over a lock left by a process that is gone, and refuses one held on another host', async () => {
    const dataDir = join(folder, 'other');
    // A pid that certainly is not running: a child that has exited.
    const gone = spawn(process.execPath, ['-e', '0']);
    await exited(gone);
    await writeFile(`${dataDir}.lock`, JSON.stringify({ pid: gone.pid, host: hostname(), startedAt: new Date(0).toISOString() }));
    const taken = serve(dataDir);
    expect((await taken.outcome).url).toBeDefined();
    taken.child.kill('SIGTERM');
    await exited(taken.child);

    await writeFile(`${dataDir}.lock`, JSON.stringify({ pid: gone.pid, host: 'elsewhere.example', startedAt: new Date(0).toISOString() }));
    const refused = await serve(dataDir).outcome;
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('on elsewhere.example');
  }, PROCESSES_MS);

  it('a symlink to a folder in use is the same folder: refused with its holder named (found by attack10)', async () => {
    const dataDir = join(folder, 'linked');
    await mkdir(dataDir, { recursive: true });
    const link = join(folder, 'the-link');
    await symlink(dataDir, link);
    await writeFile(`${dataDir}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date(0).toISOString() }));
    const refused = await serve(link).outcome;
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`by process ${process.pid}`);
    expect(refused.stderr).toContain(`${dataDir}.lock`);
    await rm(`${dataDir}.lock`);
  }, PROCESSES_MS);
});
