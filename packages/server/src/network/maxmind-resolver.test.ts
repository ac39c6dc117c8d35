import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIpAddress, type IpAddress } from '@verity/core';
import { locationOfRecord, openMaxmindResolver } from './maxmind-resolver.js';
import { buildTestMmdb } from './test-helpers.js';

const ip = (text: string): IpAddress => {
  const parsed = parseIpAddress(text);
  if (parsed === null) throw new Error(text);
  return parsed;
};

let dir: string;
let path: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-mmdb-'));
  path = join(dir, 'test-city.mmdb');
  await buildTestMmdb(path, [
    { cidr: '198.51.100.0/24', record: { location: { latitude: 52.52, longitude: 13.405 }, country: { iso_code: 'DE' }, city: { names: { en: 'Berlin' } } } },
    { cidr: '203.0.113.0/25', record: { location: { latitude: 1.29, longitude: 103.85 }, country: { iso_code: 'SG' }, is_anonymous_vpn: true } },
    { cidr: '2001:db8:1::/48', record: { location: { latitude: -33.87, longitude: 151.21 }, country: { iso_code: 'AU' }, city: { names: { en: 'Sydney' } } } },
    { cidr: '192.0.2.0/24', record: { country: { iso_code: 'US' } } },
  ]);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openMaxmindResolver (a database built by MaxMind::DB::Writer)', () => {
  it('locates IPv4, IPv4-mapped and IPv6 addresses with country, city and VPN', () => {
    const resolver = openMaxmindResolver(path);
    expect(resolver.databaseType).toBe('Verity-Test-City');
    expect(resolver.locate(ip('198.51.100.42'))).toEqual({ lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' });
    expect(resolver.locate(ip('::ffff:198.51.100.42'))).toEqual({ lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' });
    expect(resolver.locate(ip('203.0.113.5'))).toEqual({ lat: 1.29, lon: 103.85, country: 'SG', vpn: true });
    expect(resolver.locate(ip('2001:db8:1::9'))).toEqual({ lat: -33.87, lon: 151.21, country: 'AU', city: 'Sydney' });
  });

  it('answers null for an address it does not hold, or holds without coordinates', () => {
    const resolver = openMaxmindResolver(path);
    expect(resolver.locate(ip('203.0.113.200'))).toBeNull();
    expect(resolver.locate(ip('2001:db8:2::1'))).toBeNull();
    expect(resolver.locate(ip('192.0.2.1'))).toBeNull();
  });

  it('refuses a file that is not a MaxMind database, naming the path', async () => {
    const bogus = join(dir, 'not.mmdb');
    await writeFile(bogus, 'not a database');
    expect(() => openMaxmindResolver(bogus)).toThrow(TypeError);
    expect(() => openMaxmindResolver(bogus)).toThrow(/not\.mmdb is not a readable MaxMind database/);
    expect(() => openMaxmindResolver(join(dir, 'missing.mmdb'))).toThrow(/missing\.mmdb/);
  });
});

describe('locationOfRecord', () => {
  it('reads the anonymous-IP flag under traits too, and drops malformed parts', () => {
    expect(locationOfRecord({ location: { latitude: 10, longitude: 20 }, traits: { is_anonymous_vpn: true } })).toEqual({ lat: 10, lon: 20, vpn: true });
    expect(locationOfRecord({ location: { latitude: 10, longitude: 20 }, country: { iso_code: 'xx' }, city: { names: { en: '' } } })).toEqual({ lat: 10, lon: 20 });
    expect(locationOfRecord({ location: { latitude: 95, longitude: 20 } })).toBeNull();
  });
});
