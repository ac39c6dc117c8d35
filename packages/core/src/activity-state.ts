/**
 * What the PDP remembers of one subject's requests (issue 12, per-subject signals): its last
 * location and time, its request counts per rate window, and the actions and resource types it
 * used. One shape serves the stored row, the replica's view and a single request's delta, and one
 * merge (commutative up to ties) combines them, so replicas can each add their own requests.
 */
import type { GeoPoint } from './risk.js';

/** The most actions, and the most resource types, remembered per subject (the most recently used stay). */
export const MAX_SEEN_PER_SUBJECT = 256;

/** Longer action and resource-type names are cut to this many characters before they are remembered. */
export const MAX_SEEN_NAME_LENGTH = 256;

/** One subject's activity. Times are ms since the epoch; pairs keep names out of object keys (`__proto__`). */
export interface SubjectActivity {
  /** The subject: the decision's principal as Cedar uid text (`User::"alice"`). */
  subject: string;
  /** Its latest request. */
  lastSeenMs: number;
  /** Where its latest located request came from, and when; null when none was located. */
  location: (GeoPoint & { atMs: number }) | null;
  /** The rate window length the counts are in (seconds); counts in another length are dropped on merge. */
  windowSec: number;
  /** Requests per rate window: `[window index, count]`, the index `floor(ms / (windowSec × 1000))`, ascending. */
  windows: Array<[number, number]>;
  /** Actions used: `[name, last used ms]`, by name. */
  actions: Array<[string, number]>;
  /** Resource types used: `[type, last used ms]`, by name. */
  resourceTypes: Array<[string, number]>;
}

/** What a merge keeps: windows from `windowFloor` on, names used at `seenSinceMs` or later. */
export interface ActivityBounds {
  windowFloor: number;
  seenSinceMs: number;
}

/** Whether `point` is a finite latitude in [−90, 90] and longitude in [−180, 180]. */
export function isGeoPoint(point: unknown): point is GeoPoint {
  if (typeof point !== 'object' || point === null) return false;
  const { lat, lon } = point as Record<string, unknown>;
  return typeof lat === 'number' && typeof lon === 'number' && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
}

/**
 * The delta of one request (a location that is not a valid point is not kept): seen now, once
 * in its rate window of `windowSec` seconds, its action and resource type used now.
 */
export function requestActivity(input: { subject: string; nowMs: number; location: GeoPoint | null; action: string; resourceType: string }, windowSec: number): SubjectActivity {
  const { subject, nowMs } = input;
  return {
    subject,
    lastSeenMs: nowMs,
    location: isGeoPoint(input.location) ? { lat: input.location.lat, lon: input.location.lon, atMs: nowMs } : null,
    windowSec,
    windows: [[windowIndexOf(nowMs, windowSec), 1]],
    actions: [[input.action.slice(0, MAX_SEEN_NAME_LENGTH), nowMs]],
    resourceTypes: [[input.resourceType.slice(0, MAX_SEEN_NAME_LENGTH), nowMs]],
  };
}

/** The rate window `ms` falls in. */
export function windowIndexOf(ms: number, windowSec: number): number {
  return Math.floor(ms / (windowSec * 1000));
}

/**
 * `a` and `b` combined: the later last-seen time and location, window counts summed (only those in
 * `b`'s window length when the lengths differ: `b` is the newer), names unioned with their latest
 * use. Then bounded: windows before `bounds.windowFloor` and names last used before
 * `bounds.seenSinceMs` are dropped, and at most {@link MAX_SEEN_PER_SUBJECT} names of each kind
 * stay (the most recently used; ties by name). `a` null: `b` bounded. Neither is changed.
 */
export function mergeActivity(a: SubjectActivity | null, b: SubjectActivity, bounds: ActivityBounds): SubjectActivity {
  const base = a !== null && a.windowSec === b.windowSec ? a : null;
  const windows = new Map<number, number>();
  for (const [index, count] of [...(base?.windows ?? []), ...b.windows]) {
    if (index >= bounds.windowFloor) windows.set(index, (windows.get(index) ?? 0) + count);
  }
  let location = a?.location ?? null;
  if (b.location !== null && (location === null || b.location.atMs >= location.atMs)) location = { ...b.location };
  return {
    subject: b.subject,
    lastSeenMs: Math.max(a?.lastSeenMs ?? -Infinity, b.lastSeenMs),
    location: location === null ? null : { ...location },
    windowSec: b.windowSec,
    windows: [...windows].sort((x, y) => x[0] - y[0]),
    actions: mergeSeen(a?.actions ?? [], b.actions, bounds.seenSinceMs),
    resourceTypes: mergeSeen(a?.resourceTypes ?? [], b.resourceTypes, bounds.seenSinceMs),
  };
}

function mergeSeen(a: ReadonlyArray<[string, number]>, b: ReadonlyArray<[string, number]>, sinceMs: number): Array<[string, number]> {
  const latest = new Map<string, number>();
  for (const [name, atMs] of [...a, ...b]) if (atMs >= sinceMs) latest.set(name, Math.max(latest.get(name) ?? -Infinity, atMs));
  const kept = [...latest].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).slice(0, MAX_SEEN_PER_SUBJECT);
  return kept.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}
