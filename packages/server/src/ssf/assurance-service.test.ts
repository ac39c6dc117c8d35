/** Assurance levels held on two replicas over one store: the writer at once, the other on its `assurance` change. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import type { Change } from '../change-feed.js';
import { createAssuranceService, type AssuranceService } from './assurance-service.js';

let store: Store;

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
  await store.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
  await store.tenants.create({ id: 'globex', name: 'Globex', settings: {} });
});
afterAll(async () => {
  await store.close();
});

/** Wait for the other replica's re-read (it runs in the background). */
async function until(check: () => boolean): Promise<void> {
  for (let tries = 0; tries < 100 && !check(); tries++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(check()).toBe(true);
}

describe('assurance service', () => {
  it('holds what was set, on the writer at once and on another replica after the change; never an older level over a newer', async () => {
    const changes: Change[] = [];
    const replicas: { b?: AssuranceService } = {};
    const a = await createAssuranceService({
      store,
      publish: async (change) => {
        changes.push(change);
        replicas.b?.onChange(change.tenant);
      },
    });
    const b = (replicas.b = await createAssuranceService({ store, publish: async () => {} }));
    await a.set('acme', 'alice', { acr: 'aal2', atMs: 2000 });
    expect(a.of('acme', 'alice')).toEqual({ acr: 'aal2', atMs: 2000 });
    expect(changes).toEqual([{ tenant: 'acme', kind: 'assurance' }]);
    await until(() => b.of('acme', 'alice')?.acr === 'aal2');
    // An older event changes nothing and publishes nothing.
    await a.set('acme', 'alice', { acr: 'aal3', atMs: 1000 });
    expect(a.of('acme', 'alice')).toEqual({ acr: 'aal2', atMs: 2000 });
    expect(changes).toHaveLength(1);
    expect(a.of('globex', 'alice')).toBeUndefined();
    // A replica started later reads every tenant's levels; a resync reads them again.
    const c = await createAssuranceService({ store, publish: async () => {} });
    expect(c.of('acme', 'alice')).toEqual({ acr: 'aal2', atMs: 2000 });
    await store.ssf.setAssurance({ tenant: 'globex', subject: 'bob', acr: 'aal1', atMs: 5000 });
    c.onResync();
    await until(() => c.of('globex', 'bob')?.acr === 'aal1');
  });
});
