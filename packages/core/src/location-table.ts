/**
 * The tenant's location table (`settings.risk.locations`): CIDR ranges with where they are, the
 * built-in IP → location resolver for tests and small deployments (docs/continuous-verification.md,
 * "Location"). Checked once when the settings are written; matched in memory per decision.
 */
import { createCidrMatcher, formatCidr, parseCidr, type CidrMatcher, type IpAddress } from './cidr.js';
import { VerityError } from './errors.js';
import type { GeoLocation } from './risk.js';
import { isPlainObject } from './wire-format.js';

/** One row of `settings.risk.locations`, as stored (the CIDR as given). */
export interface LocationEntry {
  cidr: string;
  /** Latitude in degrees, −90 to 90. */
  lat: number;
  /** Longitude in degrees, −180 to 180. */
  lon: number;
  /** ISO 3166-1 alpha-2 country code, upper case. */
  country?: string;
  city?: string;
  /** The range is a VPN or anonymising service's exit. */
  vpn?: boolean;
}

/** Where an address is: the resolver port of the location signal (tenant table, MaxMind DB, …). */
export interface LocationResolver {
  /** The location of `address`, or null when the resolver does not know it. Never throws for an unknown address. */
  locate(address: IpAddress): GeoLocation | null;
}

/** The most rows a tenant's table may hold (a bigger one belongs in a MaxMind database). */
export const MAX_LOCATION_ENTRIES = 10_000;

const KEYS = new Set(['cidr', 'lat', 'lon', 'country', 'city', 'vpn']);
const invalid = (message: string) => new VerityError('ERR_TENANT_INVALID', `settings.risk.locations${message}`);

function coordinate(value: unknown, where: string, limit: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < -limit || value > limit) throw invalid(`${where} must be a number from ${-limit} to ${limit}`);
  return value;
}

/**
 * `settings.risk.locations`: an array of at most {@link MAX_LOCATION_ENTRIES}
 * `{cidr, lat, lon, country?, city?, vpn?}`: `cidr` an IPv4/IPv6 range or address, `lat`/`lon`
 * degrees, `country` two upper-case letters (ISO 3166-1 alpha-2), `city` 1–100 characters, `vpn`
 * true or false; each range in one row only (two rows for one range would leave one unused).
 * Unknown keys are refused. Throws ERR_TENANT_INVALID.
 */
export function parseLocationTable(value: unknown): LocationEntry[] {
  if (!Array.isArray(value)) throw invalid(' must be an array');
  if (value.length > MAX_LOCATION_ENTRIES) throw invalid(` may hold at most ${MAX_LOCATION_ENTRIES} entries`);
  /** Each range once (canonical text): two rows for one range would leave one of them unused. */
  const seen = new Map<string, number>();
  return value.map((row: unknown, index) => {
    const where = `[${index}]`;
    if (!isPlainObject(row)) throw invalid(`${where} must be an object`);
    const unknown = Object.keys(row).find((key) => !KEYS.has(key));
    if (unknown !== undefined) throw invalid(`${where} has an unknown key: ${unknown.slice(0, 40)}`);
    const { cidr, country, city, vpn } = row;
    const range = typeof cidr === 'string' ? parseCidr(cidr) : null;
    if (typeof cidr !== 'string' || range === null) throw invalid(`${where}.cidr must be an IPv4 or IPv6 range such as 203.0.113.0/24`);
    const earlier = seen.get(formatCidr(range));
    if (earlier !== undefined) throw invalid(`${where}.cidr is the range of [${earlier}] already: one row per range`);
    seen.set(formatCidr(range), index);
    const entry: LocationEntry = { cidr, lat: coordinate(row.lat, `${where}.lat`, 90), lon: coordinate(row.lon, `${where}.lon`, 180) };
    if (country !== undefined) {
      if (typeof country !== 'string' || !/^[A-Z]{2}$/.test(country)) throw invalid(`${where}.country must be an ISO 3166-1 alpha-2 code such as DE`);
      entry.country = country;
    }
    if (city !== undefined) {
      if (typeof city !== 'string' || city === '' || city.length > 100) throw invalid(`${where}.city must be a name of 1 to 100 characters`);
      entry.city = city;
    }
    if (vpn !== undefined) {
      if (typeof vpn !== 'boolean') throw invalid(`${where}.vpn must be true or false`);
      entry.vpn = vpn;
    }
    return entry;
  });
}

/** A table's location of an entry: the coordinates, and what else it says. */
function locationOf(entry: LocationEntry): GeoLocation {
  return {
    lat: entry.lat,
    lon: entry.lon,
    ...(entry.country === undefined ? {} : { country: entry.country }),
    ...(entry.city === undefined ? {} : { city: entry.city }),
    ...(entry.vpn === undefined ? {} : { vpn: entry.vpn }),
  };
}

/** Matchers built once per parsed table (settings are replaced, never mutated). */
const matchers = new WeakMap<readonly LocationEntry[], CidrMatcher<GeoLocation>>();

/**
 * The resolver of a parsed table: the longest range holding the address wins (so a /32 inside a
 * /16 overrides it); of equal ranges, the first row.
 */
export function locationTableResolver(table: readonly LocationEntry[]): LocationResolver {
  let matcher = matchers.get(table);
  if (matcher === undefined) {
    // parseLocationTable checked every cidr: none is null here.
    matcher = createCidrMatcher(table.flatMap((entry) => {
      const range = parseCidr(entry.cidr);
      return range === null ? [] : [[range, locationOf(entry)] as const];
    }));
    matchers.set(table, matcher);
  }
  const found = matcher;
  return { locate: (address) => found.match(address) ?? null };
}
