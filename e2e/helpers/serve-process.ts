/** A real `verity serve` child process, decision load from concurrent clients, and the audit read back. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, createClient } from './verity.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/verity.mjs', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Resolves when the process ends, with its exit code (null when killed by a signal), stderr and stdout (the JSON log). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
}

/**
 * Start `verity serve <args>` (port 0, open decisions, the demo tenant, the test admin token, a
 * fresh data folder unless `args` name a store) and
 * resolve once it listens; rejects with its stderr when it exits first.
 */
export function startServeProcess(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  // A data folder of its own unless the caller names a store: the default (`./.verity-data`) is
  // one folder for every test file running at once, and its lock lets only one serve.
  const store = args.includes('--data') || args.includes('--database-url') ? [] : ['--data', join(mkdtempSync(join(tmpdir(), 'verity-serve-')), 'data')];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--demo', '--open-decisions', '--log-level', 'warn', ...store, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VERITY_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((done) => child.once('exit', (code, signal) => done({ code, signal, stderr, stdout })));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /Verity listening on (\S+)/.exec(stdout)?.[1];
      if (url) resolve({ child, url, exited });
    });
    void exited.then(({ code, signal }) => reject(new Error(`verity serve exited (${code ?? signal}) before listening: ${stderr}`)));
  });
}

/** Kill what is still running (afterAll). */
export async function killAll(processes: readonly ServeProcess[]): Promise<void> {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
}

/** A demo-tenant request the demo policies allow. */
const REQUEST = { subject: { type: 'user', id: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 'todo-1' } };

export interface Load {
  /** Decision ids of every 200 a client received so far. */
  answered: string[];
  /** Status counts of every other answer, and connection errors as `error`. */
  others: Map<string, number>;
  /** Stop the clients and wait for them (in-flight requests end with the server or finish). */
  stop(): Promise<void>;
}

/** `clients` concurrent loops asking the root AuthZEN evaluation endpoint until stopped. */
export function startLoad(url: string, clients: number): Load {
  const answered: string[] = [];
  const others = new Map<string, number>();
  let stopping = false;
  const count = (key: string) => others.set(key, (others.get(key) ?? 0) + 1);
  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const response = await fetch(`${url}/access/v1/evaluation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(REQUEST) });
        const body = (await response.json()) as { context?: { id?: string } };
        if (response.status === 200 && body.context?.id) answered.push(body.context.id);
        else count(String(response.status));
      } catch {
        count('error');
        // The server is gone or going: do not spin.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  const loops = Array.from({ length: clients }, loop);
  return {
    answered,
    others,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

/** Every decision id in the tenant's audit (paged), and whether its chain verifies. */
export async function readAudit(url: string, tenant: string): Promise<{ ids: Set<string>; verified: boolean }> {
  const admin = createClient(url);
  const ids = new Set<string>();
  let after = 0;
  for (;;) {
    const page = await admin.get(`/admin/v1/tenants/${tenant}/audit?after=${after}&limit=1000`);
    if (page.status !== 200) throw new Error(`audit read: ${page.status} ${JSON.stringify(page.body)}`);
    for (const event of page.body.events as Array<{ decisionId: string }>) ids.add(event.decisionId);
    if (page.body.next === null) break;
    after = page.body.next as number;
  }
  const verify = await admin.get(`/admin/v1/tenants/${tenant}/audit/verify`);
  return { ids, verified: verify.status === 200 && verify.body.ok === true };
}

/** Resolves once `load` has at least `n` answered decisions (bounded). */
export async function answeredAtLeast(load: Load, n: number, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (load.answered.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${load.answered.length} decisions answered in ${withinMs} ms (others: ${JSON.stringify([...load.others])})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
