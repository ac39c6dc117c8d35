/**
 * Device posture as an MDM reports it, checked once here (unknown keys are errors), and the
 * issues that make a device non-compliant. The issues are derived again at every decision (the
 * patch level ages; the tenant's `max_patch_age_days` may change), with the same function.
 */
import { VerityError } from './errors.js';
import type { RiskSignals } from './risk.js';
import { isPlainObject } from './wire-format.js';

/** A posture report: `{patch_level?, disk_encryption?, screen_lock?, compliant?}` (snake_case, as sent). */
export interface DevicePosture {
  /** ISO date (or date-time) of the last OS patch. */
  patch_level?: string;
  disk_encryption?: boolean;
  screen_lock?: boolean;
  /** The MDM's own verdict. */
  compliant?: boolean;
}

/** Why a device is not compliant, in this order. */
export type DeviceIssue = 'disk_encryption' | 'screen_lock' | 'mdm_noncompliant' | 'patch_level';

/** A device id: 1–128 characters of `[A-Za-z0-9._:-]` (serial numbers, MDM ids, URNs). */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const POSTURE_KEYS = new Set(['patch_level', 'disk_encryption', 'screen_lock', 'compliant']);
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

const invalid = (message: string) => new VerityError('ERR_DEVICE_INVALID', message);

/** Whether `value` is a device id. */
export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID.test(value);
}

/** The time (epoch ms) an ISO date or date-time names, or null when it is not one (`2026-02-30` is not). */
export function patchTimeOf(value: string): number | null {
  if (!DATE.test(value) && !DATE_TIME.test(value)) return null;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return null;
  // Date.parse rolls an impossible day over (Feb 30 → Mar 2): the date part must survive.
  if (DATE.test(value) && new Date(ms).toISOString().slice(0, 10) !== value) return null;
  return ms;
}

/**
 * A posture report from untrusted JSON, checked; a patch level more than a day ahead of `nowMs`
 * is refused (it would keep the device fresh for ever). Throws ERR_DEVICE_INVALID.
 *
 * @example
 * parseDevicePosture({ patch_level: '2026-11-20', disk_encryption: true, screen_lock: true }, Date.now());
 */
export function parseDevicePosture(body: unknown, nowMs: number): DevicePosture {
  if (!isPlainObject(body)) throw invalid('the posture must be a JSON object');
  const unknown = Object.keys(body).filter((key) => !POSTURE_KEYS.has(key));
  if (unknown.length > 0) throw invalid(`unknown posture keys: ${unknown.slice(0, 5).map((key) => key.slice(0, 40)).join(', ')}`);
  const posture: DevicePosture = {};
  const { patch_level, disk_encryption, screen_lock, compliant } = body;
  if (patch_level !== undefined) {
    const at = typeof patch_level === 'string' && patch_level.length <= 40 ? patchTimeOf(patch_level) : null;
    if (at === null) throw invalid('patch_level must be an ISO date (2026-11-20) or date-time');
    if (at > nowMs + DAY_MS) throw invalid('patch_level must not be in the future');
    posture.patch_level = patch_level as string;
  }
  for (const [key, value] of [['disk_encryption', disk_encryption], ['screen_lock', screen_lock], ['compliant', compliant]] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw invalid(`${key} must be true or false`);
    posture[key] = value;
  }
  return posture;
}

/** Each posture's patch time, parsed once (postures are replaced whole by a report, never edited). */
const patchTimes = new WeakMap<DevicePosture, number | null>();

/** {@link patchTimeOf} of a posture's `patch_level` (null when absent or not a date), memoized per posture object. */
function patchedAtOf(posture: DevicePosture): number | null {
  let at = patchTimes.get(posture);
  if (at === undefined) {
    at = posture.patch_level === undefined ? null : patchTimeOf(posture.patch_level);
    patchTimes.set(posture, at);
  }
  return at;
}

/**
 * When (epoch ms) the device's patch level ages past `maxPatchAgeDays`, if that is after `nowMs`:
 * the time its verdict changes without a new report. Undefined when the patch level is not
 * reported or has aged out already.
 */
export function patchAgesOutAtMs(posture: DevicePosture, at: { nowMs: number; maxPatchAgeDays: number }): number | undefined {
  const patchedAt = patchedAtOf(posture);
  if (patchedAt === null) return undefined;
  // deviceIssues counts it from the first millisecond past the limit.
  const agesOut = patchedAt + at.maxPatchAgeDays * DAY_MS + 1;
  return agesOut > at.nowMs ? agesOut : undefined;
}

/**
 * What makes the device non-compliant at `nowMs`: encryption or screen lock off or not reported,
 * the MDM's own verdict negative, the last patch older than `maxPatchAgeDays` or not reported.
 * Compliant means no issues.
 *
 * @example
 * deviceIssues({ disk_encryption: true, screen_lock: true, patch_level: '2026-01-01' }, { nowMs: Date.parse('2026-03-01'), maxPatchAgeDays: 30 });
 * // ['patch_level']
 */
export function deviceIssues(posture: DevicePosture, at: { nowMs: number; maxPatchAgeDays: number }): DeviceIssue[] {
  const issues: DeviceIssue[] = [];
  if (posture.disk_encryption !== true) issues.push('disk_encryption');
  if (posture.screen_lock !== true) issues.push('screen_lock');
  if (posture.compliant === false) issues.push('mdm_noncompliant');
  const patchedAt = patchedAtOf(posture);
  if (patchedAt === null || at.nowMs - patchedAt > at.maxPatchAgeDays * DAY_MS) issues.push('patch_level');
  return issues;
}

/**
 * The risk engine's device signal for a device's last posture (undefined: not registered, or no
 * device bound), at `at`: the PDP's device registry and a PEP's bundle use this one function, so
 * both weigh a device alike.
 */
export function deviceSignalOf(posture: DevicePosture | undefined, at: { nowMs: number; maxPatchAgeDays: number }): NonNullable<RiskSignals['device']> {
  if (posture === undefined) return { state: 'unknown' };
  const issues = deviceIssues(posture, at);
  const validUntilMs = patchAgesOutAtMs(posture, at);
  return { state: 'known', compliant: issues.length === 0, issues, ...(validUntilMs === undefined ? {} : { validUntilMs }) };
}
