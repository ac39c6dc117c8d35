/**
 * IP reputation: imported threat-intelligence lists (CIDR ranges by source, with an optional
 * expiry) held for matching. One home for the PDP's in-memory lists and a PEP's bundle, so both
 * find the same source for the same address.
 */
import { createCidrMatcher, parseCidr, type CidrMatcher, type CidrRange, type IpAddress } from './cidr.js';

/** One list ready to match: from `expiresAtMs` (epoch ms; null: never) on it is ignored. */
export interface HeldThreatList {
  source: string;
  expiresAtMs: number | null;
  matcher: CidrMatcher<true>;
}

/** An address found on the lists: the first source (by name) and the earliest expiry of the lists holding it. */
export interface ThreatMatch {
  source: string;
  expiresAtMs?: number;
}

/** Hold one list's ranges for matching. */
export function holdThreatList(source: string, ranges: Iterable<CidrRange>, expiresAtMs: number | null): HeldThreatList {
  return { source, expiresAtMs, matcher: createCidrMatcher([...ranges].map((range) => [range, true] as const)) };
}

/**
 * Hold stored lists (entries in canonical CIDR text), sorted by source. An entry that no longer
 * parses is skipped, not fatal: it was checked when imported.
 */
export function holdThreatLists(lists: Iterable<{ source: string; entries: readonly string[]; expiresAtMs: number | null }>): HeldThreatList[] {
  return [...lists]
    .map((list) => holdThreatList(list.source, list.entries.flatMap((entry) => parseCidr(entry) ?? []), list.expiresAtMs))
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

/** The unexpired lists (in the order given) holding `address` at `nowMs`, or null. */
export function matchThreatLists(lists: Iterable<HeldThreatList>, address: IpAddress, nowMs: number): ThreatMatch | null {
  let found: ThreatMatch | null = null;
  for (const list of lists) {
    if (list.expiresAtMs !== null && list.expiresAtMs <= nowMs) continue;
    if (list.matcher.match(address) === undefined) continue;
    found ??= { source: list.source };
    if (list.expiresAtMs !== null && (found.expiresAtMs === undefined || list.expiresAtMs < found.expiresAtMs)) found.expiresAtMs = list.expiresAtMs;
  }
  return found;
}
