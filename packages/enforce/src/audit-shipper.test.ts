import { appendFile, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '@verity/core';
import type { PolicyBundle } from '@verity/identity';
import { createAuditShipper, type AuditShipper, type AuditShipperEvent, type AuditShipperOptions } from './audit-shipper.js';
import { startFakePdp, until, type FakePdp } from './local-test-helpers.js';

const BUNDLE: PolicyBundle = { tenant: 'acme', version: 1, hash: 'c'.repeat(64), content: { validationMode: 'off', policies: {}, templates: {}, links: [] }, settings: {}, entities: [], identitySources: [], revocations: [] };

function record(n: number): DecisionRecord {
  return {
    decisionId: `d-${n}`,
    time: new Date().toISOString(),
    tenant: 'acme',
    requestId: `r-${n}`,
    tier: 'orders',
    principal: { type: 'User', id: 'ann' },
    action: { type: 'Action', id: 'read' },
    resource: { type: 'Doc', id: String(n) },
    decision: 'allow',
    reasons: ['p'],
    errors: [],
    policyVersion: 1,
    latencyUs: 12,
  };
}

let pdp: FakePdp;
const shippers: AuditShipper[] = [];
const events: AuditShipperEvent[] = [];

beforeEach(async () => {
  pdp = await startFakePdp(BUNDLE);
  events.length = 0;
});

afterEach(async () => {
  for (const shipper of shippers.splice(0)) await shipper.close({ timeoutMs: 10 });
  await pdp.close();
});

function start(options: Partial<AuditShipperOptions> = {}): AuditShipper {
  const shipper = createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: null, retryBackoff: { initialMs: 10, maxMs: 40 }, onError: (event) => events.push(event), ...options });
  shippers.push(shipper);
  return shipper;
}

const posts = () => pdp.paths.filter((p) => p.endsWith('/audit/v1/decisions')).length;

describe('createAuditShipper', () => {
  it('sends full batches at once, in order, and resolves flush once all are acknowledged', async () => {
    const shipper = start({ batchSize: 100, flushMs: 60_000 });
    for (let i = 0; i < 250; i++) expect(shipper.ship(record(i))).toBe(true);
    await shipper.flush();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(Array.from({ length: 250 }, (_, i) => `d-${i}`));
    expect(posts()).toBe(3);
    expect(shipper.stats()).toEqual({ pending: 0, delivered: 250, dropped: 0, failedAttempts: 0 });
    await shipper.flush();
    expect(posts()).toBe(3);
  });

  it('sends a partial batch after flushMs without being asked', async () => {
    const shipper = start({ flushMs: 20 });
    shipper.ship(record(1));
    shipper.ship(record(2));
    expect(await until(() => pdp.audited.length === 2, 1000)).toBe(true);
    expect(posts()).toBe(1);
    // The PDP holds the records before the shipper has read its answer: pending drops after.
    expect(await until(() => shipper.stats().pending === 0, 1000)).toBe(true);
  });

  it('keeps records queued through a PDP outage and delivers each once it answers 2xx', async () => {
    pdp.auditStatus = 503;
    const shipper = start({ batchSize: 10, flushMs: 5 });
    for (let i = 0; i < 25; i++) shipper.ship(record(i));
    expect(await until(() => shipper.stats().failedAttempts >= 3)).toBe(true);
    expect(pdp.audited).toEqual([]);
    expect(shipper.stats().pending).toBe(25);
    expect(events[0]).toMatchObject({ kind: 'delivery', error: { code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503 }, pending: 25, attempt: 1 });
    pdp.auditStatus = 200;
    await shipper.flush();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(Array.from({ length: 25 }, (_, i) => `d-${i}`));
    expect(shipper.stats()).toMatchObject({ pending: 0, delivered: 25, dropped: 0 });
  });

  it('retries when the PDP cannot be reached at all', async () => {
    let reachable = false;
    const shipper = start({ fetch: (input, init) => (reachable ? fetch(input, init) : Promise.reject(new Error('ECONNREFUSED'))) });
    shipper.ship(record(1));
    const flushed = shipper.flush();
    expect(await until(() => events.length >= 2)).toBe(true);
    expect(events[0]).toMatchObject({ kind: 'delivery', error: { code: 'ERR_ENFORCE_PDP_UNREACHABLE' } });
    reachable = true;
    await flushed;
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(['d-1']);
  });

  it('past maxQueue keeps the oldest, counts and reports what it drops', async () => {
    pdp.auditStatus = 503;
    const shipper = start({ maxQueue: 5, flushMs: 5 });
    const shipped = Array.from({ length: 8 }, (_, i) => shipper.ship(record(i)));
    expect(shipped).toEqual([true, true, true, true, true, false, false, false]);
    expect(shipper.stats()).toMatchObject({ pending: 5, dropped: 3 });
    // Reported at once, then at most once a second: never silent, never a flood.
    expect(events.filter((e) => e.kind === 'dropped')).toEqual([{ kind: 'dropped', dropped: 1, pending: 5 }]);
    pdp.auditStatus = 200;
    await shipper.flush();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(['d-0', 'd-1', 'd-2', 'd-3', 'd-4']);
  });

  it('close delivers what is queued; what it cannot deliver in time is reported, and flush then rejects', async () => {
    const shipper = start({ flushMs: 60_000 });
    shipper.ship(record(1));
    await shipper.close();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(['d-1']);
    expect(shipper.ship(record(2))).toBe(false);

    pdp.auditStatus = 503;
    const stuck = start({ flushMs: 60_000 });
    stuck.ship(record(3));
    const flushed = stuck.flush();
    await stuck.close({ timeoutMs: 50 });
    await expect(flushed).rejects.toThrow(/closed/);
    expect(events.at(-1)).toEqual({ kind: 'undelivered', pending: 1 });
  });

  it('sends the credential and refuses misuse', async () => {
    let authorization: string | null = null;
    const shipper = start({ credential: 'vrt_pep', fetch: (input, init) => ((authorization = new Headers(init?.headers).get('authorization')), fetch(input, init)) });
    shipper.ship(record(1));
    await shipper.flush();
    expect(authorization).toBe('Bearer vrt_pep');
    expect(() => shipper.ship({ ...record(2), tenant: 'globex' })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: null, batchSize: 1001 })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: null, maxQueue: 0 })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: null, retryBackoff: { initialMs: -1 } })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: null, queue: 1 } as never)).toThrow(/unknown option "queue"/);
    // The spool is chosen explicitly: a directory, or null for memory only.
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme' } as never)).toThrow(/spoolDir is required/);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: '' })).toThrow(TypeError);
  });
});

describe('createAuditShipper with a spool (spoolDir)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  async function spoolDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'verity-spool-'));
    dirs.push(dir);
    return join(dir, 'spool');
  }
  const segments = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.jsonl'));
  const spooled = async (dir: string) => {
    const lines: string[] = [];
    for (const name of await segments(dir)) lines.push(...(await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean));
    return lines.map((line) => (JSON.parse(line) as DecisionRecord).decisionId);
  };

  it('a record is on disk when append resolves; nothing is dropped past maxQueue; a segment goes once acknowledged', async () => {
    const dir = await spoolDir();
    pdp.auditStatus = 503;
    const shipper = start({ spoolDir: dir, maxQueue: 5, batchSize: 10, flushMs: 5 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => shipper.append(record(i))));
    expect((await spooled(dir)).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `d-${i}`).sort());
    expect(await until(() => shipper.stats().failedAttempts >= 2)).toBe(true);
    expect(shipper.stats()).toMatchObject({ pending: 40, dropped: 0 });
    pdp.auditStatus = 200;
    await shipper.flush();
    expect(new Set(pdp.audited.map((r) => r.decisionId)).size).toBe(40);
    expect(await segments(dir)).toEqual([]);
    expect(shipper.stats()).toMatchObject({ pending: 0, delivered: 40, dropped: 0 });
  });

  it('concurrent appends share one fsync (group commit)', async () => {
    const dir = await spoolDir();
    // Count datasync calls on the FileHandle class the spool uses.
    const probe = await open(join(dir, '..', 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = proto.datasync;
    let syncs = 0;
    proto.datasync = function (this: unknown) {
      syncs += 1;
      return original.call(this);
    };
    try {
      pdp.auditStatus = 503;
      const shipper = start({ spoolDir: dir, flushMs: 60_000 });
      await shipper.ready;
      await Promise.all(Array.from({ length: 500 }, (_, i) => shipper.append(record(i))));
      expect((await spooled(dir)).length).toBe(500);
      expect(syncs).toBeGreaterThan(0);
      expect(syncs).toBeLessThanOrEqual(5);
    } finally {
      proto.datasync = original;
    }
  });

  it("ships what an earlier process left in the spool at start, skipping a torn last line", async () => {
    const dir = await spoolDir();
    pdp.auditStatus = 503;
    const first = start({ spoolDir: dir, flushMs: 60_000 });
    for (let i = 0; i < 3; i++) await first.append(record(i));
    await first.close({ timeoutMs: 10 });
    expect(await spooled(dir)).toEqual(['d-0', 'd-1', 'd-2']);
    // A crash in the middle of a write: half a line, never acknowledged to anyone.
    const [name] = await segments(dir);
    await appendFile(join(dir, name as string), '{"decisionId":"d-torn","ten');
    pdp.auditStatus = 200;
    const restarted = start({ spoolDir: dir, flushMs: 60_000 });
    await restarted.ready;
    expect(restarted.stats().pending).toBe(3);
    await restarted.flush();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(['d-0', 'd-1', 'd-2']);
    expect(events).toContainEqual({ kind: 'spool', error: expect.objectContaining({ code: 'ERR_ENFORCE_AUDIT_SPOOL' }) });
    expect(await segments(dir)).toEqual([]);
  });

  it('one spool per directory: a second shipper on it refuses records until the first closes', async () => {
    const dir = await spoolDir();
    const first = start({ spoolDir: dir, flushMs: 5 });
    await first.append(record(1));
    const second = start({ spoolDir: dir });
    await expect(second.append(record(2))).rejects.toMatchObject({ code: 'ERR_ENFORCE_AUDIT_SPOOL' });
    await first.close();
    const third = start({ spoolDir: dir, flushMs: 5 });
    await third.append(record(3));
    await third.flush();
    expect(pdp.audited.map((r) => r.decisionId)).toEqual(['d-1', 'd-3']);
  });

  it('a spool that cannot be written refuses the record (the decision fails closed)', async () => {
    const dir = await spoolDir();
    const shipper = start({ spoolDir: dir });
    await shipper.ready;
    // The directory goes away under the running shipper: the next segment cannot be created.
    await rm(dir, { recursive: true, force: true });
    await writeFile(dir, 'not a directory');
    await expect(shipper.append(record(1))).rejects.toMatchObject({ code: 'ERR_ENFORCE_AUDIT_SPOOL' });

    const blocked = join(dir, 'below-a-file');
    const unopenable = start({ spoolDir: blocked });
    await unopenable.ready;
    await expect(unopenable.append(record(2))).rejects.toMatchObject({ code: 'ERR_ENFORCE_AUDIT_SPOOL' });
    expect(events).toContainEqual({ kind: 'spool', error: expect.objectContaining({ code: 'ERR_ENFORCE_AUDIT_SPOOL' }) });
  });
});
