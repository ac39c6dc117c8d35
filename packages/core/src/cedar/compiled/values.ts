/**
 * Cedar values as the compiled evaluator holds them, and the reading of Cedar's JSON value
 * format (Cedar docs, "Entities & context JSON format") into them.
 *
 * - Bool: `boolean`. String: `string`.
 * - Long (i64): `number` when it is a safe integer, `bigint` otherwise (never both for one value,
 *   so `===` is equality).
 * - Entity uid: {@link Uid}. Set: {@link CedarSet}. Record: {@link CedarRecord}.
 * - Extension values: {@link Decimal}, {@link IpAddr}, {@link DateTime}, {@link Duration}.
 *
 * Reading is conservative: where Verity is not certain how Cedar reads a JSON value, it throws
 * {@link Delegate} and the whole request goes to cedar-wasm, which answers or refuses exactly.
 */
import { formatEntityUid } from '../../entity-uid.js';

/** The request cannot be decided by the compiled evaluator with certainty: cedar-wasm decides it. */
export class Delegate {
  /** `reason` is a fixed phrase (no request data): it is counted in the engine's stats. */
  constructor(
    readonly reason: string,
    readonly where?: string,
  ) {}
}

/** A Cedar evaluation error: the policy it happened in does not apply and is reported (Cedar semantics). */
export class EvalError {
  constructor(readonly message: string) {}
}

export class Uid {
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = formatEntityUid({ type, id });
  }
  toString(): string {
    return this.key;
  }
}

export class CedarSet {
  /** Canonical keys of the elements (see {@link valueKey}), built on first use by a large set. */
  private keys: Set<string> | undefined;

  constructor(readonly items: readonly Value[]) {}

  /** The distinct elements' canonical keys. */
  keySet(): Set<string> {
    if (this.keys === undefined) {
      const keys = new Set<string>();
      for (const item of this.items) keys.add(valueKey(item));
      this.keys = keys;
    }
    return this.keys;
  }

  /**
   * Cedar set membership (`==` on each element). Small sets compare directly; larger ones by
   * canonical key, so `contains`, `containsAll`, `containsAny` and set `==` stay near-linear in
   * the values' size for every element type (records, sets and extension values included).
   */
  has(value: Value): boolean {
    if (this.items.length <= 8 && isFlat(value)) {
      for (const item of this.items) if (valueEquals(item, value)) return true;
      return false;
    }
    return this.keySet().has(valueKey(value));
  }
}

export class CedarRecord {
  /** Its canonical key, once computed (records are immutable). */
  key: string | undefined;
  constructor(readonly fields: ReadonlyMap<string, Value>) {}
}

/**
 * A canonical key: two values have the same key exactly when Cedar's `==` holds between them
 * (strings and record keys are JSON-quoted, set elements sorted and deduplicated, record fields
 * sorted; a Long is either a number or a bigint, never both).
 */
export function valueKey(value: Value): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'T' : 'F';
    case 'number':
    case 'bigint':
      return `n${value}`;
    case 'string':
      return `s${JSON.stringify(value)}`;
    default:
      if (value instanceof Uid) return `u${value.key}`;
      if (value instanceof CedarSet) return `[${[...value.keySet()].sort().join(',')}]`;
      if (value instanceof CedarRecord) {
        value.key ??= `{${[...value.fields].map(([name, field]) => `${JSON.stringify(name)}:${valueKey(field)}`).sort().join(',')}}`;
        return value.key;
      }
      if (value instanceof Decimal) return `d${value.units}`;
      if (value instanceof IpAddr) return `i${value.v6 ? 6 : 4}/${value.addr}/${value.prefix}`;
      if (value instanceof DateTime) return `t${value.ms}`;
      return `D${value.ms}`;
  }
}

/** Cedar `decimal`: an i64 count of 1/10,000. */
export class Decimal {
  constructor(readonly units: bigint) {}
}

/** Cedar `ipaddr`: address and prefix length (host bits are kept, as Cedar keeps them). */
export class IpAddr {
  constructor(
    readonly v6: boolean,
    readonly addr: bigint,
    readonly prefix: number,
  ) {}
}

/** Cedar `datetime`: i64 milliseconds since the Unix epoch (UTC). */
export class DateTime {
  constructor(readonly ms: bigint) {}
}

/** Cedar `duration`: i64 milliseconds. */
export class Duration {
  constructor(readonly ms: bigint) {}
}

export type Value = boolean | number | bigint | string | Uid | CedarSet | CedarRecord | Decimal | IpAddr | DateTime | Duration;

export const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;

/** A Long from a bigint: a number when safe, bigint otherwise; null past i64. */
export function longOf(value: bigint): number | bigint | null {
  if (value < I64_MIN || value > I64_MAX) return null;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

export function typeName(value: Value): string {
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'number':
    case 'bigint':
      return 'long';
    case 'string':
      return 'string';
    default:
      if (value instanceof Uid) return `(entity of type \`${value.type}\`)`;
      if (value instanceof CedarSet) return 'set';
      if (value instanceof CedarRecord) return 'record';
      if (value instanceof Decimal) return 'decimal';
      if (value instanceof IpAddr) return 'ipaddr';
      if (value instanceof DateTime) return 'datetime';
      return 'duration';
  }
}

export function typeError(expected: string, got: Value): EvalError {
  return new EvalError(`type error: expected ${expected}, got ${typeName(got)}`);
}

/** Cedar `==`: structural, never an error, false across types. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof Uid) return b instanceof Uid && a.key === b.key;
  if (a instanceof CedarSet) {
    if (!(b instanceof CedarSet)) return false;
    // Small sets of primitives compare directly; anything else by canonical keys, computed once
    // per set (comparing nested sets element by element both ways would cost 2^depth).
    if (a.items.length <= 8 && b.items.length <= 8 && a.items.every(isFlat) && b.items.every(isFlat)) return a.items.every((x) => setHas(b, x)) && b.items.every((y) => setHas(a, y));
    const [x, y] = [a.keySet(), b.keySet()];
    if (x.size !== y.size) return false;
    for (const key of x) if (!y.has(key)) return false;
    return true;
  }
  if (a instanceof CedarRecord) {
    if (!(b instanceof CedarRecord) || a.fields.size !== b.fields.size) return false;
    for (const [key, value] of a.fields) {
      const other = b.fields.get(key);
      if (other === undefined || !valueEquals(value, other)) return false;
    }
    return true;
  }
  if (a instanceof Decimal) return b instanceof Decimal && a.units === b.units;
  if (a instanceof IpAddr) return b instanceof IpAddr && a.v6 === b.v6 && a.addr === b.addr && a.prefix === b.prefix;
  if (a instanceof DateTime) return b instanceof DateTime && a.ms === b.ms;
  if (a instanceof Duration) return b instanceof Duration && a.ms === b.ms;
  return false;
}

/** A primitive or a uid: compared in constant time. */
const isFlat = (value: Value) => typeof value !== 'object' || value instanceof Uid;

export function setHas(set: CedarSet, value: Value): boolean {
  return set.has(value);
}

// ---- extension literals ----------------------------------------------------------------------

/** `decimal("…")`: Cedar's grammar is `-?[0-9]+\.[0-9]{1,4}`, range i64 / 10^4. */
export function parseDecimal(text: string): Decimal | EvalError {
  const match = /^(-?)([0-9]+)\.([0-9]{1,4})$/.exec(text);
  if (!match) {
    if (/^-?[0-9]+\.[0-9]{5,}$/.test(text)) return new EvalError(`error while evaluating \`decimal\` extension function: too many digits after the decimal in \`${text}\``);
    return new EvalError(`error while evaluating \`decimal\` extension function: \`${text}\` is not a well-formed decimal value`);
  }
  const [, sign, whole, fraction] = match as unknown as [string, string, string, string];
  const magnitude = BigInt(whole) * 10_000n + BigInt(fraction.padEnd(4, '0'));
  const units = sign === '-' ? -magnitude : magnitude;
  if (units < I64_MIN || units > I64_MAX) return new EvalError('error while evaluating `decimal` extension function: overflow when converting to decimal');
  return new Decimal(units);
}

const IPV4 = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

function parseV4(text: string): bigint | null {
  const m = IPV4.exec(text);
  if (!m) return null;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseV6(text: string): bigint | null {
  if (!/^[0-9a-fA-F:]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): string[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? groups : null;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  let groups: string[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    // `::` stands for at least one group of zeros.
    if (missing < 1) return null;
    groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  return value;
}

/**
 * `ip("…")`: an IPv4 or IPv6 address with an optional `/prefix`. Forms Verity reads with
 * certainty give a value; plainly malformed text an error; anything in between is delegated.
 */
export function parseIp(text: string): IpAddr | EvalError {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? null : text.slice(slash + 1);
  const v4 = parseV4(addressText);
  const v6 = v4 === null ? parseV6(addressText) : null;
  const max = v4 !== null ? 32 : 128;
  let prefix = max;
  if (prefixText !== null) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
      if (/^[0-9+]+$/.test(prefixText) && (v4 !== null || v6 !== null)) throw new Delegate('an ip prefix in an unusual form');
      return new EvalError(`error while evaluating \`ipaddr\` extension function: invalid IP address: ${text}`);
    }
    prefix = Number(prefixText);
    if (prefix > max && (v4 !== null || v6 !== null)) return new EvalError(`error while evaluating \`ipaddr\` extension function: error parsing prefix: ${prefix} is larger than the limit ${max}`);
  }
  if (v4 !== null) return new IpAddr(false, v4, prefix);
  if (v6 !== null) return new IpAddr(true, v6, prefix);
  // Cedar reads addresses as Rust's std parsers do (no leading zeros in IPv4, no IPv4 inside
  // IPv6), which is what parseV4/parseV6 accept.
  return new EvalError(`error while evaluating \`ipaddr\` extension function: invalid IP address: ${text}`);
}

const DAY_MS = 86_400_000n;

function daysFromCivil(year: number, month: number, day: number): number {
  // Howard Hinnant's days_from_civil: exact for every proleptic Gregorian date.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * `datetime("…")` (Cedar RFC 80): `YYYY-MM-DD`, optionally `Thh:mm:ss`, optional `.SSS`, then
 * `Z` or `(+|-)hhmm`. Delegated when the text has that shape but Verity is unsure of a field.
 */
export function parseDateTime(text: string): DateTime | EvalError {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?(?:(Z)|([+-])([0-9]{2})([0-9]{2})))?$/.exec(text);
  const bad = () => new EvalError(`error while evaluating \`datetime\` extension function: invalid datetime \`${text}\``);
  if (!m) {
    if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}T/.test(text)) throw new Delegate('a datetime in an unusual form');
    return bad();
  }
  const hasTime = m[4] !== undefined;
  if (hasTime && m[8] === undefined && m[9] === undefined) return bad();
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return bad();
  let ms = BigInt(daysFromCivil(year, month, day)) * DAY_MS;
  if (hasTime) {
    const [h, min, s] = [Number(m[4]), Number(m[5]), Number(m[6])];
    if (h > 23 || min > 59 || s > 59) throw new Delegate('a datetime with an unusual time of day');
    ms += BigInt(((h * 60 + min) * 60 + s) * 1000 + (m[7] === undefined ? 0 : Number(m[7])));
    if (m[9] !== undefined) {
      const [oh, om] = [Number(m[10]), Number(m[11])];
      if (oh > 23 || om > 59) throw new Delegate('a datetime with an unusual offset');
      const offset = BigInt((oh * 60 + om) * 60_000);
      ms += m[9] === '+' ? -offset : offset;
    }
  }
  return new DateTime(ms);
}

const DURATION_UNITS: Array<[string, bigint]> = [
  ['d', DAY_MS],
  ['h', 3_600_000n],
  ['m', 60_000n],
  ['s', 1000n],
  ['ms', 1n],
];

/** `duration("…")` (Cedar RFC 80): an optional `-`, then `Nd Nh Nm Ns Nms` in this order, at least one. */
export function parseDuration(text: string): Duration | EvalError {
  const m = /^(-?)(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m(?!s))?(?:([0-9]+)s)?(?:([0-9]+)ms)?$/.exec(text);
  if (!m || text === '' || text === '-' || m.slice(2).every((part) => part === undefined)) {
    return new EvalError(`error while evaluating \`duration\` extension function: invalid duration \`${text}\``);
  }
  let ms = 0n;
  DURATION_UNITS.forEach(([, scale], i) => {
    const part = m[i + 2];
    if (part !== undefined) ms += BigInt(part) * scale;
  });
  if (m[1] === '-') ms = -ms;
  // Exactly i64's minimum: whether Cedar reads it depends on the order it negates in.
  if (ms === I64_MIN) throw new Delegate('a duration at the i64 minimum');
  if (ms < I64_MIN || ms > I64_MAX) return new EvalError(`error while evaluating \`duration\` extension function: overflow in \`${text}\``);
  return new Duration(ms);
}

/** Construct an extension value by Cedar's constructor name (`ip`, `decimal`, `datetime`, `duration`). */
export function constructExtension(fn: string, arg: string): Value | EvalError {
  switch (fn) {
    case 'ip':
      return parseIp(arg);
    case 'decimal':
      return parseDecimal(arg);
    case 'datetime':
      return parseDateTime(arg);
    case 'duration':
      return parseDuration(arg);
    default:
      throw new Delegate("an unknown extension function");
  }
}

// ---- Cedar JSON values -----------------------------------------------------------------------

const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', 'permit', 'forbid', 'when', 'unless', 'principal', 'action', 'resource', 'context']);
const validTypes = new Map<string, boolean>();

/** True when `type` is an entity type name Verity is sure Cedar reads as written (`NS::Name`). */
export function isCertainTypeName(type: string): boolean {
  let known = validTypes.get(type);
  if (known === undefined) {
    known = type.split('::').every((part) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(part) && !RESERVED.has(part) && !part.startsWith('__cedar'));
    if (validTypes.size > 10_000) validTypes.clear();
    validTypes.set(type, known);
  }
  return known;
}

/** A uid from Cedar JSON `{type, id}`; delegates when the type name is unusual. */
export function uidOf(json: unknown, where: string): Uid {
  if (typeof json !== 'object' || json === null) throw new Delegate('not an entity uid', where);
  const keys = Object.keys(json);
  const { type, id } = json as { type?: unknown; id?: unknown };
  if (keys.length !== 2 || typeof type !== 'string' || typeof id !== 'string' || !isCertainTypeName(type)) throw new Delegate('an entity uid in an unusual form', where);
  return new Uid(type, id);
}

/** Read one Cedar JSON value without a schema. */
export function readValue(json: unknown, where: string): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      if (!Number.isSafeInteger(json)) throw new Delegate('a number that is not a safe integer', where);
      return json;
    case 'bigint': {
      const long = longOf(json);
      if (long === null) throw new Delegate('an integer past i64', where);
      return long;
    }
    case 'object': {
      if (json === null) throw new Delegate('null', where);
      // Loops over keys and indexes, no entry pairs or closures: every context is read here.
      if (Array.isArray(json)) {
        const items: Value[] = new Array<Value>(json.length);
        for (let i = 0; i < json.length; i++) items[i] = readValue(json[i], where);
        return new CedarSet(items);
      }
      const record = json as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length === 1) {
        if (keys[0] === '__entity') return uidOf(record.__entity, where);
        if (keys[0] === '__extn') return readExtension(record.__extn, where);
      }
      const fields = new Map<string, Value>();
      for (const key of keys) {
        if (key.startsWith('__')) throw new Delegate('a record key starting with __', where);
        fields.set(key, readValue(record[key], where));
      }
      return new CedarRecord(fields);
    }
    default:
      throw new Delegate('not a Cedar value', where);
  }
}

function readExtension(json: unknown, where: string): Value {
  if (typeof json !== 'object' || json === null) throw new Delegate('an __extn in an unusual form', where);
  const keys = Object.keys(json);
  const { fn, arg } = json as { fn?: unknown; arg?: unknown };
  if (keys.length !== 2 || typeof fn !== 'string' || typeof arg !== 'string') throw new Delegate('an __extn in an unusual form', where);
  const value = constructExtension(fn, arg);
  // Cedar refuses the whole request for a malformed extension value in the data.
  if (value instanceof EvalError) throw new Delegate('a malformed extension value', where);
  return value;
}
