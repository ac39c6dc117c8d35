/** Conformance cases for the receipt-keys repository: pending → active → retired, per tenant. */
import { describe, expect, it } from 'vitest';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

/** Register the receipt-key cases. */
export function describeReceiptKeys(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);
  const pending = (tenant: string, kid: string, createdAtMs: number) => handle.store.receiptKeys.create({ tenant, kid, sealedSecret: `sealed-${kid}`, createdAtMs });

  describe('receipt keys', () => {
    it('creates pending keys, lists them oldest first, and has no active key until one is activated', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      expect(await pending('acme', 'k2', 2000)).toEqual({ tenant: 'acme', kid: 'k2', sealedSecret: 'sealed-k2', state: 'pending', createdAtMs: 2000, activatedAtMs: null, retiredAtMs: null, verifyUntilMs: null });
      await pending('acme', 'k1', 1000);
      await pending('globex', 'g1', 1500);
      expect((await store.receiptKeys.list('acme')).map((k) => k.kid)).toEqual(['k1', 'k2']);
      expect(await store.receiptKeys.active('acme')).toBeNull();
      await expectVerityError(pending('nope', 'x', 1), 'ERR_TENANT_NOT_FOUND');
    });

    it('activates a pending key and retires the previous active one with its verify-until', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await pending('acme', 'k1', 1000);
      await pending('acme', 'k2', 2000);
      await pending('globex', 'g1', 1000);
      await store.receiptKeys.activate('globex', 'g1', { nowMs: 1100, verifyUntilMs: 1200 });

      expect(await store.receiptKeys.activate('acme', 'k1', { nowMs: 3000, verifyUntilMs: 3090 })).toMatchObject({ kid: 'k1', state: 'active', activatedAtMs: 3000, retiredAtMs: null, verifyUntilMs: null });
      expect((await store.receiptKeys.active('acme'))?.kid).toBe('k1');
      await store.receiptKeys.activate('acme', 'k2', { nowMs: 4000, verifyUntilMs: 4090 });
      expect((await store.receiptKeys.active('acme'))?.kid).toBe('k2');
      expect((await store.receiptKeys.list('acme')).map((k) => [k.kid, k.state, k.retiredAtMs, k.verifyUntilMs])).toEqual([
        ['k1', 'retired', 4000, 4090],
        ['k2', 'active', null, null],
      ]);
      // The other tenant's active key is untouched.
      expect((await store.receiptKeys.active('globex'))?.kid).toBe('g1');
    });

    it('deletes retired keys past their verify-until at the next activation', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      for (const [kid, at] of [['k1', 1000], ['k2', 2000], ['k3', 3000]] as const) await pending('acme', kid, at);
      await store.receiptKeys.activate('acme', 'k1', { nowMs: 1000, verifyUntilMs: 1100 });
      await store.receiptKeys.activate('acme', 'k2', { nowMs: 2000, verifyUntilMs: 2100 }); // k1 retires until 2100
      await store.receiptKeys.activate('acme', 'k3', { nowMs: 2100, verifyUntilMs: 2200 }); // k1 still verifies at 2100 exactly
      expect((await store.receiptKeys.list('acme')).map((k) => k.kid)).toEqual(['k1', 'k2', 'k3']);
      await pending('acme', 'k4', 4000);
      await store.receiptKeys.activate('acme', 'k4', { nowMs: 4000, verifyUntilMs: 4100 }); // k1 and k2 are past theirs
      expect((await store.receiptKeys.list('acme')).map((k) => [k.kid, k.state])).toEqual([
        ['k3', 'retired'],
        ['k4', 'active'],
      ]);
    });

    it('refuses to activate an unknown, foreign, active or retired key', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await pending('acme', 'k1', 1000);
      await pending('acme', 'k2', 2000);
      await pending('globex', 'g1', 1000);
      const times = { nowMs: 5000, verifyUntilMs: 5090 };
      await expectVerityError(store.receiptKeys.activate('acme', 'nope', times), 'ERR_RECEIPT_KEY_NOT_FOUND');
      await expectVerityError(store.receiptKeys.activate('acme', 'g1', times), 'ERR_RECEIPT_KEY_NOT_FOUND');
      await expectVerityError(store.receiptKeys.activate('nope', 'k1', times), 'ERR_TENANT_NOT_FOUND');
      await store.receiptKeys.activate('acme', 'k1', times);
      await expectVerityError(store.receiptKeys.activate('acme', 'k1', times), 'ERR_RECEIPT_KEY_NOT_PENDING');
      await store.receiptKeys.activate('acme', 'k2', times);
      await expectVerityError(store.receiptKeys.activate('acme', 'k1', times), 'ERR_RECEIPT_KEY_NOT_PENDING');
      expect((await store.receiptKeys.active('acme'))?.kid).toBe('k2');
    });

    it('keeps a kid unique across tenants and at most one active key per tenant', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await pending('acme', 'same', 1000);
      await expect(pending('globex', 'same', 1000)).rejects.toThrow();
      await pending('acme', 'other', 1000);
      await store.receiptKeys.activate('acme', 'same', { nowMs: 1000, verifyUntilMs: 1100 });
      // Past the repository, the schema itself refuses a second active key.
      await expect(store.db.query("UPDATE receipt_keys SET state = 'active' WHERE kid = 'other'")).rejects.toThrow();
    });
  });
}
