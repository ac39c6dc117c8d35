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
  const shipper = createAuditShipper({ url: pdp.url, tenant: 'acme', retryBackoff: { initialMs: 10, maxMs: 40 }, onError: (event) => events.push(event), ...options });
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
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', batchSize: 1001 })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', maxQueue: 0 })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', retryBackoff: { initialMs: -1 } })).toThrow(TypeError);
    expect(() => createAuditShipper({ url: pdp.url, tenant: 'acme', queue: 1 } as never)).toThrow(/unknown option "queue"/);
  });
});
