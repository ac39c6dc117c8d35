import { afterEach, describe, expect, it } from 'vitest';
import { isVerityError, verifyAuditChain, type DecisionRecord } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createAuditWriter } from './audit-writer.js';
import { eventually } from '../../../e2e/helpers/eventually.js';

function record(i: number): DecisionRecord {
  return { decisionId: `d-${i}`, time: new Date(1_700_000_000_000 + i).toISOString(), tenant: 't', requestId: `r-${i}`, tier: null, principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: String(i) }, decision: 'allow', reasons: ['p'], errors: [], policyVersion: 1, latencyUs: 5 };
}

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function realStore(): Promise<Store> {
  store = await createStore(await createPgliteDatabase());
  await store.tenants.create({ id: 't', name: 't', settings: {} });
  return store;
}

/**
 * The real store, with its audit append failing while `down` is true (a database outage), held
 * while `hold` is set (a slow commit), and counted (how many writes the records took).
 */
function withOutage(real: Store): { store: Store; setDown(down: boolean): void; hold(): () => void; appends(): number } {
  let down = false;
  let appends = 0;
  let gate: Promise<void> | null = null;
  const append: Store['audit']['append'] = async (records, options) => {
    appends++;
    if (gate) await gate;
    if (down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    return real.audit.append(records, options);
  };
  const store: Store = { ...real, audit: { ...real.audit, append } };
  return {
    store,
    setDown: (value) => (down = value),
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = null;
        release();
      };
    },
    appends: () => appends,
  };
}

async function auditedIds(real: Store): Promise<string[]> {
  return (await real.audit.readChain('t', 0, 10_000)).map((e) => e.decisionId);
}

/** What a promise did so far, without waiting for it. */
function watch(promise: Promise<unknown>): { state: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let error: unknown;
  promise.then(
    () => (state = 'resolved'),
    (e: unknown) => ((state = 'rejected'), (error = e)),
  );
  return { state: () => state, error: () => error };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('audit writer, batched', () => {
  it('writes queued records in batches, chained', async () => {
    const real = await realStore();
    const writer = createAuditWriter(real, { durability: 'batched', flushMs: 5, batchSize: 7, maxQueue: 1000 });
    for (let i = 0; i < 50; i++) expect(writer.enqueue(record(i))).toBeUndefined();
    await writer.flush();
    const events = await real.audit.readChain('t', 0, 100);
    expect(events.map((e) => e.decisionId)).toEqual(Array.from({ length: 50 }, (_, i) => `d-${i}`));
    expect(verifyAuditChain(events).ok).toBe(true);
    expect(writer.stats()).toMatchObject({ written: 50, pending: 0, failures: 0 });
  });

  it('keeps every record through a store outage and writes them when it is back', async () => {
    const real = await realStore();
    const outage = withOutage(real);
    const errors: number[] = [];
    const writer = createAuditWriter(outage.store, { durability: 'batched', flushMs: 5, batchSize: 10, maxQueue: 1000, onError: (_error, pending) => errors.push(pending) });
    outage.setDown(true);
    for (let i = 0; i < 25; i++) writer.enqueue(record(i));
    await expect(writer.flush()).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', status: 503, cause: { message: 'connection refused' } });
    expect(errors.length).toBeGreaterThan(0);
    expect(writer.stats().pending).toBe(25);
    outage.setDown(false);
    await writer.flush();
    expect(writer.stats()).toMatchObject({ written: 25, pending: 0 });
    expect(verifyAuditChain(await real.audit.readChain('t', 0, 100))).toMatchObject({ ok: true, checked: 25 });
  });

  it('makes decisions wait (never drops) when the queue is full', async () => {
    const real = await realStore();
    const outage = withOutage(real);
    const writer = createAuditWriter(outage.store, { durability: 'batched', maxLagMs: 60_000, flushMs: 5, batchSize: 5, maxQueue: 10, onError: () => {} });
    outage.setDown(true);
    const waits = Array.from({ length: 15 }, (_, i) => writer.enqueue(record(i)));
    expect(waits.slice(0, 10).every((w) => w === undefined)).toBe(true);
    const blocked = waits.slice(10) as Array<Promise<void>>;
    expect(blocked.every((w) => w instanceof Promise)).toBe(true);
    let released = false;
    void Promise.all(blocked).then(() => (released = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(released).toBe(false);
    outage.setDown(false);
    await writer.flush();
    await Promise.all(blocked);
    expect(writer.stats()).toMatchObject({ written: 15, pending: 0 });
    await writer.close();
  });
});

describe('audit writer, durable (group commit)', () => {
  it('resolves a decision only once its record is committed', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { flushMs: 50, batchSize: 100, maxQueue: 1000 });
    const release = faults.hold();
    const pending = writer.enqueue(record(1));
    expect(pending).toBeInstanceOf(Promise);
    const seen = watch(pending as Promise<void>);
    await tick();
    expect(seen.state()).toBe('pending');
    expect(await auditedIds(real)).toEqual([]);
    release();
    await pending;
    expect(await auditedIds(real)).toEqual(['d-1']);
    await writer.close();
  });

  it('lets concurrent decisions share one write, with no timer wait', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    // A long flush interval: durable mode must not wait for it.
    const writer = createAuditWriter(faults.store, { flushMs: 60_000, batchSize: 500, maxQueue: 10_000 });
    const release = faults.hold();
    const first = writer.enqueue(record(0));
    await eventually(async () => expect(faults.appends()).toBe(1));
    // Decisions arriving while that write is in flight wait for it, then share the next one.
    const rest = Array.from({ length: 200 }, (_, i) => writer.enqueue(record(i + 1)));
    await tick();
    expect(faults.appends()).toBe(1);
    release();
    const started = Date.now();
    await Promise.all([first, ...rest]);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The first write carried one record; the 200 that gathered meanwhile went in the next one.
    expect(faults.appends()).toBe(2);
    expect(await auditedIds(real)).toEqual(Array.from({ length: 201 }, (_, i) => `d-${i}`));
    await writer.close();
  });

  it('never runs two writes at once (a flush while a group write is due chains each record once)', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { flushMs: 5, batchSize: 100, maxQueue: 1000 });
    const release = faults.hold();
    const waits = Array.from({ length: 5 }, (_, i) => writer.enqueue(record(i)));
    const flushed = writer.flush();
    await tick();
    release();
    await Promise.all([flushed, ...waits]);
    expect(await auditedIds(real)).toEqual(['d-0', 'd-1', 'd-2', 'd-3', 'd-4']);
    expect(faults.appends()).toBe(1);
    await writer.close();
  });

  it('fails a decision closed with ERR_AUDIT_UNAVAILABLE past the bound, and still writes its record later', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { flushMs: 5, batchSize: 100, maxQueue: 1000, maxWaitMs: 100, onError: () => {} });
    faults.setDown(true);
    const started = Date.now();
    const error = await (writer.enqueue(record(1)) as Promise<void>).then(() => null, (e: unknown) => e);
    expect(isVerityError(error) && error.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(isVerityError(error) && error.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(writer.health().ok).toBe(false);
    // While the oldest record is past the bound, a new decision is refused at once (and not kept:
    // it was never answered).
    // "At once": settled before the event loop turns even once (no timer, no store round trip).
    const pending = (writer.enqueue(record(2)) as Promise<void>).then(() => null, (e: unknown) => e);
    const refused = await Promise.race([pending, new Promise((resolve) => setImmediate(() => resolve('still waiting')))]);
    expect(isVerityError(refused) && refused.code).toBe('ERR_AUDIT_UNAVAILABLE');
    faults.setDown(false);
    // The audit over-reports: the refused decision's record is written after recovery.
    await eventually(async () => expect(await auditedIds(real)).toEqual(['d-1']), 10_000);
    await eventually(async () => expect(writer.health().ok).toBe(true), 10_000);
    await expect(writer.enqueue(record(3))).resolves.toBeUndefined();
    expect(await auditedIds(real)).toEqual(['d-1', 'd-3']);
    expect(verifyAuditChain(await real.audit.readChain('t', 0, 100)).ok).toBe(true);
    await writer.close();
  });

  it('refuses at once when the queue is full', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { flushMs: 5, batchSize: 5, maxQueue: 10, maxWaitMs: 60_000 });
    const release = faults.hold();
    const waits = Array.from({ length: 10 }, (_, i) => writer.enqueue(record(i)));
    const over = await (writer.enqueue(record(10)) as Promise<void>).then(() => null, (e: unknown) => e);
    expect(isVerityError(over) && over.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(writer.health().ok).toBe(false);
    release();
    await Promise.all(waits);
    expect(await auditedIds(real)).toHaveLength(10);
    await writer.close();
  });

  it('stops within a deadline, handing back what it could not write', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { flushMs: 5, batchSize: 100, maxQueue: 1000, maxWaitMs: 60_000, onError: () => {} });
    await writer.enqueue(record(0));
    const release = faults.hold(); // a write that never returns (a black-holed database)
    const waiting = [writer.enqueue(record(1)), writer.enqueue(record(2))].map((p) => watch(p as Promise<void>));
    const started = Date.now();
    const unwritten = await writer.stop(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(unwritten.map((r) => r.decisionId)).toEqual(['d-1', 'd-2']);
    await tick();
    expect(waiting.map((w) => w.state())).toEqual(['rejected', 'rejected']);
    release();
  });
});

describe('audit writer, batched with a lag bound', () => {
  it('refuses new decisions and reports unhealthy past the lag bound, until the writer catches up', async () => {
    const real = await realStore();
    const faults = withOutage(real);
    const writer = createAuditWriter(faults.store, { durability: 'batched', flushMs: 5, batchSize: 100, maxQueue: 1000, maxLagMs: 50, onError: () => {} });
    faults.setDown(true);
    expect(writer.enqueue(record(0))).toBeUndefined();
    expect(writer.health().ok).toBe(true);
    await eventually(async () => expect(writer.health().lagMs).toBeGreaterThan(50));
    expect(writer.health().ok).toBe(false);
    const refused = await (writer.enqueue(record(1)) ?? Promise.resolve()).then(() => null, (e: unknown) => e);
    expect(isVerityError(refused) && refused.code).toBe('ERR_AUDIT_UNAVAILABLE');
    faults.setDown(false);
    await eventually(async () => expect(writer.health().ok).toBe(true), 10_000);
    expect(writer.enqueue(record(2))).toBeUndefined();
    await writer.flush();
    // The refused decision was never answered, so it is not in the audit.
    expect(await auditedIds(real)).toEqual(['d-0', 'd-2']);
    await writer.close();
  });
});
