/** The Listener port on PGlite: notify comes back to the same instance's listener, reset is harmless, close stops delivery. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase } from './pglite-driver.js';
import type { Database } from './types.js';

let db: Database;

beforeAll(async () => {
  db = await createPgliteDatabase();
});

afterAll(async () => {
  await db.close();
});

/** Resolves once `payloads` holds `count` entries (PGlite delivers asynchronously), or after 2 s. */
async function until(payloads: string[], count: number): Promise<void> {
  for (let i = 0; i < 200 && payloads.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('PGlite listener', () => {
  it('delivers its own notify and NOTIFY from queries, survives reset, stops after close', async () => {
    const payloads: string[] = [];
    const listener = await db.listen('verity_listener_test', (payload) => payloads.push(payload));
    await listener.notify('beat');
    await until(payloads, 1);
    listener.reset();
    await db.query("SELECT pg_notify('verity_listener_test', 'change')");
    await until(payloads, 2);
    expect(payloads).toEqual(['beat', 'change']);
    await listener.close();
    await db.query("SELECT pg_notify('verity_listener_test', 'after-close')");
    // A marker on another channel, sent after, proves the earlier notification was processed.
    const marker: string[] = [];
    const other = await db.listen('verity_listener_marker', (payload) => marker.push(payload));
    await other.notify('m');
    await until(marker, 1);
    expect(marker).toEqual(['m']);
    expect(payloads).toEqual(['beat', 'change']);
    await other.close();
  });
});
