import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditChain, type DecisionRecord } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createAuditWriter } from './audit-writer.js';

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

/** The real store, with its audit append failing while `down` is true (a database outage). */
function withOutage(real: Store): { store: Store; setDown(down: boolean): void } {
  let down = false;
  const store: Store = { ...real, audit: { ...real.audit, append: (records) => (down ? Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })) : real.audit.append(records)) } };
  return { store, setDown: (value) => (down = value) };
}

describe('audit writer', () => {
  it('writes queued records in batches, chained', async () => {
    const real = await realStore();
    const writer = createAuditWriter(real, { flushMs: 5, batchSize: 7, maxQueue: 1000 });
    for (let i = 0; i < 50; i++) expect(writer.enqueue(record(i))).toBeUndefined();
    await writer.flush();
    const events = await real.audit.readChain('t', 0, 100);
    expect(events.map((e) => e.decisionId)).toEqual(Array.from({ length: 50 }, (_, i) => `d-${i}`));
    expect(verifyAuditChain(events).ok).toBe(true);
    expect(writer.stats()).toEqual({ written: 50, pending: 0, failures: 0 });
  });

  it('keeps every record through a store outage and writes them when it is back', async () => {
    const real = await realStore();
    const outage = withOutage(real);
    const errors: number[] = [];
    const writer = createAuditWriter(outage.store, { flushMs: 5, batchSize: 10, maxQueue: 1000, onError: (_error, pending) => errors.push(pending) });
    outage.setDown(true);
    for (let i = 0; i < 25; i++) writer.enqueue(record(i));
    await expect(writer.flush()).rejects.toThrow('connection refused');
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
    const writer = createAuditWriter(outage.store, { flushMs: 5, batchSize: 5, maxQueue: 10, onError: () => {} });
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
