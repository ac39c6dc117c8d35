/** Per-subject signals: haversine against known distances, the seed's travel rule at its boundary, the anomaly formula. */
import { describe, expect, it } from 'vitest';
import { activitySignal, DEFAULT_ACTIVITY_SETTINGS, haversineKm, isImpossibleTravel, parseActivitySettings, type ActivitySettings } from './activity.js';
import { isGeoPoint, MAX_SEEN_PER_SUBJECT, mergeActivity, requestActivity, windowIndexOf, type SubjectActivity } from './activity-state.js';

const LONDON = { lat: 51.5074, lon: -0.1278 };
const PARIS = { lat: 48.8566, lon: 2.3522 };
const NEW_YORK = { lat: 40.7128, lon: -74.006 };
const SYDNEY = { lat: -33.8688, lon: 151.2093 };
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
/** Kilometres per degree of longitude on the equator. */
const KM_PER_DEGREE = (6371 * Math.PI) / 180;

describe('haversine', () => {
  it('gives the great-circle distances of known city pairs (within 0.5 %)', () => {
    for (const [a, b, km] of [
      [LONDON, PARIS, 344],
      [LONDON, NEW_YORK, 5570],
      [NEW_YORK, SYDNEY, 15_990],
    ] as const) {
      expect(Math.abs(haversineKm(a, b) - km) / km).toBeLessThan(0.005);
      expect(haversineKm(b, a)).toBeCloseTo(haversineKm(a, b), 9);
    }
    expect(haversineKm(LONDON, LONDON)).toBe(0);
    expect(haversineKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(Math.PI * 6371, 6);
  });

  it('knows a point from anything else', () => {
    expect(isGeoPoint(LONDON)).toBe(true);
    for (const bad of [null, {}, { lat: 91, lon: 0 }, { lat: 0, lon: -181 }, { lat: Number.NaN, lon: 0 }, { lat: '1', lon: 2 }]) expect(isGeoPoint(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('impossible travel (the seed: distance > hours × 900 km/h × 1.2)', () => {
  it('is never impossible without a last location', () => {
    expect(isImpossibleTravel(null, { ...SYDNEY, atMs: T0 })).toBe(false);
  });

  it('flips just past 1080 km in one hour, and scales with the configured speed and buffer', () => {
    const from = { lat: 0, lon: 0, atMs: T0 };
    const at = (km: number, hours: number) => ({ lat: 0, lon: km / KM_PER_DEGREE, atMs: T0 + hours * HOUR });
    expect(isImpossibleTravel(from, at(1079.9, 1))).toBe(false);
    expect(isImpossibleTravel(from, at(1080.1, 1))).toBe(true);
    expect(isImpossibleTravel(from, at(2159.9, 2))).toBe(false);
    expect(isImpossibleTravel(from, at(2160.1, 2))).toBe(true);
    expect(isImpossibleTravel(from, at(500, 1), { maxSpeedKmh: 400, buffer: 1.2 })).toBe(true);
    expect(isImpossibleTravel(from, at(500, 1), { maxSpeedKmh: 400, buffer: 1.3 })).toBe(false);
  });

  it('London then New York: impossible within hours, possible after a flight', () => {
    const london = { ...LONDON, atMs: T0 };
    expect(isImpossibleTravel(london, { ...NEW_YORK, atMs: T0 + 2 * HOUR })).toBe(true);
    expect(isImpossibleTravel(london, { ...NEW_YORK, atMs: T0 + 8 * HOUR })).toBe(false);
    // A clock behind the last one counts as no time: staying put is possible, moving is not.
    expect(isImpossibleTravel(london, { ...LONDON, atMs: T0 - HOUR })).toBe(false);
    expect(isImpossibleTravel(london, { ...PARIS, atMs: T0 - HOUR })).toBe(true);
  });
});

/** A subject with `counts[i]` requests in the i-th window before T0's, each of `read` on `Doc`. */
function history(counts: number[], settings: ActivitySettings = DEFAULT_ACTIVITY_SETTINGS): SubjectActivity {
  const current = windowIndexOf(T0, settings.rate_window_sec);
  return {
    subject: 'User::"alice"',
    lastSeenMs: T0 - 1000,
    location: { ...LONDON, atMs: T0 - HOUR },
    windowSec: settings.rate_window_sec,
    windows: counts.map((count, i) => [current - counts.length + i, count] as [number, number]).filter(([, count]) => count > 0),
    actions: [['read', T0 - 1000]],
    resourceTypes: [['Doc', T0 - 1000]],
  };
}

const READ = { nowMs: T0, location: null, action: 'read', resourceType: 'Doc' };

describe('anomaly score', () => {
  it('has nothing for a subject never seen or without enough active windows', () => {
    expect(activitySignal(null, READ, DEFAULT_ACTIVITY_SETTINGS)).toEqual({ anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    // Two active windows (idle ones do not count): not enough for the default three, so even a first use adds nothing.
    expect(activitySignal(history([4, 0, 0, 4]), { ...READ, action: 'delete' }, DEFAULT_ACTIVITY_SETTINGS).anomalyScore).toBe(0);
    expect(activitySignal(history([4, 0, 4, 4]), { ...READ, action: 'delete' }, DEFAULT_ACTIVITY_SETTINGS).anomalyScore).toBe(0.6);
  });

  it('scores the current window against the mean of the active ones: ln(ratio) / ln(burst_ratio), capped at 1', () => {
    const state = history([2, 0, 4, 6]); // mean of the active windows: 4
    const withCurrent = (count: number): SubjectActivity => (count === 0 ? state : { ...state, windows: [...state.windows, [windowIndexOf(T0, 60), count]] });
    expect(activitySignal(withCurrent(0), READ, DEFAULT_ACTIVITY_SETTINGS).rateScore).toBe(0); // 1 / 4
    expect(activitySignal(withCurrent(3), READ, DEFAULT_ACTIVITY_SETTINGS).rateScore).toBe(0); // 4 / 4
    expect(activitySignal(withCurrent(7), READ, DEFAULT_ACTIVITY_SETTINGS).rateScore).toBeCloseTo(Math.log(2) / Math.log(10), 12); // 8 / 4
    const high = activitySignal(withCurrent(39), READ, DEFAULT_ACTIVITY_SETTINGS); // 40 / 4 = burst_ratio
    expect(high).toEqual({ anomalyScore: 1, rateScore: 1, firstUseScore: 0 });
    expect(activitySignal(withCurrent(399), READ, DEFAULT_ACTIVITY_SETTINGS).rateScore).toBe(1);
    // Moderate (0.5 < s ≤ 0.8) from ratio √10 ≈ 3.16 up to 10^0.8 ≈ 6.31: 16 / 4 = 4 → 0.6021.
    expect(activitySignal(withCurrent(15), READ, DEFAULT_ACTIVITY_SETTINGS).anomalyScore).toBe(0.6021);
  });

  it('counts only the baseline windows: older ones are out of it', () => {
    const settings = parseActivitySettings({ baseline_windows: 3 });
    // Windows −6..−4 had 100 each (out of the baseline), −3..−1 had 1: a current 10 is the burst ratio.
    const state = history([100, 100, 100, 1, 1, 1], settings);
    const current = windowIndexOf(T0, 60);
    expect(activitySignal({ ...state, windows: [...state.windows, [current, 9]] }, READ, settings).rateScore).toBe(1);
  });

  it('scores a first use of an action or a resource type, the larger part winning', () => {
    const state = history([4, 4, 4]);
    expect(activitySignal(state, READ, DEFAULT_ACTIVITY_SETTINGS).anomalyScore).toBe(0);
    expect(activitySignal(state, { ...READ, action: 'delete' }, DEFAULT_ACTIVITY_SETTINGS)).toEqual({ anomalyScore: 0.6, rateScore: 0, firstUseScore: 0.6 });
    expect(activitySignal(state, { ...READ, resourceType: 'Payroll' }, DEFAULT_ACTIVITY_SETTINGS).firstUseScore).toBe(0.6);
    expect(activitySignal(state, { ...READ, resourceType: 'Payroll' }, parseActivitySettings({ first_use_score: 0.9 })).anomalyScore).toBe(0.9);
    const burst = { ...state, windows: [...state.windows, [windowIndexOf(T0, 60), 39]] as Array<[number, number]> };
    expect(activitySignal(burst, { ...READ, action: 'delete' }, DEFAULT_ACTIVITY_SETTINGS).anomalyScore).toBe(1);
  });

  it('forgets what is older than the retention window', () => {
    const settings = parseActivitySettings({ retention_days: 2 });
    const state = history([4, 4, 4], settings);
    const later = { ...READ, nowMs: T0 + 2 * 86_400_000 + 1000 };
    const located = { ...later, location: SYDNEY };
    expect(activitySignal(state, located, settings)).toEqual({ impossibleTravel: false, anomalyScore: 0, rateScore: 0, firstUseScore: 0 });
    // Within the window, the London location makes Sydney an hour later impossible.
    expect(activitySignal(state, { ...READ, location: SYDNEY }, settings).impossibleTravel).toBe(true);
  });

  it('does not measure travel for a request without a valid location, nor keeps one', () => {
    expect(activitySignal(history([1, 1, 1]), READ, DEFAULT_ACTIVITY_SETTINGS)).not.toHaveProperty('impossibleTravel');
    const bad = { lat: 200, lon: 0 };
    expect(activitySignal(history([1, 1, 1]), { ...READ, location: bad }, DEFAULT_ACTIVITY_SETTINGS)).not.toHaveProperty('impossibleTravel');
    expect(requestActivity({ subject: 's', nowMs: T0, location: bad, action: 'read', resourceType: 'Doc' }, 60).location).toBeNull();
  });
});

describe('activity merge', () => {
  const bounds = { windowFloor: 0, seenSinceMs: 0 };

  it('sums window counts, keeps the latest location and use, and is the same either way round', () => {
    const a = requestActivity({ subject: 's', nowMs: 60_000, location: LONDON, action: 'read', resourceType: 'Doc' }, 60);
    const b = requestActivity({ subject: 's', nowMs: 90_000, location: PARIS, action: 'write', resourceType: 'Doc' }, 60);
    const merged = mergeActivity(a, b, bounds);
    expect(merged).toEqual({
      subject: 's',
      lastSeenMs: 90_000,
      location: { ...PARIS, atMs: 90_000 },
      windowSec: 60,
      windows: [[1, 2]],
      actions: [['read', 60_000], ['write', 90_000]],
      resourceTypes: [['Doc', 90_000]],
    });
    expect(mergeActivity(b, a, bounds)).toEqual(merged);
  });

  it('drops windows below the floor, names past the retention, counts of another window length, and caps the names', () => {
    const old = requestActivity({ subject: 's', nowMs: 1000, location: null, action: 'old', resourceType: 'Doc' }, 1);
    const now = requestActivity({ subject: 's', nowMs: 10_000, location: null, action: 'new', resourceType: 'Doc' }, 1);
    expect(mergeActivity(old, now, { windowFloor: 5, seenSinceMs: 5000 })).toMatchObject({ windows: [[10, 1]], actions: [['new', 10_000]] });
    expect(mergeActivity(old, { ...now, windowSec: 60, windows: [[0, 1]] }, bounds).windows).toEqual([[0, 1]]);
    let many: SubjectActivity | null = null;
    for (let i = 0; i < MAX_SEEN_PER_SUBJECT + 10; i++) many = mergeActivity(many, requestActivity({ subject: 's', nowMs: 1000 + i, location: null, action: `a${String(i).padStart(3, '0')}`, resourceType: 'Doc' }, 60), bounds);
    expect(many?.actions).toHaveLength(MAX_SEEN_PER_SUBJECT);
    expect(many?.actions[0]).toEqual(['a010', 1010]);
  });
});

describe('settings.risk.activity', () => {
  it('completes the defaults and refuses bad values', () => {
    expect(parseActivitySettings({})).toEqual(DEFAULT_ACTIVITY_SETTINGS);
    expect(parseActivitySettings({ max_travel_kmh: 1000, retention_days: 7 })).toMatchObject({ max_travel_kmh: 1000, retention_days: 7, travel_buffer: 1.2 });
    for (const bad of [null, [], { retention_days: 0 }, { retention_days: 3651 }, { retention_days: 1.5 }, { max_travel_kmh: '900' }, { first_use_score: 1.1 }, { burst_ratio: 1 }, { min_history_windows: 5, baseline_windows: 4 }, { extra: 1 }]) {
      expect(() => parseActivitySettings(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ERR_TENANT_INVALID' }));
    }
  });
});
