/**
 * Every core: `verity serve --workers 2` on a PGlite data folder, real processes. The primary
 * holds the folder; two worker processes answer on one port. What one worker writes (a policy
 * version, a revoked credential, an entity) is what every worker decides on as soon as the
 * write has returned; a killed worker is replaced; a stop under load exits 0 and every answered
 * decision is in the audit, whose chain verifies.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { answeredAtLeast, killAll, readAudit, startLoad, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { createClient, createTenantWithPolicies } from './helpers/verity.js';

const PROCESSES_MS = 180_000;
/** Fresh connections per check: Node's cluster hands them to the workers in turn. */
const CONNECTIONS = 12;

let folder: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-cluster-'));
});

afterAll(async () => {
  await killAll(processes);
  await rm(folder, { recursive: true, force: true });
});

/** The worker processes of a `verity serve --workers` primary. */
function workerPids(primary: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .filter((line) => line.includes('cluster-worker'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** POST on a new connection (no keep-alive pool): each goes to the next worker. */
function postFresh(url: string, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(
      `${url}${path}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data === '' ? undefined : JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const ASK = { subject: { type: 'User', id: 'alice' }, action: { name: 'view' }, resource: { type: 'Doc', id: 'd1' } };

/** The decisions of CONNECTIONS fresh connections for tenant `tenant`. */
async function decisions(url: string, tenant: string, token?: string): Promise<unknown[]> {
  const answers = await Promise.all(Array.from({ length: CONNECTIONS }, () => postFresh(url, `/tenants/${tenant}/access/v1/evaluation`, ASK, token)));
  return answers.map((answer) => (answer.status === 200 ? answer.body.decision : answer.status));
}

describe('verity serve --workers 2 (PGlite data folder, real processes)', () => {
  it(
    'writes through one worker are decided on by every worker once they return; a killed worker is replaced; a stop under load loses nothing',
    async () => {
      const dataDir = join(folder, 'data');
      const server = await startServeProcess(['--workers', '2', '--data', dataDir]);
      processes.push(server);
      const primary = server.child.pid as number;
      await eventually(async () => void expect(workerPids(primary)).toHaveLength(2), 30_000);
      const admin = createClient(server.url);

      // Policy versions: each push answers, then every connection decides on the new version.
      await createTenantWithPolicies(admin, 'acme', 'permit(principal, action, resource);');
      expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(true));
      for (const [policies, expected] of [
        ['forbid(principal, action, resource);', false],
        ['permit(principal, action, resource);', true],
        ['permit(principal, action, resource) when { resource.open == true };', false],
      ] as const) {
        const pushed = await admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': policies } });
        expect(pushed.status).toBe(201);
        expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(expected));
      }
      // Entities: written through one worker, read by every one at once.
      const put = await admin.request('PUT', '/admin/v1/tenants/acme/entities/Doc/d1', { attrs: { open: true } });
      expect(put.status).toBe(200);
      expect(await decisions(server.url, 'acme')).toEqual(Array(CONNECTIONS).fill(true));

      // A revoked credential is refused by every worker once the revoke returns.
      const created = await admin.post('/admin/v1/credentials', { role: 'platform-admin', label: 'cluster-test' });
      expect(created.status).toBe(201);
      const listing = await Promise.all(Array.from({ length: CONNECTIONS }, () => postFresh(server.url, '/admin/v1/tenants', { id: `t${Math.random().toString(36).slice(2, 10)}` }, created.body.token)));
      expect(listing.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(201));
      expect((await admin.post(`/admin/v1/credentials/${created.body.id}/revoke`)).status).toBe(200);
      const refused = await Promise.all(Array.from({ length: CONNECTIONS }, () => postFresh(server.url, '/admin/v1/tenants', { id: `t${Math.random().toString(36).slice(2, 10)}` }, created.body.token)));
      expect(refused.map((answer) => answer.status)).toEqual(Array(CONNECTIONS).fill(401));

      // A worker killed under load is replaced; decisions go on.
      const load = startLoad(server.url, 8);
      await answeredAtLeast(load, 300);
      const [victim] = workerPids(primary);
      process.kill(victim as number, 'SIGKILL');
      await eventually(async () => {
        const pids = workerPids(primary);
        expect(pids).toHaveLength(2);
        expect(pids).not.toContain(victim);
      }, 60_000);
      const before = load.answered.length;
      await answeredAtLeast(load, before + 300);

      // SIGTERM to the primary under load: every worker drains and writes its audit; exit 0.
      server.child.kill('SIGTERM');
      const stopped = await server.exited;
      await load.stop();
      expect(stopped.code, `${stopped.stderr}\n${stopped.stdout}`).toBe(0);
      expect(workerPids(primary)).toEqual([]);

      const again = await startServeProcess(['--data', dataDir]);
      processes.push(again);
      const audit = await readAudit(again.url, 'demo');
      expect(load.answered.filter((id) => !audit.ids.has(id))).toEqual([]);
      expect(audit.verified).toBe(true);
      again.child.kill('SIGTERM');
      expect((await again.exited).code).toBe(0);
    },
    PROCESSES_MS,
  );
});
