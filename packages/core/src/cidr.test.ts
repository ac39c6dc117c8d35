import { describe, expect, it } from 'vitest';
import { createCidrMatcher, formatCidr, parseCidr, parseIpAddress, type IpAddress } from './cidr.js';

const ip = (text: string): IpAddress => {
  const parsed = parseIpAddress(text);
  if (parsed === null) throw new Error(`not an address: ${text}`);
  return parsed;
};
const range = (text: string) => {
  const parsed = parseCidr(text);
  if (parsed === null) throw new Error(`not a range: ${text}`);
  return parsed;
};

describe('parseIpAddress', () => {
  it('reads IPv4 dotted quads and IPv6 text, IPv4-mapped IPv6 as IPv4', () => {
    expect(parseIpAddress('203.0.113.9')).toEqual({ family: 4, value: 0xcb007109n });
    expect(parseIpAddress('2001:db8::1')).toEqual({ family: 6, value: 0x20010db8000000000000000000000001n });
    expect(parseIpAddress('::ffff:203.0.113.9')).toEqual({ family: 4, value: 0xcb007109n });
  });

  it('refuses what a PEP must not send: other IPv4 forms, zone ids, ports, names, non-strings', () => {
    for (const text of ['0xcb.0.113.9', '203.0.113', '3405803785', '203.0.113.9:443', 'fe80::1%eth0', '[2001:db8::1]', 'localhost', '', ' 203.0.113.9', '203.0.113.256', 'a'.repeat(65)]) {
      expect(parseIpAddress(text), text).toBeNull();
    }
    expect(parseIpAddress(42)).toBeNull();
    expect(parseIpAddress(null)).toBeNull();
  });
});

describe('parseCidr', () => {
  it('reads ranges and bare addresses, clears host bits, and formats canonically', () => {
    expect(formatCidr(range('203.0.113.0/24'))).toBe('203.0.113.0/24');
    expect(formatCidr(range('203.0.113.77/24'))).toBe('203.0.113.0/24');
    expect(formatCidr(range('198.51.100.7'))).toBe('198.51.100.7/32');
    expect(formatCidr(range('2001:DB8:0:0::/32'))).toBe('2001:db8::/32');
    expect(formatCidr(range('2001:db8::1'))).toBe('2001:db8::1/128');
    expect(formatCidr(range('::ffff:203.0.113.0/120'))).toBe('203.0.113.0/24');
    expect(formatCidr(range('0.0.0.0/0'))).toBe('0.0.0.0/0');
  });

  it('refuses bad prefixes and addresses', () => {
    for (const text of ['203.0.113.0/33', '203.0.113.0/-1', '203.0.113.0/', '203.0.113.0/024', '2001:db8::/129', '::ffff:203.0.113.0/95', '203.0.113.0/24/1', 'evil.example/24', '203.0.113.0 /24']) {
      expect(parseCidr(text), text).toBeNull();
    }
  });
});

describe('createCidrMatcher', () => {
  const matcher = createCidrMatcher([
    [range('10.0.0.0/8'), 'wide'],
    [range('10.1.0.0/16'), 'narrow'],
    [range('10.1.2.3'), 'host'],
    [range('10.1.0.0/16'), 'duplicate: the first stays'],
    [range('2001:db8::/32'), 'v6-wide'],
    [range('2001:db8:ab::/48'), 'v6-narrow'],
  ]);

  it('answers the longest matching range of the address family', () => {
    expect(matcher.match(ip('10.200.0.1'))).toBe('wide');
    expect(matcher.match(ip('10.1.99.1'))).toBe('narrow');
    expect(matcher.match(ip('10.1.2.3'))).toBe('host');
    expect(matcher.match(ip('::ffff:10.1.2.3'))).toBe('host');
    expect(matcher.match(ip('2001:db8:ab:1::9'))).toBe('v6-narrow');
    expect(matcher.match(ip('2001:db8:ff::9'))).toBe('v6-wide');
    expect(matcher.size).toBe(5);
  });

  it('matches nothing outside the ranges, nor across families', () => {
    expect(matcher.match(ip('11.0.0.1'))).toBeUndefined();
    expect(matcher.match(ip('2001:db9::1'))).toBeUndefined();
    // ::a01:203 holds the bits of 10.1.2.3 but is an IPv6 address.
    expect(matcher.match(ip('::a01:203'))).toBeUndefined();
    expect(createCidrMatcher([]).match(ip('10.0.0.1'))).toBeUndefined();
  });

  it('holds a hundred thousand ranges', () => {
    const many = createCidrMatcher(Array.from({ length: 100_000 }, (_, i) => [range(`100.${(i >> 8) & 255}.${i & 255}.0/24`), i] as const));
    expect(many.size).toBe(65_536);
    expect(many.match(ip('100.1.2.77'))).toBe(258);
  });
});
