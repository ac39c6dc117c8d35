/**
 * A stop that cannot write the audit still ends by its deadline, and loses nothing: a real
 * `verity serve` on PostgreSQL behind a fault proxy, the database black-holed under load, then
 * SIGTERM → exit 1 naming the spool file; the next start appends the spool (removing it), and
 * every decision a client got a 200 for is in the audit, whose chain verifies.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { createScratchDatabase } from './helpers/postgres.js';
import { answeredAtLeast, killAll, readAudit, startLoad, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

const PROCESSES_MS = 150_000;
const SHUTDOWN_MS = 2000;

let folder: string;
let database: { url: string; drop(): Promise<void> };
let proxy: FaultProxy;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-audit-spool-'));
  database = await createScratchDatabase();
  const target = new URL(database.url);
  proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
});

afterAll(async () => {
  await killAll(processes);
  await proxy?.close();
  await database?.drop();
  await rm(folder, { recursive: true, force: true });
});

describe('a stop while PostgreSQL is black-holed', () => {
  it(
    'exits 1 by its deadline with the unwritten records spooled; the next start appends them',
    async () => {
      const spool = join(folder, 'spool');
      const first = await startServeProcess(['--database-url', proxy.url(database.url), '--audit-spool', spool, '--shutdown-timeout', String(SHUTDOWN_MS)]);
      processes.push(first);
      const load = startLoad(first.url, 8);
      await answeredAtLeast(load, 300);
      proxy.mode('blackhole');
      // Decisions now wait on audit writes that never return; stop while they are queued.
      const answeredBefore = load.answered.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stopAt = Date.now();
      first.child.kill('SIGTERM');
      const stopped = await first.exited;
      const took = Date.now() - stopAt;
      await load.stop();
      expect(stopped.code, stopped.stderr).toBe(1);
      // The deadline, plus the spool's fsync and the CLI's exit grace, on a loaded machine.
      expect(took).toBeLessThan(SHUTDOWN_MS + 5000);
      // Nothing was answered allow once the database stopped answering.
      expect(load.answered.length - answeredBefore).toBeLessThanOrEqual(8);
      const line = /verity: stopped with (\d+) audit records not written to the store; spooled to (\S+)/.exec(stopped.stderr);
      expect(line, stopped.stderr).not.toBeNull();
      const [, count, file] = line as RegExpExecArray;
      expect(Number(count)).toBeGreaterThan(0);
      const spooled = (await readFile(file as string, 'utf8')).trim().split('\n').map((text) => (JSON.parse(text) as { decisionId: string }).decisionId);
      expect(spooled).toHaveLength(Number(count));

      // The link is gone for good (the held transaction ends with it); restart on the database itself.
      await proxy.close();
      const second = await startServeProcess(['--database-url', database.url, '--audit-spool', spool]);
      processes.push(second);
      expect(await readdir(spool)).toEqual([]);
      const audit = await readAudit(second.url, 'demo');
      expect(spooled.filter((id) => !audit.ids.has(id))).toEqual([]);
      expect(load.answered.filter((id) => !audit.ids.has(id))).toEqual([]);
      expect(audit.verified).toBe(true);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    },
    PROCESSES_MS,
  );

  it(
    'a second signal during the stop exits at once (130); in durable mode no answered decision is lost even so',
    async () => {
      const second = await startFaultProxy({ target: { host: new URL(database.url).hostname, port: Number(new URL(database.url).port || 5432) } });
      try {
        const serve = await startServeProcess(['--database-url', second.url(database.url), '--audit-spool', join(folder, 'spool-2')]);
        processes.push(serve);
        const load = startLoad(serve.url, 8);
        await answeredAtLeast(load, 200);
        second.mode('blackhole');
        await new Promise((resolve) => setTimeout(resolve, 300));
        serve.child.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const signalledAt = Date.now();
        serve.child.kill('SIGTERM');
        const stopped = await serve.exited;
        await load.stop();
        expect(stopped.code).toBe(130);
        // Well before the default 10 s deadline the first signal started.
        expect(Date.now() - signalledAt).toBeLessThan(3000);
        await second.close();
        const restarted = await startServeProcess(['--database-url', database.url, '--audit-spool', join(folder, 'spool-2')]);
        processes.push(restarted);
        const audit = await readAudit(restarted.url, 'demo');
        expect(load.answered.filter((id) => !audit.ids.has(id))).toEqual([]);
        expect(audit.verified).toBe(true);
        restarted.child.kill('SIGTERM');
        expect((await restarted.exited).code).toBe(0);
      } finally {
        await second.close();
      }
    },
    PROCESSES_MS,
  );
});
