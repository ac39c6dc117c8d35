/** The change feed's heartbeat: it confirms freshness when it comes back, and resets a silent listener. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase, type Database, type Listener } from '@verity/store';
import { CHANGES_CHANNEL, startChangeFeed, type Change } from './change-feed.js';
import { createFreshness } from './freshness.js';

let db: Database;

beforeAll(async () => {
  db = await createPgliteDatabase();
});

afterAll(async () => {
  await db?.close();
});

const BOUND_MS = 100;

async function until(check: () => boolean, withinMs = 3000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('change feed heartbeat', () => {
  it('confirms freshness when its heartbeat comes back; another replica heartbeat is neither a change nor a resync', async () => {
    const freshness = createFreshness({ maxStalenessMs: BOUND_MS });
    const started = freshness.confirmedAt();
    let resyncs = 0;
    const changes: Change[] = [];
    const feed = await startChangeFeed(db, { onChange: (change) => void changes.push(change), onResync: () => resyncs++ }, { freshness });
    const heard: Change[] = [];
    const unsubscribe = feed.subscribe((change) => heard.push(change));
    try {
      await until(() => freshness.confirmedAt() > started);
      await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify({ heartbeat: 1, replica: 'another' })]);
      await feed.publish({ tenant: 'acme', kind: 'policy' });
      await until(() => heard.length === 1);
      expect(heard).toEqual([{ tenant: 'acme', kind: 'policy' }]);
      expect(resyncs).toBe(0);
      // Confirmed time keeps moving while heartbeats come back.
      const before = freshness.confirmedAt();
      await until(() => freshness.confirmedAt() > before);
      expect(freshness.report().fresh).toBe(true);
    } finally {
      unsubscribe();
      await feed.close();
    }
  });

  it('resets the listener when no heartbeat comes back within twice the bound, and goes stale', async () => {
    const freshness = createFreshness({ maxStalenessMs: BOUND_MS });
    let resets = 0;
    // The network between this replica and the database drops its own heartbeats (a paused link).
    const silent: Database = {
      ...db,
      kind: db.kind,
      async listen(channel, onPayload) {
        const inner: Listener = await db.listen(channel, (payload) => {
          if (!payload.includes('"heartbeat"')) onPayload(payload);
        });
        return { ...inner, reset: () => void resets++ };
      },
    };
    const feed = await startChangeFeed(silent, { onChange: () => {}, onResync: () => {} }, { freshness });
    try {
      await until(() => resets > 0);
      expect(freshness.report().fresh).toBe(false);
      expect(() => freshness.assertFresh('acme', 0)).toThrowError(expect.objectContaining({ code: 'ERR_POLICY_STALE' }));
      // A view read from the store just now is fresh on its own.
      expect(() => freshness.assertFresh('acme', Date.now())).not.toThrow();
    } finally {
      await feed.close();
    }
  });
});

