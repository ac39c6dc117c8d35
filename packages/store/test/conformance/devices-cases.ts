/** Conformance cases for the devices repository: idempotent registration, posture reports, per tenant. */
import { describe, expect, it } from 'vitest';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

const FRESH = { id: 'laptop-1', posture: {}, compliant: false, issues: ['disk_encryption', 'screen_lock', 'patch_level'] };
const GOOD = { patch_level: '2026-11-20', disk_encryption: true, screen_lock: true, compliant: true };

/** Register the device cases. */
export function describeDevices(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('devices', () => {
    it('registers a device once: a second registration keeps the first, with its posture and time', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const first = await store.devices.put('acme', FRESH, 1000);
      expect(first).toEqual({ created: true, device: { tenant: 'acme', id: 'laptop-1', posture: {}, compliant: false, issues: FRESH.issues, registeredAtMs: 1000, updatedAtMs: 1000 } });
      await store.devices.report('acme', { id: 'laptop-1', posture: GOOD, compliant: true, issues: [] }, 2000);
      const again = await store.devices.put('acme', FRESH, 3000);
      expect(again).toEqual({ created: false, device: { tenant: 'acme', id: 'laptop-1', posture: GOOD, compliant: true, issues: [], registeredAtMs: 1000, updatedAtMs: 2000 } });
      await expectVerityError(store.devices.put('nope', FRESH, 1000), 'ERR_TENANT_NOT_FOUND');
    });

    it('replaces the posture of a registered device only, and keeps tenants apart', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.devices.put('acme', FRESH, 1000);
      await store.devices.put('globex', { ...FRESH, id: 'phone' }, 1000);
      expect(await store.devices.report('acme', { id: 'phone', posture: GOOD, compliant: true, issues: [] }, 2000)).toBeNull();
      expect(await store.devices.report('nope', { id: 'laptop-1', posture: GOOD, compliant: true, issues: [] }, 2000)).toBeNull();
      const reported = await store.devices.report('acme', { id: 'laptop-1', posture: { ...GOOD, screen_lock: false }, compliant: false, issues: ['screen_lock'] }, 2500);
      expect(reported).toEqual({ tenant: 'acme', id: 'laptop-1', posture: { ...GOOD, screen_lock: false }, compliant: false, issues: ['screen_lock'], registeredAtMs: 1000, updatedAtMs: 2500 });
      expect(await store.devices.list('globex')).toEqual([{ tenant: 'globex', id: 'phone', posture: {}, compliant: false, issues: FRESH.issues, registeredAtMs: 1000, updatedAtMs: 1000 }]);
    });

    it('lists by id and removes', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      for (const id of ['b', 'a', 'C', 'a.b:c-d_e']) await store.devices.put('acme', { ...FRESH, id }, 1000);
      await store.devices.put('globex', { ...FRESH, id: 'a' }, 1000);
      expect((await store.devices.list('acme')).map((device) => device.id)).toEqual(['C', 'a', 'a.b:c-d_e', 'b']);
      expect(await store.devices.remove('acme', 'a')).toBe(true);
      expect(await store.devices.remove('acme', 'a')).toBe(false);
      expect((await store.devices.list('acme')).map((device) => device.id)).toEqual(['C', 'a.b:c-d_e', 'b']);
      expect((await store.devices.list('globex')).map((device) => device.id)).toEqual(['a']);
      expect(await store.devices.list('nope')).toEqual([]);
    });
  });
}
