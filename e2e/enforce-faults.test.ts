/**
 * @verity/enforce under faults, against a real Verity PDP: a local-mode PEP cut off from the PDP
 * (its port black-holed) stops deciding once `maxContactLossMs` has passed and decides again when
 * the link returns; a local-mode PEP killed with SIGKILL while deciding under load loses no answered
 * decision — every id it returned reaches the PDP's audit once it is restarted on the same spool.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnforcer, createLocalDecisionSource } from '@verity/enforce';
import { eventually } from './helpers/eventually.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startTestServer, type HttpAnswer } from './helpers/verity.js';

const TENANT = 'faulty';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./helpers/local-pep-child.ts', import.meta.url));

let pdp: Awaited<ReturnType<typeof startTestServer>>;
let pinned: string[];
let pepLocal: string;
let pep: string;
/** The PDP's own port, behind the proxies. */
let pdpPort: number;
let scratch: string;
const closers: Array<() => Promise<unknown> | void> = [];

/** The PDP as PEPs reach it: through a TCP proxy that can black-hole the link (its public URL, which bundles name as issuer). */
let proxy: FaultProxy;
let pepUrl: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  const port = await freePort();
  pdpPort = port;
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port } });
  pepUrl = `http://127.0.0.1:${proxy.port}`;
  pdp = await startTestServer({ port, publicUrl: pepUrl });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT })).status).toBe(201);
  const policies = '@id("read") permit(principal, action == Action::"read", resource);';
  expect((await pdp.admin.post(`/admin/v1/tenants/${TENANT}/policies`, { files: { 'p.cedar': policies } })).status).toBe(201);
  pinned = (await pdp.admin.get(`/tenants/${TENANT}/bundle/keys`)).body.thumbprints;
  pepLocal = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep-local', tenant: TENANT })).body.token;
  pep = (await pdp.admin.post('/admin/v1/credentials', { role: 'pep', tenant: TENANT, label: 'crash-pep' })).body.token;
  scratch = await mkdtemp(join(tmpdir(), 'verity-enforce-faults-'));
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await proxy?.close();
  await pdp?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Every decision id in the tenant's audit, page by page. */
async function auditedIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  let after: number | null = null;
  for (;;) {
    const page: HttpAnswer = await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit?limit=1000${after === null ? '' : `&after=${after}`}`);
    expect(page.status).toBe(200);
    for (const event of page.body.events as Array<{ decisionId: string }>) ids.add(event.decisionId);
    if (page.body.next === null || page.body.events.length === 0) return ids;
    after = page.body.next;
  }
}

describe('local mode, PDP unreachable: bounded staleness', () => {
  it('fails closed once maxContactLossMs has passed without contact, and decides again when the link returns', async () => {
    const bound = 1500;
    const source = createLocalDecisionSource({
      url: pepUrl,
      tenant: TENANT,
      credential: pepLocal,
      bundleKeyThumbprints: pinned,
      // Without the change stream, bundle reloads (every third of the bound) are the contact.
      follow: false,
      maxContactLossMs: bound,
      timeoutMs: 300,
      retryBackoff: { initialMs: 20, maxMs: 200 },
    });
    closers.push(() => source.close());
    await source.ready;
    const enforcer = createEnforcer({ source, tenant: TENANT, anyAudience: true, tier: 'cut-off' });
    const read = () => enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } });

    // A healthy link keeps contact well past the bound.
    const healthyUntil = Date.now() + bound * 1.5;
    while (Date.now() < healthyUntil) {
      const result = await read();
      expect({ status: result.status, code: result.error?.code, message: result.error?.message }).toEqual({ status: 200, code: undefined, message: undefined });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    proxy.mode('blackhole');
    const cutAt = Date.now();
    let refusedAt = 0;
    await eventually(async () => {
      const result = await read();
      expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_CONTACT_LOST' } });
      refusedAt = Date.now();
    }, bound * 3, 20);
    // Not later than the bound (plus polling), and no earlier than the bound less one reload interval.
    expect(refusedAt - cutAt).toBeLessThanOrEqual(bound + 500);
    expect(refusedAt - cutAt).toBeGreaterThanOrEqual(bound - bound / 3 - 100);
    // It keeps refusing while the link is down (the bundle itself is valid for minutes).
    for (let i = 0; i < 5; i++) expect((await read()).status).toBe(503);

    proxy.mode('pass');
    await eventually(async () => expect((await read()).status).toBe(200), 5000, 50);
    expect(source.contactAgeMs).toBeLessThan(bound);
  });
});

describe('local mode, PEP killed with SIGKILL under load: no answered decision is lost', () => {
  function runChild(mode: 'decide' | 'ship', spool: string, auditUrl: string = pepUrl): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
    const child = spawn(process.execPath, ['--import', '@verity/cli/loader', CHILD, mode], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PEP_CHILD_URL: pepUrl,
        PEP_CHILD_AUDIT_URL: auditUrl,
        PEP_CHILD_TENANT: TENANT,
        PEP_CHILD_AUDIT_CREDENTIAL: pep,
        PEP_CHILD_BUNDLE_CREDENTIAL: pepLocal,
        PEP_CHILD_THUMBPRINTS: pinned.join(','),
        PEP_CHILD_SPOOL: spool,
      },
    });
    closers.push(() => void child.kill('SIGKILL'));
    const lines: string[] = [];
    let rest = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    void exited.then((code) => {
      if (code !== 0 && code !== null) console.error(`local-pep-child ${mode} exited ${code}: ${stderr.slice(-2000)}`);
    });
    return { child, lines, exited };
  }

  it('every decision id the killed PEP returned is in the audit after it restarts on the same spool', async () => {
    const spool = join(scratch, 'spool');
    // The killed PEP ships its audit through a link of its own that the test black-holes midway:
    // what it ships before is audited at once, what it answers after stays only in the spool.
    const auditLink = await startFaultProxy({ target: { host: '127.0.0.1', port: pdpPort } });
    closers.push(() => auditLink.close());
    const first = runChild('decide', spool, `http://127.0.0.1:${auditLink.port}`);
    await eventually(async () => expect(first.lines).toContain('ready'), 60_000, 50);
    const readyAt = first.lines.length;
    // Under load for a while, then the audit link is cut, then more load, then killed without warning.
    await eventually(async () => expect(first.lines.length - readyAt).toBeGreaterThanOrEqual(1500), 60_000, 10);
    auditLink.mode('blackhole');
    const cutAt = first.lines.length;
    // A pipe holds at most 64 KiB (under 1,800 ids) the test has not read yet, so at least 1,200 of
    // the next 3,000 ids were answered after the cut.
    await eventually(async () => expect(first.lines.length - cutAt).toBeGreaterThanOrEqual(3000), 60_000, 10);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const answered = first.lines.slice(readyAt).filter((line) => line !== '' && !line.startsWith('refused'));
    expect(first.lines.slice(readyAt).filter((line) => line.startsWith('refused'))).toEqual([]);
    expect(answered.length).toBeGreaterThanOrEqual(4500);

    // The crash left answered decisions only in the spool.
    const before = await auditedIds();
    const missing = answered.filter((id) => !before.has(id));
    expect(missing.length).toBeGreaterThanOrEqual(1200);
    expect((await readdir(spool)).some((name) => name.endsWith('.jsonl'))).toBe(true);

    const restarted = runChild('ship', spool);
    expect(await restarted.exited).toBe(0);
    expect(restarted.lines[0]).toMatch(/^shipped \d+$/);
    const after = await auditedIds();
    expect(answered.filter((id) => !after.has(id))).toEqual([]);
    // Shipped and acknowledged: the spool is empty.
    expect((await readdir(spool)).filter((name) => name.endsWith('.jsonl'))).toEqual([]);
    expect((await pdp.admin.get(`/admin/v1/tenants/${TENANT}/audit/verify`)).body.ok).toBe(true);
  });
});
