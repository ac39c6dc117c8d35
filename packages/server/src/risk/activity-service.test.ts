/** Per-subject activity through the service: two replicas on one store, reads once per subject, retention. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RISK_CONFIG, parseActivitySettings, type ActivitySettings } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import type { Change } from '../change-feed.js';
import { createActivityService, type ActivityService, type ActivityServiceOptions } from './activity-service.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const DAY = 86_400_000;
const LONDON = { lat: 51.5074, lon: -0.1278 };
const SYDNEY = { lat: -33.8688, lon: 151.2093 };
const ALICE = 'User::"alice"';
const SETTINGS: ActivitySettings = parseActivitySettings({ retention_days: 30 });
const clock = { now: T0 };
let store: Store;
let count = 0;

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
});
afterAll(async () => {
  await store.close();
});

const request = (nowMs: number, extra: { location?: { lat: number; lon: number }; action?: string; subject?: string } = {}) => ({
  subject: extra.subject ?? ALICE,
  nowMs,
  location: extra.location ?? null,
  action: extra.action ?? 'Action::"read"',
  resourceType: 'Doc',
});

/** A tenant measuring activity (or, with `activity: false`, not). */
async function tenant(activity = true): Promise<string> {
  const id = `act-${++count}`;
  await store.tenants.create({ id, name: id, settings: { risk: { enabled: true, ...DEFAULT_RISK_CONFIG, ...(activity ? { activity: SETTINGS } : {}) } } });
  return id;
}

/** A replica; its changes are collected (delivered by the test, like the feed). `gets` counts its store reads of a subject. */
function replica(changes: Change[], options: Partial<ActivityServiceOptions> = {}): { service: ActivityService; gets: () => number } {
  let gets = 0;
  const counted: Store = {
    ...store,
    activity: {
      ...store.activity,
      get: (tenantId, subject) => {
        gets++;
        return store.activity.get(tenantId, subject);
      },
    },
  };
  const service = createActivityService({ store: counted, publish: async (change) => void changes.push(change), now: () => clock.now, sweepMs: 0, flushMs: 60_000, ...options });
  return { service, gets: () => gets };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('timed out');
}

describe('activity service', () => {
  it("shares one replica's requests with another through the store and the change feed", async () => {
    const id = await tenant();
    const changes: Change[] = [];
    const { service: a } = replica(changes);
    const { service: b } = replica(changes);
    // b holds alice (nothing stored yet) before a sees any of her requests.
    expect(await b.signal(id, request(T0), SETTINGS)).toEqual({ anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    for (const minute of [0, 1, 2]) for (let i = 0; i < 4; i++) a.observe(id, request(T0 + minute * 60_000 + i * 1000, { location: LONDON }), SETTINGS);
    // a's own view has the history at once; b's has nothing until a flushes and the change arrives.
    const later = request(T0 + 3 * 60_000, { location: SYDNEY });
    expect(await a.signal(id, later, SETTINGS)).toMatchObject({ impossibleTravel: true });
    expect(await b.signal(id, later, SETTINGS)).toMatchObject({ impossibleTravel: false, anomalyScore: 0 });
    await a.flush();
    expect(changes).toEqual([{ tenant: id, kind: 'activity' }]);
    b.onChange(id);
    await until(async () => (await b.signal(id, later, SETTINGS)).impossibleTravel === true);
    // A burst on b: 40 in the window against a baseline of 4 is the burst ratio (10): score 1.
    for (let i = 0; i < 39; i++) b.observe(id, request(later.nowMs + i), SETTINGS);
    expect(await b.signal(id, request(later.nowMs + 100), SETTINGS)).toEqual({ anomalyScore: 1, rateScore: 1, firstUseScore: 0 });
    expect(await b.signal(id, request(later.nowMs + 100, { action: 'Action::"delete"' }), SETTINGS)).toMatchObject({ firstUseScore: 0.6 });
    // Both replicas' requests end up merged in the store.
    await b.flush();
    expect((await store.activity.get(id, ALICE))?.windows.map(([, n]) => n)).toEqual([4, 4, 4, 39]);
  });

  it('reads a subject it does not hold once, then answers from memory; the least recently asked go past the cap', async () => {
    const id = await tenant();
    const { service: writer } = replica([]);
    for (const minute of [0, 1, 2]) writer.observe(id, request(T0 + minute * 60_000, { location: LONDON }), SETTINGS);
    await writer.flush();
    const { service, gets } = replica([], { maxSubjectsPerTenant: 2 });
    const signals = await Promise.all([0, 1, 2].map(() => service.signal(id, request(T0 + 3 * 60_000, { location: SYDNEY }), SETTINGS)));
    expect(signals.map((signal) => signal.impossibleTravel)).toEqual([true, true, true]);
    expect(gets()).toBe(1);
    await service.signal(id, request(T0, { subject: 'User::"bob"' }), SETTINGS);
    await service.signal(id, request(T0, { subject: 'User::"carol"' }), SETTINGS);
    expect(gets()).toBe(3);
    await service.signal(id, request(T0 + 3 * 60_000), SETTINGS);
    expect(gets()).toBe(4);
  });

  it('keeps a subject for the retention window after its last request, then deletes it (store and memory)', async () => {
    const id = await tenant();
    const off = await tenant(false);
    const { service } = replica([]);
    for (const minute of [0, 1, 2]) service.observe(id, request(T0 + minute * 60_000, { location: LONDON }), SETTINGS);
    service.observe(off, request(T0), SETTINGS);
    await service.flush();
    const last = T0 + 2 * 60_000;
    clock.now = last + 30 * DAY;
    await service.sweep();
    expect((await store.activity.get(id, ALICE))?.lastSeenMs).toBe(last);
    // A tenant that does not measure activity keeps none.
    expect(await store.activity.get(off, ALICE)).toBeNull();
    // Past the window it is not used even before the sweep...
    const after = request(last + 30 * DAY + 1, { location: SYDNEY });
    expect(await service.signal(id, after, SETTINGS)).toEqual({ impossibleTravel: false, anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    // ...and the sweep deletes it.
    clock.now = last + 30 * DAY + 1;
    await service.sweep();
    expect(await store.activity.get(id, ALICE)).toBeNull();
    expect(await store.activity.tenants()).not.toContain(id);
    clock.now = T0;
  });

  it('writes what is queued when it stops, and on its own after flushMs', async () => {
    const id = await tenant();
    const changes: Change[] = [];
    const { service } = replica(changes);
    service.observe(id, request(T0), SETTINGS);
    expect(await store.activity.get(id, ALICE)).toBeNull();
    await service.stop();
    expect((await store.activity.get(id, ALICE))?.windows).toEqual([[Math.floor(T0 / 60_000), 1]]);
    expect(changes).toEqual([{ tenant: id, kind: 'activity' }]);
    const { service: timed } = replica(changes, { flushMs: 10 });
    timed.observe(id, request(T0 + 1), SETTINGS);
    await until(async () => (await store.activity.get(id, ALICE))?.windows[0]?.[1] === 2);
    await timed.stop();
  });

  it('erases a subject on request: the store row at once, every replica\'s memory at the change', async () => {
    const id = await tenant();
    const changes: Change[] = [];
    const { service: a } = replica(changes);
    const { service: b } = replica(changes);
    for (const minute of [0, 1, 2]) a.observe(id, request(T0 + minute * 60_000, { location: LONDON }), SETTINGS);
    await a.flush();
    const later = request(T0 + 3 * 60_000, { location: SYDNEY, action: 'Action::"delete"' });
    expect(await b.signal(id, later, SETTINGS)).toMatchObject({ impossibleTravel: true, firstUseScore: 0.6 });
    // Queued on a, not written yet: the erasure writes it first, then empties the row.
    a.observe(id, request(T0 + 3 * 60_000), SETTINGS);
    expect(await a.erase(id, ALICE)).toBe(true);
    expect(await store.activity.get(id, ALICE)).toMatchObject({ lastSeenMs: 0, location: null, windows: [], actions: [] });
    expect(await a.signal(id, later, SETTINGS)).toEqual({ impossibleTravel: false, anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    b.onChange(id);
    await until(async () => (await b.signal(id, later, SETTINGS)).impossibleTravel === false);
    expect(await b.signal(id, later, SETTINGS)).toEqual({ impossibleTravel: false, anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    expect(await a.erase(id, ALICE)).toBe(false);
    for (const bad of ['', 'x'.repeat(2049), undefined, ['User::"alice"']]) await expect(a.erase(id, bad as string)).rejects.toMatchObject({ code: 'ERR_ACTIVITY_INVALID' });
  });
});
