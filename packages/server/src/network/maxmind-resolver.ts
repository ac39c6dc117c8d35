/**
 * The location signal from a MaxMind database the operator supplies (`--geoip-db`,
 * VERITY_GEOIP_DB): GeoLite2/GeoIP2 City format, read with the `maxmind` library (mmdb-lib). The
 * file is read once at start and looked up in memory; Verity ships no database.
 */
import { readFileSync } from 'node:fs';
import { formatIpAddress, type GeoLocation, type LocationResolver } from '@verity/core';
import { Reader, type Response } from 'maxmind';

/**
 * The parts of a City record (and of an anonymous-IP record, `is_anonymous_vpn`, at the top level
 * or under `traits` as GeoIP2 Insights has it) that make a location.
 */
interface CityRecord {
  location?: { latitude?: unknown; longitude?: unknown };
  country?: { iso_code?: unknown };
  city?: { names?: Record<string, unknown> };
  is_anonymous_vpn?: unknown;
  traits?: { is_anonymous_vpn?: unknown };
}

const inRange = (value: unknown, limit: number): value is number => typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= limit;

/** A record's location; null without coordinates (a Country database says too little for travel). */
export function locationOfRecord(record: CityRecord): GeoLocation | null {
  const lat = record.location?.latitude;
  const lon = record.location?.longitude;
  if (!inRange(lat, 90) || !inRange(lon, 180)) return null;
  const location: GeoLocation = { lat, lon };
  const country = record.country?.iso_code;
  if (typeof country === 'string' && /^[A-Z]{2}$/.test(country)) location.country = country;
  const city = record.city?.names?.['en'];
  if (typeof city === 'string' && city !== '') location.city = city.slice(0, 100);
  const vpn = record.is_anonymous_vpn ?? record.traits?.is_anonymous_vpn;
  if (typeof vpn === 'boolean') location.vpn = vpn;
  return location;
}

/**
 * A resolver over the MaxMind database at `path` (read whole, now). Throws a TypeError naming
 * the path when it cannot be read or is not a MaxMind DB (a start-up error: the operator asked
 * for it). An address the database does not hold, or holds without coordinates, locates to null.
 */
export function openMaxmindResolver(path: string): LocationResolver & { databaseType: string } {
  let reader: Reader<CityRecord & Response>;
  try {
    reader = new Reader(readFileSync(path));
  } catch (error) {
    throw new TypeError(`geoipDb: ${path} is not a readable MaxMind database (${(error as Error).message})`);
  }
  return {
    databaseType: reader.metadata.databaseType,
    locate(address) {
      const record = reader.get(formatIpAddress(address));
      return record === null ? null : locationOfRecord(record);
    },
  };
}
