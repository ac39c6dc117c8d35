/** The per-tenant in-memory views: read once, own writes in place, reloads that never hold an older read over a newer. */
import { describe, expect, it } from 'vitest';
import { createTenantViews } from './tenant-views.js';

/** A store stand-in whose reads finish when the test says, each answering the version current when it began. */
function slowStore() {
  let version = 0;
  const pending: Array<() => void> = [];
  const reads: string[] = [];
  return {
    bump: () => ++version,
    reads,
    finishAll: async () => {
      while (pending.length > 0) {
        pending.shift()?.();
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    read: (tenant: string) => {
      const seen = version;
      reads.push(`${tenant}@${seen}`);
      return new Promise<number>((resolve) => pending.push(() => resolve(seen)));
    },
  };
}

describe('createTenantViews', () => {
  it('reads a tenant once and then answers from memory', async () => {
    const store = slowStore();
    const views = createTenantViews({ read: store.read });
    const first = views.get('acme');
    const second = views.get('acme');
    await store.finishAll();
    expect([await first, await second]).toEqual([0, 0]);
    expect(await views.get('acme')).toBe(0);
    expect(store.reads).toEqual(['acme@0']);
  });

  it('a change during a read reads once more: the view held is never older than the last change', async () => {
    const store = slowStore();
    const views = createTenantViews({ read: store.read });
    const first = views.get('acme');
    store.bump();
    void views.reload('acme');
    await store.finishAll();
    expect(await first).toBe(1);
    expect(await views.get('acme')).toBe(1);
    expect(store.reads).toEqual(['acme@0', 'acme@1']);
  });

  it('a use after a change waits for the new read, never answering from the view the change made stale; reload resolves once it is held', async () => {
    const store = slowStore();
    const views = createTenantViews({ read: store.read });
    const first = views.get('acme');
    await store.finishAll();
    expect(await first).toBe(0);
    store.bump();
    let reloaded = false;
    const reload = views.reload('acme').then(() => (reloaded = true));
    const during = views.get('acme');
    await new Promise((resolve) => setImmediate(resolve));
    expect(reloaded).toBe(false);
    await store.finishAll();
    await reload;
    expect(await during).toBe(1);
    expect(store.reads).toEqual(['acme@0', 'acme@1']);
  });

  it('reloads only tenants it holds, applies own writes in place, and drops a tenant whose reload failed', async () => {
    let fail = false;
    let value = 10;
    const errors: unknown[] = [];
    const views = createTenantViews({ read: async () => {
      if (fail) throw new Error('store down');
      return value;
    }, onReloadError: (error) => errors.push(error) });
    void views.reload('never-read');
    views.update('never-read', () => 99);
    expect(await views.get('never-read')).toBe(10);
    views.update('never-read', (v) => v + 1);
    expect(await views.get('never-read')).toBe(11);
    fail = true;
    views.reloadAll();
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toHaveLength(1);
    await expect(views.get('never-read')).rejects.toThrow('store down');
    fail = false;
    value = 20;
    expect(await views.get('never-read')).toBe(20);
  });
});
