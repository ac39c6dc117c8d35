import { describe, expect, it } from 'vitest';
import { parseIpAddress } from './cidr.js';
import { VerityError } from './errors.js';
import { locationTableResolver, MAX_LOCATION_ENTRIES, parseLocationTable } from './location-table.js';

const TABLE = [
  { cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' },
  { cidr: '198.51.100.128/25', lat: 48.8566, lon: 2.3522, country: 'FR' },
  { cidr: '2001:db8:5::/48', lat: 35.68, lon: 139.69, country: 'JP', vpn: true },
];

const locate = (table: unknown, text: string) => {
  const address = parseIpAddress(text);
  if (address === null) throw new Error(text);
  return locationTableResolver(parseLocationTable(table)).locate(address);
};

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof VerityError ? `${error.code}: ${error.message}` : 'not a VerityError';
  }
  return undefined;
}

describe('parseLocationTable', () => {
  it('keeps valid rows as given', () => {
    expect(parseLocationTable(TABLE)).toEqual(TABLE);
    expect(parseLocationTable([])).toEqual([]);
  });

  it('refuses bad rows with ERR_TENANT_INVALID naming the row', () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'must be an array'],
      [[{ cidr: '198.51.100.0/33', lat: 0, lon: 0 }], '[0].cidr'],
      [[TABLE[0], { cidr: '192.0.2.0/24', lat: 91, lon: 0 }], '[1].lat'],
      [[TABLE[0], { ...TABLE[0], country: 'KP' }], '[1].cidr is the range of [0] already'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: -180.5 }], '[0].lon'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: Number.NaN }], '[0].lon'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: 0, country: 'de' }], '[0].country'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: 0, city: '' }], '[0].city'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: 0, vpn: 'yes' }], '[0].vpn'],
      [[{ cidr: '198.51.100.0/24', lat: 0, lon: 0, asn: 1 }], 'unknown key: asn'],
      [['198.51.100.0/24'], '[0] must be an object'],
      [Array.from({ length: MAX_LOCATION_ENTRIES + 1 }, () => TABLE[0]), 'at most 10000'],
    ];
    for (const [value, part] of cases) {
      const got = codeOf(() => parseLocationTable(value));
      expect(got).toMatch(/^ERR_TENANT_INVALID: settings\.risk\.locations/);
      expect(got).toContain(part);
    }
  });
});

describe('locationTableResolver', () => {
  it('locates by the longest range, IPv4 and IPv6', () => {
    expect(locate(TABLE, '198.51.100.7')).toEqual({ lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' });
    expect(locate(TABLE, '198.51.100.200')).toEqual({ lat: 48.8566, lon: 2.3522, country: 'FR' });
    expect(locate(TABLE, '2001:db8:5::77')).toEqual({ lat: 35.68, lon: 139.69, country: 'JP', vpn: true });
  });

  it('answers null for an address the table does not hold', () => {
    expect(locate(TABLE, '203.0.113.1')).toBeNull();
    expect(locate([], '198.51.100.7')).toBeNull();
  });
});
