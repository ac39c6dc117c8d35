/**
 * An answered decision is an audited decision: real `verity serve` processes on a PGlite data
 * folder, killed with SIGKILL and stopped with SIGTERM under load from concurrent clients; every
 * decision id a client got a 200 for must be in the audit after a restart, and the chain verifies.
 * In process: when the audit cannot be written, decisions fail closed (503, never an allow).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '@verity/store';
import { eventually } from './helpers/eventually.js';
import { answeredAtLeast, killAll, readAudit, startLoad, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { createClient, startTestServer } from './helpers/verity.js';

// Real processes (the TypeScript loader, a PGlite data folder) on a busy machine: generous, bounded limits.
const PROCESSES_MS = 150_000;
const CLIENTS = 16;

let folder: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-audit-durability-'));
});

afterAll(async () => {
  await killAll(processes);
  await rm(folder, { recursive: true, force: true });
});

async function serve(dataDir: string, args: string[] = []): Promise<ServeProcess> {
  const started = await startServeProcess(['--data', dataDir, ...args]);
  processes.push(started);
  return started;
}

function missing(answered: readonly string[], audited: Set<string>): string[] {
  return answered.filter((id) => !audited.has(id));
}

describe('answered decisions survive a crash and a stop (PGlite, real processes)', () => {
  it(
    'kill -9 under load loses no answered decision; SIGTERM under load exits 0 with nothing lost',
    async () => {
      const dataDir = join(folder, 'data');
      const first = await serve(dataDir);
      const load = startLoad(first.url, CLIENTS);
      await answeredAtLeast(load, 1500);
      first.child.kill('SIGKILL');
      await first.exited;
      await load.stop();

      const second = await serve(dataDir);
      const afterCrash = await readAudit(second.url, 'demo');
      expect(missing(load.answered, afterCrash.ids)).toEqual([]);
      expect(afterCrash.verified).toBe(true);

      const more = startLoad(second.url, CLIENTS);
      await answeredAtLeast(more, 1500);
      second.child.kill('SIGTERM');
      const stopped = await second.exited;
      await more.stop();
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stderr).not.toContain('not written');

      const third = await serve(dataDir);
      const afterStop = await readAudit(third.url, 'demo');
      expect(missing(more.answered, afterStop.ids)).toEqual([]);
      expect(missing(load.answered, afterStop.ids)).toEqual([]);
      expect(afterStop.verified).toBe(true);
      // Nothing was left to spool.
      expect(await readdir(`${dataDir}.audit-spool`).catch(() => [])).toEqual([]);
      third.child.kill('SIGTERM');
      expect((await third.exited).code).toBe(0);
    },
    PROCESSES_MS,
  );
});

describe('a batch is answered once every record it decided is audited (in process)', () => {
  it('100 AuthZEN evaluations and 100 Cedar requests: every decision id the client got is in the audit at once', async () => {
    const server = await startTestServer({ decisionAuth: 'open' });
    try {
      await server.admin.post('/admin/v1/tenants', { id: 'acme' });
      await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action, resource) when { resource.id != "d7" };' } });
      const pdp = createClient(server.url, null);
      const evaluations = Array.from({ length: 100 }, (_, i) => ({ subject: { type: 'User', id: `u${i}` }, action: { name: 'read' }, resource: { type: 'Doc', id: `d${i % 10}` } }));
      const answer = await pdp.post('/tenants/acme/access/v1/evaluations', { evaluations, options: { verity_context: true } });
      expect(answer.status).toBe(200);
      const ids = (answer.body.evaluations as Array<{ context: { id: string } }>).map((item) => item.context.id);
      expect(ids).toHaveLength(100);
      const audited = await readAudit(server.url, 'acme');
      expect(missing(ids, audited.ids)).toEqual([]);
      expect(audited.verified).toBe(true);
      const cedar = await pdp.post('/tenants/acme/cedar/v1/batch-is-authorized', {
        requests: Array.from({ length: 100 }, (_, i) => ({ principal: { type: 'User', id: `c${i}` }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd1' } })),
      });
      expect(cedar.status).toBe(200);
      expect((await readAudit(server.url, 'acme')).ids.size).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('decisions fail closed when the audit cannot be written (in process)', () => {
  it('answers 503 ERR_AUDIT_UNAVAILABLE with Retry-After, fails readiness, records the refused decisions later', async () => {
    const server = await startTestServer({ decisionAuth: 'open' });
    try {
      await server.admin.post('/admin/v1/tenants', { id: 'acme' });
      await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } });
      const pdp = createClient(server.url, null);
      const evaluation = { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } };
      expect((await pdp.post('/tenants/acme/access/v1/evaluation', evaluation)).status).toBe(200);

      // The store refuses audit writes (a database that lost its disk, or a broken connection).
      const audit: Store['audit'] = server.components.store.audit;
      const append = audit.append;
      audit.append = () => Promise.reject(new Error('connection refused'));
      try {
        const answers = await Promise.all([
          pdp.post('/tenants/acme/access/v1/evaluation', evaluation),
          pdp.post('/tenants/acme/access/v1/evaluations', { evaluations: [evaluation, evaluation] }),
          pdp.post('/tenants/acme/cedar/v1/is-authorized', { principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' } }),
        ]);
        // Past the bound, new decisions and admin calls (audited too) are refused at once.
        answers.push(await pdp.post('/tenants/acme/access/v1/evaluation', evaluation), await server.admin.get('/admin/v1/tenants'));
        for (const answer of answers) {
          expect(answer.status, JSON.stringify(answer.body)).toBe(503);
          expect(answer.body.code).toBe('ERR_AUDIT_UNAVAILABLE');
          expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
        }
        const ready = await pdp.get('/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body.checks).toMatchObject({ audit: false, store: true });
      } finally {
        audit.append = append;
      }
      await eventually(async () => expect((await pdp.get('/readyz')).status).toBe(200), 15_000);
      const answered = await pdp.post('/tenants/acme/access/v1/evaluation', evaluation);
      expect(answered.status).toBe(200);
      const audited = await readAudit(server.url, 'acme');
      expect(audited.ids.has(answered.body.context.id)).toBe(true);
      // The first refused decisions waited and were kept: the audit over-reports, never under-reports.
      expect(audited.ids.size).toBeGreaterThanOrEqual(2 + 1 + 2);
      expect(audited.verified).toBe(true);
    } finally {
      await server.close();
    }
  }, 60_000);
});
