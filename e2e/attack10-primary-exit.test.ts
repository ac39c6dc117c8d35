/**
 * attack10: when every worker of `verity serve --workers N` dies at once (N = 1: the one worker),
 * the primary must start new ones, not exit. Observed: it logs "starting another" and exits 13.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { workerPids } from './helpers/cluster-scenario.js';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

const processes: ServeProcess[] = [];
afterAll(() => killAll(processes));


describe('attack10: every worker killed at once', () => {
  it('--workers 2: a replacement killed before it listened is started again; every worker killed at once is replaced, the primary stays up', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'attack10p-')), 'data');
    const server = await startServeProcess(['--workers', '2', '--data', data]);
    processes.push(server);
    const primary = server.child.pid as number;
    await eventually(async () => void expect(workerPids(primary)).toHaveLength(2), 30_000);
    const [first, keep] = workerPids(primary) as [number, number];
    process.kill(first, 'SIGKILL');
    let young = 0;
    await eventually(async () => {
      const pids = workerPids(primary).filter((p) => p !== first && p !== keep);
      expect(pids).toHaveLength(1);
      young = pids[0] as number;
    }, 10_000, 50);
    process.kill(young, 'SIGKILL'); // before it listened (a worker takes seconds to start)
    await eventually(async () => {
      const pids = workerPids(primary);
      expect(pids.filter((p) => p !== first && p !== young && p !== keep), 'a third worker process was started').toHaveLength(1);
    }, 40_000, 200);
    // Now every worker at once (with one worker, a crash of that one): the primary starts others on the same port.
    await eventually(async () => {
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
    }, 30_000, 100);
    const victims = workerPids(primary);
    for (const pid of victims) process.kill(pid, 'SIGKILL');
    await eventually(async () => {
      expect(server.child.exitCode, 'primary exited').toBeNull();
      const pids = workerPids(primary);
      expect(pids).toHaveLength(2);
      for (const v of victims) expect(pids).not.toContain(v);
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
    }, 40_000, 100);
  }, 120_000);
});
