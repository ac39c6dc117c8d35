/**
 * Device trust: registered devices and the posture their MDM pushes, and the device signal of the
 * risk engine. Each replica holds a tenant's devices in memory (read on the tenant's first
 * decision that measures devices), so a decision never waits on the store for a device; this
 * replica's own writes apply at once, every replica reads the tenant again on its `device` change
 * (the change feed: within a second) and on a resync.
 */
import { DEFAULT_DEVICE_TRUST, deviceIssues, deviceSignalOf, isDeviceId, parseDevicePosture, VerityError, type DevicePosture, type RiskSignals } from '@verity/core';
import type { DeviceWrite, Store, StoredDevice } from '@verity/store';
import type { PublishChange } from '../change-feed.js';
import { createTenantViews } from '../tenant-views.js';

/** A device as the admin API shows it. */
export interface DeviceView {
  id: string;
  tenant: string;
  posture: DevicePosture;
  compliant: boolean;
  issues: string[];
  registered_at: string;
  updated_at: string;
}

/** When the device signal is read: the clock and the tenant's patch-age limit. */
export interface DeviceSignalAt {
  nowMs: number;
  maxPatchAgeDays: number;
}

export interface DeviceService {
  /** Register (idempotent: `created` is false when it was registered already). ERR_DEVICE_INVALID, ERR_TENANT_NOT_FOUND. */
  register(tenant: string, id: string, body: unknown): Promise<{ device: DeviceView; created: boolean }>;
  /** An MDM's posture push. ERR_DEVICE_INVALID, ERR_DEVICE_NOT_FOUND. */
  report(tenant: string, id: string, body: unknown): Promise<DeviceView>;
  list(tenant: string): Promise<DeviceView[]>;
  /** ERR_DEVICE_NOT_FOUND when it is not registered. */
  remove(tenant: string, id: string): Promise<void>;
  /**
   * The risk engine's device signal: `unknown` for no id or an unregistered one, else `known`
   * with the issues derived at `at` (the patch level ages between reports) and, while the patch
   * level is within the limit, `validUntilMs`: when it ages out. Reads memory once the tenant's
   * devices are loaded.
   */
  signal(tenant: string, id: string | null, at: DeviceSignalAt): Promise<NonNullable<RiskSignals['device']>>;
  /** The tenant's `device` change arrived: read its devices again (if this replica holds them). */
  /** Resolves once the tenant's new view is held (decisions meanwhile wait for it). */
  onChange(tenant: string): Promise<void>;
  /** Notifications may have been missed: read every tenant held again. */
  onResync(): void;
}

export interface DeviceServiceOptions {
  store: Store;
  publish: PublishChange;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
  /** A reload after a change failed (the tenant's view is dropped and read at its next decision). */
  onReloadError?: (error: unknown) => void;
}

/** Devices of one tenant, by id: the posture only (the verdict is derived at each decision). */
type TenantDevices = Map<string, DevicePosture>;

const notFound = () => new VerityError('ERR_DEVICE_NOT_FOUND', 'no such registered device');

function toView(device: StoredDevice): DeviceView {
  return {
    id: device.id,
    tenant: device.tenant,
    posture: device.posture as DevicePosture,
    compliant: device.compliant,
    issues: device.issues,
    registered_at: new Date(device.registeredAtMs).toISOString(),
    updated_at: new Date(device.updatedAtMs).toISOString(),
  };
}

export function createDeviceService(options: DeviceServiceOptions): DeviceService {
  const { store, publish } = options;
  const now = options.now ?? Date.now;
  const read = async (tenant: string): Promise<TenantDevices> => new Map((await store.devices.list(tenant)).map((device) => [device.id, device.posture as DevicePosture]));
  const views = createTenantViews({ read, ...(options.onReloadError === undefined ? {} : { onReloadError: options.onReloadError }) });

  /**
   * This replica's own write, applied to what it holds before anything else can run, then
   * published (every replica, this one too, reads again; a read under way reads once more).
   */
  async function applyAndPublish(tenant: string, id: string, posture: DevicePosture | null): Promise<void> {
    views.update(tenant, (devices) => {
      if (posture === null) devices.delete(id);
      else devices.set(id, posture);
      return devices;
    });
    await publish({ tenant, kind: 'device' });
  }

  async function maxPatchAgeDaysOf(tenant: string): Promise<number> {
    const found = await store.tenants.get(tenant);
    if (found === null) throw new VerityError('ERR_TENANT_NOT_FOUND', `tenant "${tenant}" does not exist`);
    return found.settings.risk?.devices?.max_patch_age_days ?? DEFAULT_DEVICE_TRUST.max_patch_age_days;
  }

  /** The verdict on `posture` now, under the tenant's patch-age limit (ERR_TENANT_NOT_FOUND). */
  async function verdictOf(tenant: string, id: string, posture: DevicePosture, nowMs: number): Promise<DeviceWrite> {
    const issues = deviceIssues(posture, { nowMs, maxPatchAgeDays: await maxPatchAgeDaysOf(tenant) });
    return { id, posture: { ...posture }, compliant: issues.length === 0, issues };
  }

  return {
    async register(tenant, id, body) {
      if (!isDeviceId(id)) throw new VerityError('ERR_DEVICE_INVALID', 'a device id is 1–128 characters of A–Z, a–z, 0–9, ".", "_", ":" and "-"');
      if (body !== undefined && body !== null && !(typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) {
        throw new VerityError('ERR_DEVICE_INVALID', 'a registration has no body (the posture is reported by POST …/posture)');
      }
      // Until its MDM reports, a device has no posture: every issue that absence implies.
      const nowMs = now();
      const { device, created } = await store.devices.put(tenant, await verdictOf(tenant, id, {}, nowMs), nowMs);
      if (created) {
        await applyAndPublish(tenant, id, {});
      }
      return { device: toView(device), created };
    },

    async report(tenant, id, body) {
      if (!isDeviceId(id)) throw notFound();
      const nowMs = now();
      const posture = parseDevicePosture(body, nowMs);
      const device = await store.devices.report(tenant, await verdictOf(tenant, id, posture, nowMs), nowMs);
      if (device === null) throw notFound();
      await applyAndPublish(tenant, id, posture);
      return toView(device);
    },

    list: async (tenant) => (await store.devices.list(tenant)).map(toView),

    async remove(tenant, id) {
      if (!isDeviceId(id) || !(await store.devices.remove(tenant, id))) throw notFound();
      await applyAndPublish(tenant, id, null);
    },

    async signal(tenant, id, at) {
      if (id === null) return { state: 'unknown' };
      return deviceSignalOf((await views.get(tenant)).get(id), at);
    },

    onChange: (tenant) => views.reload(tenant),
    onResync: () => views.reloadAll(),
  };
}
