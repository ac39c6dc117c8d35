/**
 * Deterministic random JSON for fuzz tests: a seeded PRNG, values of every JSON shape
 * (including number spellings JSON.stringify cannot produce), mutations of valid values,
 * and a serializer that writes them out as JSON text.
 */

/** A seeded PRNG (mulberry32): same seed, same sequence. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** A number written exactly as `text` in the JSON output (e.g. `-0`, `1e999`, 30 digits). */
export class RawNumber {
  constructor(readonly text: string) {}
}

/** A JSON value as the fuzzer builds it: plain JSON plus {@link RawNumber} leaves. */
export type FuzzValue = null | boolean | number | string | RawNumber | FuzzValue[] | { [key: string]: FuzzValue };

const RAW_NUMBERS = [
  '-0', '0', '1', '-1', '0.5', '-0.5', '1e308', '-1e308', '1e999', '-1e999', '5e-324', '1E+2', '1.0', '-0.0',
  '0.00001', '1.23456', '9007199254740993', '-9007199254740993', '123456789012345678901234567890', '2147483648',
  '999999999', '1000000000', '0.1e1', '100', '1001', '1e3',
];

const ODD_STRINGS = [
  '', ' ', 'a', 'demo', '_system', 'no-such-tenant', 'Role', 'user', 'todo', 'route', 'identity', 'Action', 'viewer', 'admin',
  'can_read_todos', 'GET', 'strict', 'off', 'merge', 'replace', 'execute_all', 'deny_on_first_deny', 'permit_on_first_permit',
  'pep', 'policy-author', 'platform-admin', '1', '0', '-1', '0001', '999999', 'true', 'null', 'NaN', 'Infinity',
  'Role::"admin"', 'user::"x"', 'Action::"GET"', 'Nope::"x"', '__entity', '__extn', '__proto__', 'constructor', 'prototype',
  '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\ufeff', '\u202e', 'e\u0301', '😀👩‍👩‍👧', '中文', 'Ω≈ç√', '\t\n\r', '\\', '"', "'",
  '../../etc/passwd', '%00', '%2F', '<script>', '${x}', 'SELECT 1;--', 'vrt_fuzz_admin', 'Bearer x',
  'permit(principal, action, resource);', 'forbid(principal, action, resource);', 'permit(', 'entity Foo;',
];

/** Field names of Verity's request bodies: random objects use them so wrong types hit real fields. */
export const FIELD_NAMES = [
  'subject', 'action', 'resource', 'context', 'evaluations', 'options', 'evaluations_semantic', 'verity_context', 'page',
  'limit', 'next_token', 'token', 'type', 'id', 'name', 'properties', 'principal', 'entities', 'requests', 'uid', 'attrs',
  'parents', 'tags', 'mode', 'files', 'schema', 'validationMode', 'links', 'templateId', 'values', 'message', 'activate',
  'dryRun', 'version', 'settings', 'typeMapping', 'actionType', 'role', 'tenant', 'label', 'email', 'ownerID',
  '__proto__', 'constructor', '__entity', '__extn', 'fn', 'arg',
];

export function randomString(rng: Rng): string {
  const roll = rng.next();
  if (roll < 0.45) return rng.pick(ODD_STRINGS);
  if (roll < 0.55) return rng.pick(FIELD_NAMES);
  if (roll < 0.8) {
    let s = '';
    const n = rng.int(1, 24);
    for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.8) ? rng.int(0x20, 0x7e) : rng.int(0, 0xffff));
    return s;
  }
  if (roll < 0.97) return rng.pick(['x', 'é', '😀', '\u0000', 'ab']).repeat(rng.int(100, 5000));
  return 'y'.repeat(rng.int(10_000, 60_000));
}

function randomNumber(rng: Rng): number | RawNumber {
  const roll = rng.next();
  if (roll < 0.5) return new RawNumber(rng.pick(RAW_NUMBERS));
  if (roll < 0.75) return rng.int(-1000, 1000);
  return (rng.next() - 0.5) * 10 ** rng.int(0, 20);
}

/** Values one {@link randomJson} call may make (big arrays nested in big arrays would make millions). */
const MAX_VALUES = 20_000;

/**
 * Any JSON value; `depth` bounds nesting and `budget` the number of values. Without the budget
 * an array of up to 1500 values per level, 6 levels deep, is a tree of tens of millions of
 * values: seconds of synchronous work (on the event loop the server under test shares), all
 * for a body toJsonText then throws away as too large.
 */
export function randomJson(rng: Rng, depth = 4, budget = { left: MAX_VALUES }): FuzzValue {
  budget.left--;
  const roll = rng.next();
  if (depth <= 0 || budget.left <= 0 || roll < 0.1) return rng.pick([null, true, false]);
  if (roll < 0.25) return randomNumber(rng);
  if (roll < 0.5) return randomString(rng);
  if (roll < 0.7) {
    const n = rng.chance(0.05) ? rng.int(50, 1500) : rng.int(0, 5);
    return Array.from({ length: n }, () => randomJson(rng, depth - 1, budget));
  }
  const obj: { [key: string]: FuzzValue } = {};
  const n = rng.int(0, 6);
  for (let i = 0; i < n; i++) setKey(obj, rng.chance(0.7) ? rng.pick(FIELD_NAMES) : randomString(rng).slice(0, 40), randomJson(rng, depth - 1, budget));
  return obj;
}

/** Set an own property, even `__proto__` (plain assignment would change the prototype). */
export function setKey(obj: { [key: string]: FuzzValue }, key: string, value: FuzzValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A value of a different JSON type than `value`. */
export function wrongType(rng: Rng, value: FuzzValue): FuzzValue {
  for (let i = 0; i < 20; i++) {
    const candidate = rng.pick<() => FuzzValue>([
      () => null,
      () => rng.chance(0.5),
      () => randomNumber(rng),
      () => randomString(rng),
      () => [],
      () => [value],
      () => ({}),
      () => (isPlainObject(value) ? Object.values(value) : { value }),
    ])();
    if (kindOf(candidate) !== kindOf(value)) return candidate;
  }
  return null;
}

function kindOf(value: FuzzValue): string {
  if (value === null) return 'null';
  if (value instanceof RawNumber) return 'number';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function isPlainObject(value: unknown): value is { [key: string]: FuzzValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RawNumber);
}

export function clone<T extends FuzzValue>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => clone(v)) as T;
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)])) as T;
  return value;
}

type Path = Array<string | number>;

function paths(value: FuzzValue, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function getAt(root: FuzzValue, path: Path): FuzzValue {
  let node: FuzzValue = root;
  for (const key of path) node = (node as Record<string | number, FuzzValue>)[key] as FuzzValue;
  return node;
}

/** Nested arrays (or objects) `depth` levels deep around `leaf`. */
export function nested(depth: number, leaf: FuzzValue = 1, objects = false): FuzzValue {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = objects ? { a: value } : [value];
  return value;
}

/**
 * One random mutation of `root` (a clone is changed and returned): drop a field, change a
 * type, swap object and array, add unknown fields, blow a value up, nest it deeply.
 */
export function mutate(rng: Rng, root: FuzzValue): FuzzValue {
  const copy = clone(root);
  const all = paths(copy);
  const path = rng.pick(all);
  const current = getAt(copy, path);
  const op = rng.int(0, 9);
  let replacement: FuzzValue | undefined;
  switch (op) {
    case 0: replacement = undefined; break; // drop
    case 1: case 2: replacement = wrongType(rng, current); break;
    case 3: replacement = randomJson(rng, 3); break;
    case 4: replacement = isPlainObject(current) ? Object.values(current) : Array.isArray(current) ? Object.fromEntries(current.map((v, i) => [String(i), v])) : [current]; break;
    case 5: replacement = rng.pick([null, '', 0, new RawNumber('-0'), new RawNumber('1e308'), new RawNumber('0.5'), '\u0000', '\ud800', 'x'.repeat(5000)]); break;
    case 6: replacement = nested(rng.int(20, 60), current, rng.chance(0.5)); break;
    case 7: replacement = Array.from({ length: rng.pick([2, 101, 1001]) }, () => clone(current)); break;
    case 8:
      if (isPlainObject(current)) {
        const extra = clone(current);
        setKey(extra, rng.pick(FIELD_NAMES), randomJson(rng, 2));
        replacement = extra;
      } else replacement = { [rng.pick(FIELD_NAMES)]: current };
      break;
    default: replacement = randomString(rng);
  }
  if (path.length === 0) return replacement === undefined ? {} : replacement;
  const parent = getAt(copy, path.slice(0, -1));
  const key = path[path.length - 1] as string | number;
  if (Array.isArray(parent)) {
    if (replacement === undefined) parent.splice(key as number, 1);
    else parent[key as number] = replacement;
  } else if (isPlainObject(parent)) {
    if (replacement === undefined) delete parent[key as string];
    else parent[key as string] = replacement;
  }
  return copy;
}

/** Literal JSON text emitted by the serializer (brackets, commas, keys). */
class Token {
  constructor(readonly text: string) {}
}

/** Thrown by {@link toJsonText} when the text would be longer than asked. */
export class TooLarge extends Error {}

/**
 * JSON text of a fuzz value; {@link RawNumber} leaves are written verbatim. Throws
 * {@link TooLarge} past `maxChars` (mutations can copy a big value a thousandfold, twice).
 */
export function toJsonText(value: FuzzValue, maxChars = 64 * 1024 * 1024): string {
  const parts: string[] = [];
  let length = 0;
  const push = (text: string) => {
    length += text.length;
    if (length > maxChars) throw new TooLarge(`JSON text longer than ${maxChars} characters`);
    parts.push(text);
  };
  // Iterative, so deeply nested values serialize without blowing the stack.
  const stack: Array<FuzzValue | Token> = [value];
  while (stack.length > 0) {
    const item = stack.pop() as FuzzValue | Token;
    if (item instanceof Token || item instanceof RawNumber) push(item.text);
    else if (Array.isArray(item)) {
      push('[');
      stack.push(new Token(']'));
      for (let i = item.length - 1; i >= 0; i--) {
        stack.push(item[i] as FuzzValue);
        if (i > 0) stack.push(new Token(','));
      }
    } else if (isPlainObject(item)) {
      push('{');
      stack.push(new Token('}'));
      const entries = Object.entries(item);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i] as [string, FuzzValue];
        stack.push(v);
        stack.push(new Token(`${JSON.stringify(k)}:`));
        if (i > 0) stack.push(new Token(','));
      }
    } else push(JSON.stringify(item) ?? 'null');
  }
  return parts.join('');
}
