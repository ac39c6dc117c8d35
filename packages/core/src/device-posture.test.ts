/** Posture reports checked, and the issues derived from them at a fixed time. */
import { describe, expect, it } from 'vitest';
import { deviceIssues, isDeviceId, parseDevicePosture } from './device-posture.js';

const NOW = Date.UTC(2026, 11, 1, 12);
const at = { nowMs: NOW, maxPatchAgeDays: 30 };
const GOOD = { patch_level: '2026-11-20', disk_encryption: true, screen_lock: true, compliant: true };

describe('device posture', () => {
  it('finds no issue in a patched, encrypted, locked device its MDM calls compliant', () => {
    expect(deviceIssues(parseDevicePosture(GOOD, NOW), at)).toEqual([]);
    // The MDM's verdict is optional: only a "false" counts against the device.
    const { compliant: _, ...withoutVerdict } = GOOD;
    expect(deviceIssues(withoutVerdict, at)).toEqual([]);
  });

  it.each([
    ['encryption off', { disk_encryption: false }, ['disk_encryption']],
    ['screen lock off', { screen_lock: false }, ['screen_lock']],
    ['the MDM says non-compliant', { compliant: false }, ['mdm_noncompliant']],
    ['patched 31 days ago', { patch_level: '2026-10-31T12:00:00Z' }, ['patch_level']],
    ['patched exactly 30 days ago (not older than the limit)', { patch_level: '2026-11-01T12:00:00Z' }, []],
    ['everything wrong', { disk_encryption: false, screen_lock: false, compliant: false, patch_level: '2025-01-01' }, ['disk_encryption', 'screen_lock', 'mdm_noncompliant', 'patch_level']],
  ])('%s', (_what, change, issues) => {
    expect(deviceIssues(parseDevicePosture({ ...GOOD, ...change }, NOW), at)).toEqual(issues);
  });

  it('counts what is not reported as an issue (a registered device that never reported has them all)', () => {
    expect(deviceIssues({}, at)).toEqual(['disk_encryption', 'screen_lock', 'patch_level']);
    expect(deviceIssues({ disk_encryption: true, screen_lock: true }, at)).toEqual(['patch_level']);
  });

  it("holds the patch level to the tenant's limit, at the time asked (a device ages between reports)", () => {
    const posture = parseDevicePosture({ ...GOOD, patch_level: '2026-11-02' }, NOW); // 29.5 days before NOW
    expect(deviceIssues(posture, { nowMs: NOW, maxPatchAgeDays: 30 })).toEqual([]);
    expect(deviceIssues(posture, { nowMs: NOW, maxPatchAgeDays: 7 })).toEqual(['patch_level']);
    expect(deviceIssues(posture, { nowMs: NOW + 5 * 86_400_000, maxPatchAgeDays: 30 })).toEqual(['patch_level']);
  });

  it('refuses anything but the four keys of the right types, and a patch level that is no date or is ahead', () => {
    for (const body of [
      null, [], 'x', { extra: 1 }, { disk_encryption: 'yes' }, { screen_lock: 1 }, { compliant: null },
      { patch_level: 20261120 }, { patch_level: '2026-02-30' }, { patch_level: 'last tuesday' }, { patch_level: '2026-11-20T25:00:00Z' },
      { patch_level: '2026-12-03' }, { patch_level: `2026-11-20T00:00:00.${'0'.repeat(40)}Z` },
    ]) {
      expect(() => parseDevicePosture(body, NOW), JSON.stringify(body)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_INVALID' }));
    }
    expect(parseDevicePosture({ patch_level: '2026-12-02T00:00:00+02:00' }, NOW)).toEqual({ patch_level: '2026-12-02T00:00:00+02:00' });
  });

  it('takes device ids of 1–128 characters [A-Za-z0-9._:-] only', () => {
    for (const id of ['a', 'LAPTOP-42', 'urn:mdm:device:7f3a', 'x.y_z', 'a'.repeat(128)]) expect(isDeviceId(id), id).toBe(true);
    for (const id of ['', 'a'.repeat(129), 'a b', 'a/b', 'é', 42, null]) expect(isDeviceId(id), String(id)).toBe(false);
  });
});
