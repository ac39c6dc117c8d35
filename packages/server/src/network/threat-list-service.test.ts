/** Threat lists imported through the service, and the in-memory matcher decisions read (two replicas, one store). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVerityError, parseIpAddress, type IpAddress } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { twoReplicas } from '../replica-test-helpers.js';
import { createThreatListService, MAX_THREAT_LIST_ENTRIES } from './threat-list-service.js';

let store: Store;
const clock = { now: Date.UTC(2026, 11, 1, 12) };
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
let count = 0;

const ip = (text: string): IpAddress => {
  const parsed = parseIpAddress(text);
  if (parsed === null) throw new Error(text);
  return parsed;
};

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
});
afterAll(async () => {
  await store.close();
});

/** Two replicas over one store: the writer hears its own change at once, the other when delivered. */
const replicas = () => twoReplicas((publish) => createThreatListService({ store, now: () => clock.now, publish }));

async function tenant(): Promise<string> {
  const id = `threat-${++count}`;
  await store.tenants.create({ id, name: id, settings: {} });
  return id;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isVerityError(error) ? error.code : 'not a VerityError';
  }
  return undefined;
}

/** Wait until `check` holds (a replica's reload is asynchronous), at most about a second. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('never held');
}

describe('threat lists', () => {
  it('imports, matches IPv4 and IPv6, lists and removes', async () => {
    const t = await tenant();
    const { a, changes } = replicas();
    expect(await a.match(t, ip('203.0.113.9'), clock.now)).toBeNull();
    const view = await a.import(t, 'feed-a', { entries: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7', '203.0.113.77/24'], expires_at: iso(clock.now + HOUR) });
    expect(view).toEqual({ source: 'feed-a', entries: 4, expires_at: iso(clock.now + HOUR), imported_at: iso(clock.now), expired: false });
    expect(changes).toEqual([{ tenant: t, kind: 'threat' }]);
    // Applied to this replica's memory at once.
    expect(await a.match(t, ip('203.0.113.9'), clock.now)).toEqual({ source: 'feed-a', expiresAtMs: clock.now + HOUR });
    expect(await a.match(t, ip('2001:db8:ffff::1'), clock.now)).toEqual({ source: 'feed-a', expiresAtMs: clock.now + HOUR });
    expect(await a.match(t, ip('::ffff:198.51.100.7'), clock.now)).toEqual({ source: 'feed-a', expiresAtMs: clock.now + HOUR });
    expect(await a.match(t, ip('198.51.100.8'), clock.now)).toBeNull();
    // Stored canonical: the duplicate range written with host bits once more.
    expect((await store.threatLists.load(t))[0]?.entries).toEqual(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32', '203.0.113.0/24']);
    expect(await a.list(t)).toEqual([view]);
    await a.remove(t, 'feed-a');
    expect(await a.match(t, ip('203.0.113.9'), clock.now)).toBeNull();
    expect(await codeOf(a.remove(t, 'feed-a'))).toBe('ERR_THREAT_LIST_NOT_FOUND');
  });

  it('replaces a source whole, reports the first source and the earliest expiry of the matches, and skips an expired list', async () => {
    const t = await tenant();
    const { a } = replicas();
    await a.import(t, 'zeta', { entries: ['10.0.0.0/8'], expires_at: iso(clock.now + 2 * HOUR) });
    await a.import(t, 'alpha', { entries: ['10.1.0.0/16'], expires_at: iso(clock.now + HOUR) });
    await a.import(t, 'never', { entries: ['10.1.2.0/24'] });
    expect(await a.match(t, ip('10.1.2.3'), clock.now)).toEqual({ source: 'alpha', expiresAtMs: clock.now + HOUR });
    expect(await a.match(t, ip('10.9.0.1'), clock.now)).toEqual({ source: 'zeta', expiresAtMs: clock.now + 2 * HOUR });
    // From alpha's expiry on, it no longer counts; no change is needed for that.
    expect(await a.match(t, ip('10.1.2.3'), clock.now + HOUR)).toEqual({ source: 'never', expiresAtMs: clock.now + 2 * HOUR });
    expect(await a.match(t, ip('10.1.2.3'), clock.now + 3 * HOUR)).toEqual({ source: 'never' });
    // A new import of a source replaces its ranges.
    await a.import(t, 'zeta', { entries: ['192.0.2.0/24'], expires_at: null });
    expect(await a.match(t, ip('10.9.0.1'), clock.now)).toBeNull();
    expect(await a.match(t, ip('192.0.2.1'), clock.now)).toEqual({ source: 'zeta' });
    const views = await a.list(t);
    expect(views.map((view) => [view.source, view.entries, view.expired])).toEqual([['alpha', 1, false], ['never', 1, false], ['zeta', 1, false]]);
    clock.now += HOUR;
    try {
      expect((await a.list(t)).find((view) => view.source === 'alpha')?.expired).toBe(true);
    } finally {
      clock.now -= HOUR;
    }
  });

  it("another replica decides from memory until the threat change arrives, then from the new list", async () => {
    const t = await tenant();
    const { a, b, deliver } = replicas();
    expect(await b.match(t, ip('203.0.113.9'), clock.now)).toBeNull();
    await a.import(t, 'feed', { entries: ['203.0.113.0/24'] });
    // No store read per decision: b still holds the tenant as it read it.
    expect(await b.match(t, ip('203.0.113.9'), clock.now)).toBeNull();
    deliver();
    await until(async () => (await b.match(t, ip('203.0.113.9'), clock.now)) !== null);
    expect(await b.match(t, ip('203.0.113.9'), clock.now)).toEqual({ source: 'feed' });
    await a.remove(t, 'feed');
    deliver();
    await until(async () => (await b.match(t, ip('203.0.113.9'), clock.now)) === null);
  });

  it('refuses bad imports with ERR_THREAT_LIST_INVALID, and an unknown tenant', async () => {
    const t = await tenant();
    const { a } = replicas();
    const cases: Array<[string, unknown]> = [
      ['feed a', { entries: [] }],
      ['x'.repeat(65), { entries: [] }],
      ['feed', []],
      ['feed', { entries: '203.0.113.0/24' }],
      ['feed', { entries: ['203.0.113.0/24', 'evil.example'] }],
      ['feed', { entries: ['203.0.113.0/33'] }],
      ['feed', { entries: [], extra: 1 }],
      ['feed', { entries: [], expires_at: '2027-01-01' }],
      ['feed', { entries: [], expires_at: 1_900_000_000 }],
      ['feed', { entries: [], expires_at: iso(clock.now - 1000) }],
      ['feed', { entries: Array.from({ length: MAX_THREAT_LIST_ENTRIES + 1 }, () => '203.0.113.1') }],
    ];
    for (const [source, body] of cases) expect(await codeOf(a.import(t, source, body)), JSON.stringify(body).slice(0, 80)).toBe('ERR_THREAT_LIST_INVALID');
    expect(await a.list(t)).toEqual([]);
    expect(await codeOf(a.import('no-such-tenant', 'feed', { entries: [] }))).toBe('ERR_TENANT_NOT_FOUND');
    expect(await codeOf(a.remove(t, 'bad source'))).toBe('ERR_THREAT_LIST_NOT_FOUND');
  });

  it('imports 100,000 ranges', async () => {
    const t = await tenant();
    const { a } = replicas();
    const entries = Array.from({ length: MAX_THREAT_LIST_ENTRIES }, (_, i) => `100.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect((await a.import(t, 'big', { entries })).entries).toBe(MAX_THREAT_LIST_ENTRIES);
    expect(await a.match(t, ip('100.1.134.159'), clock.now)).toEqual({ source: 'big' });
    expect(await a.match(t, ip('100.1.134.160'), clock.now)).toBeNull();
  }, 60_000);
});
