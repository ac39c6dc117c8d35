/** Devices registered and reported through the service, and the in-memory view the decisions read. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { twoReplicas } from '../replica-test-helpers.js';
import { createDeviceService, type DeviceService } from './device-service.js';

let store: Store;
const clock = { now: Date.UTC(2026, 11, 1, 12) };
const at = () => ({ nowMs: clock.now, maxPatchAgeDays: 30 });
const GOOD = { patch_level: '2026-11-20', disk_encryption: true, screen_lock: true };
/** When GOOD's patch level is older than 30 days: the first millisecond past the limit. */
const PATCH_AGES_OUT = Date.parse('2026-12-20T00:00:00.001Z');
let count = 0;

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
});
afterAll(async () => {
  await store.close();
});

/** Two replicas over one store: the writer hears its own change at once, the other when delivered. */
const replicas = () => twoReplicas((publish) => createDeviceService({ store, now: () => clock.now, publish }));

async function tenant(): Promise<string> {
  const id = `dev-${++count}`;
  await store.tenants.create({ id, name: id, settings: {} });
  return id;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('timed out');
}

describe('device service', () => {
  it('registers once, takes posture pushes, lists and removes, publishing each change', async () => {
    const t = await tenant();
    const { a, changes } = replicas();
    const first = await a.register(t, 'laptop-1', undefined);
    expect(first).toEqual({ created: true, device: { id: 'laptop-1', tenant: t, posture: {}, compliant: false, issues: ['disk_encryption', 'screen_lock', 'patch_level'], registered_at: new Date(clock.now).toISOString(), updated_at: new Date(clock.now).toISOString() } });
    expect((await a.register(t, 'laptop-1', {})).created).toBe(false);
    expect(changes).toEqual([{ tenant: t, kind: 'device' }]);
    expect(await a.report(t, 'laptop-1', GOOD)).toMatchObject({ posture: GOOD, compliant: true, issues: [] });
    expect(await a.report(t, 'laptop-1', { ...GOOD, compliant: false })).toMatchObject({ compliant: false, issues: ['mdm_noncompliant'] });
    expect((await a.list(t)).map((device) => device.id)).toEqual(['laptop-1']);
    await a.remove(t, 'laptop-1');
    expect(changes).toHaveLength(4);
    await expect(a.remove(t, 'laptop-1')).rejects.toMatchObject({ code: 'ERR_DEVICE_NOT_FOUND' });
    await expect(a.report(t, 'laptop-1', GOOD)).rejects.toMatchObject({ code: 'ERR_DEVICE_NOT_FOUND' });
    await expect(a.register(t, 'a b', undefined)).rejects.toMatchObject({ code: 'ERR_DEVICE_INVALID' });
    await expect(a.register(t, 'laptop-2', { posture: GOOD })).rejects.toMatchObject({ code: 'ERR_DEVICE_INVALID' });
    await expect(a.register('no-such-tenant', 'laptop-2', undefined)).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });
  });

  it('answers the signal from memory: unknown without an id or a registration, known with the issues at that time', async () => {
    const t = await tenant();
    const { a } = replicas();
    await a.register(t, 'laptop-1', undefined);
    await a.report(t, 'laptop-1', GOOD);
    expect(await a.signal(t, null, at())).toEqual({ state: 'unknown' });
    expect(await a.signal(t, 'stranger', at())).toEqual({ state: 'unknown' });
    expect(await a.signal(t, 'laptop-1', at())).toEqual({ state: 'known', compliant: true, issues: [], validUntilMs: PATCH_AGES_OUT });
    // The store is no longer read: a row changed behind the service's back is not seen...
    await store.devices.report(t, { id: 'laptop-1', posture: {}, compliant: false, issues: [] }, clock.now);
    expect(await a.signal(t, 'laptop-1', at())).toEqual({ state: 'known', compliant: true, issues: [], validUntilMs: PATCH_AGES_OUT });
    // ...and the patch level ages with the clock, without a new report.
    expect(await a.signal(t, 'laptop-1', { nowMs: clock.now + 30 * 86_400_000, maxPatchAgeDays: 30 })).toEqual({ state: 'known', compliant: false, issues: ['patch_level'] });
  });

  it("brings another replica's view up to date on the device change (and on a resync)", async () => {
    const t = await tenant();
    const { a, b, deliver } = replicas();
    await a.register(t, 'laptop-1', undefined);
    await a.report(t, 'laptop-1', GOOD);
    deliver();
    expect(await b.signal(t, 'laptop-1', at())).toMatchObject({ compliant: true });
    await a.report(t, 'laptop-1', { ...GOOD, disk_encryption: false });
    // The writer's own view changed at once; the other's when the change reaches it.
    expect(await a.signal(t, 'laptop-1', at())).toMatchObject({ compliant: false, issues: ['disk_encryption'] });
    expect(await b.signal(t, 'laptop-1', at())).toMatchObject({ compliant: true });
    deliver();
    await until(async () => (await b.signal(t, 'laptop-1', at())).state === 'known' && !(await b.signal(t, 'laptop-1', at()) as { compliant: boolean }).compliant);
    await a.remove(t, 'laptop-1');
    b.onResync();
    await until(async () => (await b.signal(t, 'laptop-1', at())).state === 'unknown');
  });

  it('never lets a read begun before its own write replace that write', async () => {
    const t = await tenant();
    let gate: Promise<void> | undefined;
    // A store whose device list answers late: the rows as of the read, handed over when the gate opens.
    const slow = { ...store, devices: { ...store.devices, list: async (id: string) => {
      const rows = await store.devices.list(id);
      await gate;
      return rows;
    } } };
    const service: DeviceService = createDeviceService({ store: slow, now: () => clock.now, publish: async (change) => service.onChange(change.tenant) });
    await service.register(t, 'laptop-1', undefined);
    await service.report(t, 'laptop-1', GOOD);
    expect(await service.signal(t, 'laptop-1', at())).toMatchObject({ compliant: true });
    let open = () => {};
    gate = new Promise((resolve) => (open = resolve));
    void service.onChange(t); // another replica's change: a reload that will answer with the rows of now
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The write returns once its change is applied: the view read again after it (the read under
    // way, begun before the write, reads once more). Meanwhile no signal answers from the old view.
    let reported = false;
    const reporting = service.report(t, 'laptop-1', { ...GOOD, screen_lock: false }).then(() => (reported = true));
    const during = service.signal(t, 'laptop-1', at());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reported).toBe(false);
    gate = undefined;
    open();
    await reporting;
    expect(await during).toMatchObject({ compliant: false, issues: ['screen_lock'] });
    expect(await service.signal(t, 'laptop-1', at())).toMatchObject({ compliant: false, issues: ['screen_lock'] });
  });
});
