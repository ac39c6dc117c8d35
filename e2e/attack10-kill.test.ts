/**
 * attack10: SIGKILL workers while admin writes (large bulk imports, policy pushes) are in flight;
 * the store must not wedge, every answered decision must be audited, and SIGTERM under load
 * must exit 0 with every answered decision in the audit after a restart.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { answeredAtLeast, killAll, readAudit, startLoad, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { createClient } from './helpers/verity.js';

const processes: ServeProcess[] = [];
afterAll(() => killAll(processes));

function workerPids(primary: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((line) => line.includes('cluster-worker'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

function bigImport(n: number, tag: string) {
  return { entities: Array.from({ length: n }, (_, i) => ({ uid: { type: 'Doc', id: `${tag}-${i}` }, attrs: { open: true, pad: 'x'.repeat(50) }, parents: [] })), mode: 'merge' };
}

describe('attack10: kills during writes, stop under load', () => {
  it('killing workers mid-write does not wedge the store, loses no answered decision', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'attack10k-')), 'data');
    const server = await startServeProcess(['--workers', '2', '--data', data]);
    processes.push(server);
    const primary = server.child.pid as number;
    let errText = '';
    server.child.stderr?.on('data', (c: Buffer) => void (errText += c.toString()));
    server.child.stdout?.on('data', (c: Buffer) => void (errText += c.toString()));
    await eventually(async () => void expect(workerPids(primary)).toHaveLength(2), 30_000);
    const admin = createClient(server.url);
    expect((await admin.post('/admin/v1/tenants', { id: 'acme' })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);

    const originals = workerPids(primary);
    const load = startLoad(server.url, 6);
    await answeredAtLeast(load, 100);
    const log: string[] = [];
    for (let round = 0; round < 1; round++) {
      // Several writes in flight, on separate connections (spread over workers).
      const writes = [
        admin.request('PUT', '/admin/v1/tenants/acme/entities', bigImport(3000, `r${round}a`)).then((a) => a.status).catch((e) => `err:${e.cause?.code ?? e.message}`),
        admin.request('PUT', '/admin/v1/tenants/acme/entities', bigImport(3000, `r${round}b`)).then((a) => a.status).catch((e) => `err:${e.cause?.code ?? e.message}`),
        admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': `permit(principal, action, resource); // ${round}` } }).then((a) => a.status).catch((e) => `err:${e.cause?.code ?? e.message}`),
      ];
      await new Promise((r) => setTimeout(r, 150 + round * 100));
      const victims = [originals[round] as number]; // workers that have listened: a young one is not restarted (attack10-primary-exit)
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      const statuses = await Promise.all(writes);
      console.log(`round ${round}: killed ${victims.join(',')}, writes ${JSON.stringify(statuses)}`);
      log.push(`round ${round}: killed ${victims.join(',')}, in-flight writes answered ${JSON.stringify(statuses)}`);
      // Within a bounded time: replaced workers, a write and a decision succeed.
      const t0 = Date.now();
      await eventually(async () => {
        const put = await admin.request('PUT', `/admin/v1/tenants/acme/entities/Doc/after-${round}`, { attrs: { open: true } });
        expect(put.status).toBe(200);
        const pushed = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': `permit(principal, action, resource); // after ${round}` } });
        expect(pushed.status).toBe(201);
        const decided = await admin.post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'x' }, action: { name: 'v' }, resource: { type: 'Doc', id: `after-${round}` } });
        expect(decided.status).toBe(200);
        expect(decided.body.decision).toBe(true);
      }, 45_000, 100).catch((e) => {
        throw new Error(`round ${round}: not usable after 45 s: ${e}; workers now ${JSON.stringify(workerPids(primary))}, primary exit ${server.child.exitCode}/${server.child.signalCode}`);
      });
      console.log(`round ${round}: usable after ${Date.now() - t0} ms`);
      await eventually(async () => void expect(workerPids(primary)).toHaveLength(2), 40_000, 100).catch((e) => {
        throw new Error(`${e}\nSERVER OUTPUT:\n${errText.split('\n').filter((l) => !l.includes('"level":30')).slice(-30).join('\n')}`);
      });
      log.push(`round ${round}: store usable again after ${Date.now() - t0} ms`);
    }
    const before = load.answered.length;
    await answeredAtLeast(load, before + 100);
    // SIGTERM under load with a bulk import in flight.
    const inflight = admin.request('PUT', '/admin/v1/tenants/acme/entities', bigImport(3000, 'term')).then((a) => a.status).catch((e) => `err:${e.cause?.code ?? e.message}`);
    await new Promise((r) => setTimeout(r, 100));
    server.child.kill('SIGTERM');
    const stopped = await server.exited;
    await load.stop();
    console.log('term: in-flight import', await inflight, 'exit', stopped.code, stopped.signal);
    expect(stopped.code, stopped.stderr).toBe(0);
    const again = await startServeProcess(['--data', data]);
    processes.push(again);
    console.log(log.join('\n'), '\nothers:', JSON.stringify([...load.others]));

    const audit = await readAudit(again.url, 'demo');
    const missing = load.answered.filter((id) => !audit.ids.has(id));
    expect(missing.length, `missing ${missing.length} of ${load.answered.length}`).toBe(0);
    expect(audit.verified).toBe(true);
    const admin2 = createClient(again.url);
    const acmeVerify = await admin2.get('/admin/v1/tenants/acme/audit/verify');
    expect(acmeVerify.body.ok).toBe(true);
    const sysVerify = await admin2.get('/admin/v1/tenants/_system/audit/verify');
    expect(sysVerify.body.ok, JSON.stringify(sysVerify.body)).toBe(true);

    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  }, 180_000);
});
