/**
 * Per-subject signals of the risk engine (issue 12): impossible travel from the subject's last
 * location, and the behavioural anomaly score (request rate against the subject's own baseline,
 * first use of an action or resource type). Pure: the subject's remembered activity
 * ({@link SubjectActivity}) is kept elsewhere; this weighs one request against it.
 */
import { VerityError } from './errors.js';
import { isPlainObject } from './wire-format.js';
import { isGeoPoint, MAX_SEEN_NAME_LENGTH, windowIndexOf, type ActivityBounds, type SubjectActivity } from './activity-state.js';
import type { GeoPoint } from './risk.js';

/** `settings.risk.activity`: the per-subject signals' configuration (absent: they are not measured). */
export interface ActivitySettings {
  /** The fastest plausible travel, km/h (the seed: 900, an airliner). */
  max_travel_kmh: number;
  /** Slack on that speed (the seed: 1.2, 20 %). */
  travel_buffer: number;
  /** Per-subject data is kept this many days after the subject's last request (default 30). */
  retention_days: number;
  /** The rate window, seconds (default 60: requests per minute). */
  rate_window_sec: number;
  /** The baseline: the subject's active windows among this many before the current one (default 60). */
  baseline_windows: number;
  /** Fewer active windows than this in the baseline: no anomaly at all (not enough history; default 3). */
  min_history_windows: number;
  /** The rate over its baseline at which the rate score reaches 1 (default 10). */
  burst_ratio: number;
  /** The anomaly score of a first use (default 0.6: above the moderate bound 0.5, below high 0.8). */
  first_use_score: number;
}

/** The defaults; the travel ones are the seed's `_detect_impossible_travel`. */
export const DEFAULT_ACTIVITY_SETTINGS: ActivitySettings = Object.freeze({
  max_travel_kmh: 900,
  travel_buffer: 1.2,
  retention_days: 30,
  rate_window_sec: 60,
  baseline_windows: 60,
  min_history_windows: 3,
  burst_ratio: 10,
  first_use_score: 0.6,
});

/** Each setting's bounds, and whether it must be a whole number. */
const LIMITS: Record<keyof ActivitySettings, { min: number; max: number; whole: boolean }> = {
  max_travel_kmh: { min: 1, max: 100_000, whole: false },
  travel_buffer: { min: 1, max: 10, whole: false },
  retention_days: { min: 1, max: 3650, whole: true },
  rate_window_sec: { min: 1, max: 3600, whole: true },
  baseline_windows: { min: 1, max: 1440, whole: true },
  min_history_windows: { min: 1, max: 1440, whole: true },
  burst_ratio: { min: 1.5, max: 1000, whole: false },
  first_use_score: { min: 0, max: 1, whole: false },
};

const invalid = (message: string) => new VerityError('ERR_TENANT_INVALID', `settings.risk.activity ${message}`);

/**
 * `settings.risk.activity`: a partial {@link ActivitySettings} over {@link DEFAULT_ACTIVITY_SETTINGS}
 * (`{}` takes every default). Bounds: max_travel_kmh 1–100000, travel_buffer 1–10,
 * retention_days 1–3650, rate_window_sec 1–3600, baseline_windows 1–1440, min_history_windows
 * 1–baseline_windows, burst_ratio 1.5–1000, first_use_score 0–1; days, seconds and windows whole.
 * Unknown keys are refused. Throws ERR_TENANT_INVALID.
 */
export function parseActivitySettings(value: unknown): ActivitySettings {
  if (!isPlainObject(value)) throw invalid('must be an object');
  const settings: ActivitySettings = { ...DEFAULT_ACTIVITY_SETTINGS };
  for (const [key, given] of Object.entries(value)) {
    if (!Object.hasOwn(LIMITS, key)) throw invalid(`has an unknown key: ${key.slice(0, 40)}`);
    const { min, max, whole } = LIMITS[key as keyof ActivitySettings];
    if (typeof given !== 'number' || !Number.isFinite(given) || given < min || given > max || (whole && !Number.isInteger(given))) {
      throw invalid(`.${key} must be a ${whole ? 'whole number' : 'number'} from ${min} to ${max}`);
    }
    settings[key as keyof ActivitySettings] = given;
  }
  if (settings.min_history_windows > settings.baseline_windows) throw invalid('.min_history_windows must not exceed baseline_windows');
  return settings;
}

/** The mean earth radius the seed's haversine uses (km). */
const EARTH_RADIUS_KM = 6371;

/** The great-circle distance between two points, km (haversine on a sphere of radius 6371 km). */
export function haversineKm(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * The seed's `_detect_impossible_travel`: no last location → false; else impossible when the
 * distance exceeds `hours since the last × maxSpeedKmh × buffer` (strictly). A current time
 * before the last counts as no time passed (any distance above 0 is impossible).
 */
export function isImpossibleTravel(last: (GeoPoint & { atMs: number }) | null, current: GeoPoint & { atMs: number }, limits: { maxSpeedKmh?: number; buffer?: number } = {}): boolean {
  if (last === null) return false;
  const hours = Math.max(0, current.atMs - last.atMs) / 3_600_000;
  const { maxSpeedKmh = DEFAULT_ACTIVITY_SETTINGS.max_travel_kmh, buffer = DEFAULT_ACTIVITY_SETTINGS.travel_buffer } = limits;
  return haversineKm(last, current) > hours * maxSpeedKmh * buffer;
}

/** One request as the per-subject signals see it. */
export interface ActivityRequest {
  nowMs: number;
  /** Where it comes from; null (or not a valid point): not located (travel is not measured). */
  location: GeoPoint | null;
  action: string;
  resourceType: string;
}

/** The per-subject signals of one request, and the parts of the anomaly score (for tests and logs). */
export interface ActivitySignal {
  /** Absent when the request was not located. */
  impossibleTravel?: boolean;
  anomalyScore: number;
  /** The rate part: 0 without enough history. */
  rateScore: number;
  /** The first-use part: `first_use_score` or 0. */
  firstUseScore: number;
}

/** What a merge under `settings` keeps at `nowMs`: the baseline's windows, names within the retention. */
export function activityBounds(settings: ActivitySettings, nowMs: number): ActivityBounds {
  return { windowFloor: windowIndexOf(nowMs, settings.rate_window_sec) - settings.baseline_windows, seenSinceMs: nowMs - settings.retention_days * 86_400_000 };
}

/**
 * The request's signals against the subject's activity before it (`state`; null: never seen, or
 * not within the retention window, which counts as never seen).
 *
 * - Travel: {@link isImpossibleTravel} from the last location.
 * - Rate: `current` = the subject's requests in the current window, this one included; the
 *   baseline `mean` = the average count over its active windows (at least one request) among the
 *   `baseline_windows` before the current one. With fewer than `min_history_windows` active
 *   windows there is no rate score (and no first use). Else `ratio = current / mean` and
 *   `rateScore = ratio ≤ 1 ? 0 : min(1, ln(ratio) / ln(burst_ratio))`.
 * - First use: an action or a resource type not used within the retention window: `first_use_score`.
 * - `anomalyScore = max(rateScore, firstUseScore)`, rounded to 4 decimals.
 */
export function activitySignal(state: SubjectActivity | null, request: ActivityRequest, settings: ActivitySettings): ActivitySignal {
  const retainedSince = request.nowMs - settings.retention_days * 86_400_000;
  const known = state !== null && state.lastSeenMs >= retainedSince ? state : null;
  const signal: ActivitySignal = { anomalyScore: 0, rateScore: 0, firstUseScore: 0 };
  if (isGeoPoint(request.location)) {
    const last = known?.location ?? null;
    signal.impossibleTravel = isImpossibleTravel(last !== null && last.atMs >= retainedSince ? last : null, { lat: request.location.lat, lon: request.location.lon, atMs: request.nowMs }, { maxSpeedKmh: settings.max_travel_kmh, buffer: settings.travel_buffer });
  }
  if (known === null || known.windowSec !== settings.rate_window_sec) return signal;
  const currentWindow = windowIndexOf(request.nowMs, settings.rate_window_sec);
  const history = known.windows.filter(([index, count]) => index < currentWindow && index >= currentWindow - settings.baseline_windows && count > 0);
  if (history.length < settings.min_history_windows) return signal;
  const mean = history.reduce((sum, [, count]) => sum + count, 0) / history.length;
  const current = (known.windows.find(([index]) => index === currentWindow)?.[1] ?? 0) + 1;
  const ratio = current / mean;
  signal.rateScore = ratio <= 1 ? 0 : Math.min(1, Math.log(ratio) / Math.log(settings.burst_ratio));
  const used = (seen: ReadonlyArray<[string, number]>, name: string) => seen.some(([seenName, atMs]) => seenName === name && atMs >= retainedSince);
  if (!used(known.actions, request.action.slice(0, MAX_SEEN_NAME_LENGTH)) || !used(known.resourceTypes, request.resourceType.slice(0, MAX_SEEN_NAME_LENGTH))) signal.firstUseScore = settings.first_use_score;
  signal.anomalyScore = Math.round(Math.max(signal.rateScore, signal.firstUseScore) * 10_000) / 10_000;
  return signal;
}
