/**
 * IP addresses and CIDR ranges for the network signals (location tables, threat lists): strict
 * parsing of literals (ipaddr.js underneath) and a longest-prefix matcher over IPv4 and IPv6.
 */
import ipaddr from 'ipaddr.js';

/** An IP address as a number: `family` 4 (32 bits) or 6 (128 bits). IPv4-mapped IPv6 is IPv4. */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** A CIDR range: the network (host bits zero) and the prefix length (0–32 or 0–128). */
export interface CidrRange {
  family: 4 | 6;
  network: bigint;
  prefix: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

function valueOf(bytes: readonly number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** The bits above the prefix of a `family` address (a mask of `prefix` leading ones). */
function maskOf(family: 4 | 6, prefix: number): bigint {
  const width = BigInt(WIDTH[family]);
  return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

/**
 * An IP literal as a PEP or gateway writes it: IPv4 dotted quad (four decimal parts, no octal or
 * hex forms) or IPv6 (RFC 4291 §2.2 text, no zone id). An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`) is its IPv4 address. Null for anything else; at most 64 characters.
 */
export function parseIpAddress(text: unknown): IpAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64 || text.includes('%')) return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return { family: 4, value: valueOf(ipaddr.IPv4.parse(text).toByteArray()) };
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return null;
  const v6 = ipaddr.IPv6.parse(text);
  if (v6.isIPv4MappedAddress()) return { family: 4, value: valueOf(v6.toIPv4Address().toByteArray()) };
  return { family: 6, value: valueOf(v6.toByteArray()) };
}

/**
 * A CIDR range (`203.0.113.0/24`, `2001:db8::/32`) or a single address (a /32 or /128). Host
 * bits below the prefix are cleared (`203.0.113.7/24` is `203.0.113.0/24`), as threat feeds
 * often write them. IPv4-mapped IPv6 ranges of prefix ≥ 96 are their IPv4 range. Null when not
 * of that form (at most 68 characters).
 */
export function parseCidr(text: unknown): CidrRange | null {
  if (typeof text !== 'string' || text.length > 68) return null;
  const slash = text.indexOf('/');
  const address = parseIpAddress(slash < 0 ? text : text.slice(0, slash));
  if (address === null) return null;
  const width = WIDTH[address.family];
  let prefix: number = width;
  if (slash >= 0) {
    const given = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(given)) return null;
    prefix = Number(given);
    // An IPv4-mapped IPv6 range is written with an IPv6 prefix.
    if (address.family === 4 && text.slice(0, slash).includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > width) return null;
  }
  return { family: address.family, network: address.value & maskOf(address.family, prefix), prefix };
}

/** The bytes of a `family` number, most significant first. */
function bytesOf(family: 4 | 6, value: bigint): number[] {
  const bytes: number[] = [];
  for (let shift = WIDTH[family] - 8; shift >= 0; shift -= 8) bytes.push(Number((value >> BigInt(shift)) & 0xffn));
  return bytes;
}

/** The canonical text of an address (`203.0.113.9`, `2001:db8::1`; RFC 5952 for IPv6). */
export function formatIpAddress(address: IpAddress): string {
  return ipaddr.fromByteArray(bytesOf(address.family, address.value)).toString();
}

/** The canonical text of a range (`203.0.113.0/24`, `2001:db8::/32`). */
export function formatCidr(range: CidrRange): string {
  return `${formatIpAddress({ family: range.family, value: range.network })}/${range.prefix}`;
}

/** Finds the value of the longest range holding an address. */
export interface CidrMatcher<V> {
  /** The value of the longest matching range (the first added of equal ranges), or undefined. */
  match(address: IpAddress): V | undefined;
  /** Ranges held (equal ranges once). */
  readonly size: number;
}

/**
 * A longest-prefix matcher: per family, one map per prefix length present, from network to
 * value. A lookup masks the address once per length present (at most 33 or 129 map lookups,
 * usually a handful), so it costs the same for ten ranges or a hundred thousand.
 *
 * @example
 * const m = createCidrMatcher([[parseCidr('203.0.113.0/24')!, 'feed-a']]);
 * m.match(parseIpAddress('203.0.113.9')!); // 'feed-a'
 */
export function createCidrMatcher<V>(entries: Iterable<readonly [CidrRange, V]>): CidrMatcher<V> {
  const byFamily = { 4: new Map<number, Map<bigint, V>>(), 6: new Map<number, Map<bigint, V>>() };
  let size = 0;
  for (const [range, value] of entries) {
    const lengths = byFamily[range.family];
    let networks = lengths.get(range.prefix);
    if (networks === undefined) lengths.set(range.prefix, (networks = new Map()));
    if (networks.has(range.network)) continue;
    networks.set(range.network, value);
    size += 1;
  }
  const ordered = {
    4: [...byFamily[4].entries()].sort(([a], [b]) => b - a).map(([prefix, networks]) => ({ mask: maskOf(4, prefix), networks })),
    6: [...byFamily[6].entries()].sort(([a], [b]) => b - a).map(([prefix, networks]) => ({ mask: maskOf(6, prefix), networks })),
  };
  return {
    size,
    match(address) {
      for (const { mask, networks } of ordered[address.family]) {
        const found = networks.get(address.value & mask);
        if (found !== undefined) return found;
      }
      return undefined;
    },
  };
}
