/**
 * Cedar policies compiled to JavaScript closures: the compiled evaluator.
 *
 * Input is Cedar's own parsed form of each policy (its JSON policy format, from cedar-wasm's
 * `policyToJson` / `templateToJson`; never a parser of ours). Each expression node becomes one
 * closure over an {@link Env}; evaluation follows the Cedar specification's semantics (Cedar
 * docs, "Policy evaluation" and "Operators"): errors make a policy not apply and are reported
 * with its id; a satisfied forbid denies; else a satisfied permit allows; else deny.
 *
 * A construct this compiler does not know makes the whole policy set unsupported
 * ({@link UnsupportedPolicy}): it then runs on cedar-wasm, with the reason.
 */
import type { CedarPolicyJson, CedarScopeJson } from '../../policy-analysis.js';
import { isPlainObject } from '../../wire-format.js';
import {
  CedarRecord,
  CedarSet,
  DateTime,
  Decimal,
  Duration,
  EvalError,
  I64_MAX,
  I64_MIN,
  IpAddr,
  Uid,
  constructExtension,
  isCertainTypeName,
  longOf,
  setHas,
  typeError,
  valueEquals,
  type Value,
} from './values.js';
import type { EntityStore } from './entities.js';

/** The set has a construct the compiler does not take: it runs on cedar-wasm. */
export class UnsupportedPolicy extends Error {}

/** What one request is evaluated against. */
export interface Env {
  principal: Uid;
  action: Uid;
  resource: Uid;
  context: CedarRecord;
  entities: EntityStore;
}

type Fn = (env: Env) => Value;

const unsupported = (what: string): never => {
  throw new UnsupportedPolicy(what);
};

function literalUid(json: unknown): Uid {
  if (typeof json !== 'object' || json === null) return unsupported('an entity literal in an unexpected form');
  const { type, id } = json as { type?: unknown; id?: unknown };
  if (typeof type !== 'string' || typeof id !== 'string') return unsupported('an entity literal in an unexpected form');
  return new Uid(type, id);
}

function literal(json: unknown): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      // Cedar's JSON form carries a Long literal as a JSON number: past ±2^53 it has lost digits.
      if (!Number.isSafeInteger(json)) return unsupported('a Long literal beyond ±2^53 (Cedar\'s JSON policy form does not keep its digits)');
      return json;
    case 'object':
      if (json !== null && '__entity' in json && Object.keys(json).length === 1) return literalUid((json as { __entity: unknown }).__entity);
      return unsupported('a literal in an unexpected form');
    default:
      return unsupported('a literal in an unexpected form');
  }
}

// ---- operators -------------------------------------------------------------------------------

function asBool(value: Value): boolean {
  if (typeof value !== 'boolean') throw typeError('bool', value);
  return value;
}

function asLong(value: Value): number | bigint {
  if (typeof value !== 'number' && typeof value !== 'bigint') throw typeError('long', value);
  return value;
}

function asString(value: Value): string {
  if (typeof value !== 'string') throw typeError('string', value);
  return value;
}

function asEntity(value: Value): Uid {
  if (!(value instanceof Uid)) throw typeError('(entity of type `any_entity_type`)', value);
  return value;
}

function asSet(value: Value): CedarSet {
  if (!(value instanceof CedarSet)) throw typeError('set', value);
  return value;
}

function asExt<T>(value: Value, kind: new (...args: never[]) => T, name: string): T {
  if (!(value instanceof kind)) throw typeError(name, value);
  return value;
}

type Arith = '+' | '-' | '*';
const ARITH_WORD: Record<Arith, string> = { '+': 'add', '-': 'subtract', '*': 'multiply' };

function arithmetic(op: Arith, a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const fast = op === '+' ? a + b : op === '-' ? a - b : a * b;
    // A safe-integer result of integer operands is exact (anything ≥ 2^53 rounds to ≥ 2^53).
    if (Number.isSafeInteger(fast)) return fast === 0 ? 0 : fast;
  }
  const [x, y] = [BigInt(a), BigInt(b)];
  const exact = op === '+' ? x + y : op === '-' ? x - y : x * y;
  const long = longOf(exact);
  if (long === null) throw new EvalError(`integer overflow while attempting to ${ARITH_WORD[op]} the values \`${a}\` and \`${b}\``);
  return long;
}

type Compare = '<' | '<=' | '>' | '>=';

function compare(op: Compare, a: Value, b: Value): boolean {
  let x: number | bigint;
  let y: number | bigint;
  if (typeof a === 'number' || typeof a === 'bigint') {
    if (typeof b !== 'number' && typeof b !== 'bigint') throw typeError('long', b);
    [x, y] = [a, b];
  } else if (a instanceof DateTime) {
    if (!(b instanceof DateTime)) throw typeError('datetime', b);
    [x, y] = [a.ms, b.ms];
  } else if (a instanceof Duration) {
    if (!(b instanceof Duration)) throw typeError('duration', b);
    [x, y] = [a.ms, b.ms];
  } else {
    throw typeError('one of [long, datetime, duration]', a);
  }
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

function inOperator(left: Value, right: Value, env: Env): boolean {
  const uid = asEntity(left);
  if (right instanceof Uid) return env.entities.isIn(uid, right);
  if (right instanceof CedarSet) {
    let found = false;
    for (const item of right.items) {
      // Every element must be an entity, even after a match (Cedar checks them all).
      if (!(item instanceof Uid)) throw typeError('(entity of type `any_entity_type`)', item);
      if (!found && env.entities.isIn(uid, item)) found = true;
    }
    return found;
  }
  throw typeError('one of [set, (entity of type `any_entity_type`)]', right);
}

function getAttr(value: Value, attr: string, env: Env): Value {
  if (value instanceof Uid) {
    const entity = env.entities.get(value);
    if (entity === undefined) throw new EvalError(`entity \`${value.key}\` does not exist`);
    const found = entity.attrs.get(attr);
    if (found === undefined) throw new EvalError(`\`${value.key}\` does not have the attribute \`${attr}\``);
    return found;
  }
  if (value instanceof CedarRecord) {
    const found = value.fields.get(attr);
    if (found === undefined) throw new EvalError(`record does not have the attribute \`${attr}\``);
    return found;
  }
  throw typeError('one of [record, (entity of type `any_entity_type`)]', value);
}

function hasAttr(value: Value, attr: string, env: Env): boolean {
  if (value instanceof Uid) return env.entities.get(value)?.attrs.has(attr) ?? false;
  if (value instanceof CedarRecord) return value.fields.has(attr);
  throw typeError('one of [record, (entity of type `any_entity_type`)]', value);
}

/**
 * `like`: `*` matches any sequence of characters (Unicode scalar values), the rest literally.
 * The pattern becomes a list of characters with `null` for a wildcard.
 */
function compilePattern(pattern: unknown): Array<string | null> {
  if (!Array.isArray(pattern)) return unsupported('a like pattern in an unexpected form');
  const elements: Array<string | null> = [];
  for (const element of pattern) {
    if (element === 'Wildcard') elements.push(null);
    else if (typeof element === 'object' && element !== null && typeof (element as { Literal?: unknown }).Literal === 'string') {
      elements.push(...Array.from((element as { Literal: string }).Literal));
    } else return unsupported('a like pattern element in an unexpected form');
  }
  return elements;
}

/**
 * Wildcard matching in O(text × pattern) at worst (the greedy algorithm that backs up to the
 * last `*`), never a backtracking regular expression: a policy's `like` cannot stall the thread.
 */
function likeMatches(text: string, pattern: ReadonlyArray<string | null>): boolean {
  const chars = Array.from(text);
  let t = 0;
  let p = 0;
  let star = -1;
  let mark = 0;
  while (t < chars.length) {
    const element = pattern[p];
    if (p < pattern.length && element !== null && element === chars[t]) {
      t++;
      p++;
    } else if (p < pattern.length && element === null) {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === null) p++;
  return p === pattern.length;
}

const DAY = 86_400_000n;

function msLong(ms: bigint): number | bigint {
  const long = longOf(ms);
  if (long === null) throw new EvalError('overflow');
  return long;
}

/** Extension methods (Cedar docs, "Extension functions"): name → arity and implementation. */
const METHODS: Record<string, { arity: number; run: (args: Value[]) => Value }> = {
  lessThan: { arity: 2, run: ([a, b]) => asExt(a as Value, Decimal, 'decimal').units < asExt(b as Value, Decimal, 'decimal').units },
  lessThanOrEqual: { arity: 2, run: ([a, b]) => asExt(a as Value, Decimal, 'decimal').units <= asExt(b as Value, Decimal, 'decimal').units },
  greaterThan: { arity: 2, run: ([a, b]) => asExt(a as Value, Decimal, 'decimal').units > asExt(b as Value, Decimal, 'decimal').units },
  greaterThanOrEqual: { arity: 2, run: ([a, b]) => asExt(a as Value, Decimal, 'decimal').units >= asExt(b as Value, Decimal, 'decimal').units },
  isIpv4: { arity: 1, run: ([a]) => !asExt(a as Value, IpAddr, 'ipaddr').v6 },
  isIpv6: { arity: 1, run: ([a]) => asExt(a as Value, IpAddr, 'ipaddr').v6 },
  isLoopback: { arity: 1, run: ([a]) => ipWithin(asExt(a as Value, IpAddr, 'ipaddr'), LOOPBACK_V4, LOOPBACK_V6) },
  isMulticast: { arity: 1, run: ([a]) => ipWithin(asExt(a as Value, IpAddr, 'ipaddr'), MULTICAST_V4, MULTICAST_V6) },
  isInRange: { arity: 2, run: ([a, b]) => ipInRange(asExt(a as Value, IpAddr, 'ipaddr'), asExt(b as Value, IpAddr, 'ipaddr')) },
  offset: {
    arity: 2,
    run: ([a, b]) => {
      const ms = asExt(a as Value, DateTime, 'datetime').ms + asExt(b as Value, Duration, 'duration').ms;
      if (ms < I64_MIN || ms > I64_MAX) throw new EvalError('overflow when adding a duration to a datetime');
      return new DateTime(ms);
    },
  },
  durationSince: {
    arity: 2,
    run: ([a, b]) => {
      const ms = asExt(a as Value, DateTime, 'datetime').ms - asExt(b as Value, DateTime, 'datetime').ms;
      if (ms < I64_MIN || ms > I64_MAX) throw new EvalError('overflow when computing a duration');
      return new Duration(ms);
    },
  },
  toDate: {
    arity: 1,
    run: ([a]) => {
      const ms = asExt(a as Value, DateTime, 'datetime').ms;
      const rem = ((ms % DAY) + DAY) % DAY;
      const day = ms - rem;
      if (day < I64_MIN) throw new EvalError('overflow when computing a date');
      return new DateTime(day);
    },
  },
  toTime: { arity: 1, run: ([a]) => new Duration(((asExt(a as Value, DateTime, 'datetime').ms % DAY) + DAY) % DAY) },
  toDays: { arity: 1, run: ([a]) => msLong(asExt(a as Value, Duration, 'duration').ms / DAY) },
  toHours: { arity: 1, run: ([a]) => msLong(asExt(a as Value, Duration, 'duration').ms / 3_600_000n) },
  toMinutes: { arity: 1, run: ([a]) => msLong(asExt(a as Value, Duration, 'duration').ms / 60_000n) },
  toSeconds: { arity: 1, run: ([a]) => msLong(asExt(a as Value, Duration, 'duration').ms / 1000n) },
  toMilliseconds: { arity: 1, run: ([a]) => msLong(asExt(a as Value, Duration, 'duration').ms) },
};

const LOOPBACK_V4 = new IpAddr(false, 0x7f000000n, 8);
const LOOPBACK_V6 = new IpAddr(true, 1n, 128);
const MULTICAST_V4 = new IpAddr(false, 0xe0000000n, 4);
const MULTICAST_V6 = new IpAddr(true, 0xffn << 120n, 8);

/** The range of `a` (its network under its prefix) lies within the range of `b`. */
function ipInRange(a: IpAddr, b: IpAddr): boolean {
  if (a.v6 !== b.v6 || a.prefix < b.prefix) return false;
  const bits = a.v6 ? 128 : 32;
  const shift = BigInt(bits - b.prefix);
  return a.addr >> shift === b.addr >> shift;
}

function ipWithin(a: IpAddr, v4: IpAddr, v6: IpAddr): boolean {
  return ipInRange(a, a.v6 ? v6 : v4);
}

// ---- expressions -----------------------------------------------------------------------------

function binary(body: Record<string, unknown>, key: string): [Fn, Fn] {
  const node = body[key] as { left?: unknown; right?: unknown };
  if (typeof node !== 'object' || node === null) return unsupported(`a ${key} node in an unexpected form`);
  return [compileExpr(node.left), compileExpr(node.right)];
}

/** Compile one expression node of Cedar's JSON policy format into a closure. */
export function compileExpr(json: unknown): Fn {
  if (!isPlainObject(json)) return unsupported('an expression in an unexpected form');
  const keys = Object.keys(json);
  if (keys.length !== 1) return unsupported('an expression node with several keys');
  const key = keys[0] as string;
  const body = json as Record<string, unknown>;
  switch (key) {
    case 'Value': {
      const value = literal(body.Value);
      return () => value;
    }
    case 'Var':
      switch (body.Var) {
        case 'principal':
          return (env) => env.principal;
        case 'action':
          return (env) => env.action;
        case 'resource':
          return (env) => env.resource;
        case 'context':
          return (env) => env.context;
        default:
          return unsupported(`variable ${String(body.Var)}`);
      }
    case '!': {
      const arg = compileExpr((body['!'] as { arg?: unknown }).arg);
      return (env) => !asBool(arg(env));
    }
    case 'neg': {
      const arg = compileExpr((body.neg as { arg?: unknown }).arg);
      return (env) => {
        const value = asLong(arg(env));
        if (typeof value === 'number') return value === 0 ? 0 : -value;
        const negated = longOf(-BigInt(value));
        if (negated === null) throw new EvalError(`integer overflow while attempting to negate \`${value}\``);
        return negated;
      };
    }
    case '==': {
      const [l, r] = binary(body, key);
      return (env) => valueEquals(l(env), r(env));
    }
    case '!=': {
      const [l, r] = binary(body, key);
      return (env) => !valueEquals(l(env), r(env));
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const [l, r] = binary(body, key);
      const op = key;
      return (env) => compare(op, l(env), r(env));
    }
    case '+':
    case '-':
    case '*': {
      const [l, r] = binary(body, key);
      const op = key;
      return (env) => {
        const a = asLong(l(env));
        return arithmetic(op, a, asLong(r(env)));
      };
    }
    case '&&': {
      const [l, r] = binary(body, key);
      return (env) => asBool(l(env)) && asBool(r(env));
    }
    case '||': {
      const [l, r] = binary(body, key);
      return (env) => asBool(l(env)) || asBool(r(env));
    }
    case 'in': {
      const [l, r] = binary(body, key);
      return (env) => {
        const a = l(env);
        return inOperator(a, r(env), env);
      };
    }
    case 'contains': {
      const [l, r] = binary(body, key);
      return (env) => {
        const set = asSet(l(env));
        return setHas(set, r(env));
      };
    }
    case 'containsAll': {
      const [l, r] = binary(body, key);
      return (env) => {
        const set = asSet(l(env));
        return asSet(r(env)).items.every((item) => setHas(set, item));
      };
    }
    case 'containsAny': {
      const [l, r] = binary(body, key);
      return (env) => {
        const set = asSet(l(env));
        return asSet(r(env)).items.some((item) => setHas(set, item));
      };
    }
    case 'isEmpty': {
      const arg = compileExpr((body.isEmpty as { arg?: unknown }).arg);
      return (env) => asSet(arg(env)).items.length === 0;
    }
    case 'hasTag': {
      const [l, r] = binary(body, key);
      return (env) => {
        const uid = asEntity(l(env));
        const tag = asString(r(env));
        return env.entities.get(uid)?.tags?.has(tag) ?? false;
      };
    }
    case 'getTag': {
      const [l, r] = binary(body, key);
      return (env) => {
        const uid = asEntity(l(env));
        const tag = asString(r(env));
        const entity = env.entities.get(uid);
        if (entity === undefined) throw new EvalError(`entity \`${uid.key}\` does not exist`);
        const found = entity.tags?.get(tag);
        if (found === undefined) throw new EvalError(`\`${uid.key}\` does not have the tag \`${tag}\``);
        return found;
      };
    }
    case 'if-then-else': {
      const node = body[key] as { if?: unknown; then?: unknown; else?: unknown };
      const [c, t, e] = [compileExpr(node.if), compileExpr(node.then), compileExpr(node.else)];
      return (env) => (asBool(c(env)) ? t(env) : e(env));
    }
    case '.': {
      const node = body[key] as { left?: unknown; attr?: unknown };
      if (typeof node.attr !== 'string') return unsupported('an attribute access in an unexpected form');
      const left = compileExpr(node.left);
      const attr = node.attr;
      return (env) => getAttr(left(env), attr, env);
    }
    case 'has': {
      const node = body[key] as { left?: unknown; attr?: unknown };
      const path = typeof node.attr === 'string' ? [node.attr] : node.attr;
      if (!Array.isArray(path) || path.length === 0 || !path.every((p) => typeof p === 'string')) return unsupported('a has in an unexpected form');
      const left = compileExpr(node.left);
      const attrs = path as string[];
      // `e has a.b` is `e has a && e.a has b`.
      return (env) => {
        let value = left(env);
        for (let i = 0; i < attrs.length; i++) {
          const attr = attrs[i] as string;
          if (!hasAttr(value, attr, env)) return false;
          if (i < attrs.length - 1) value = getAttr(value, attr, env);
        }
        return true;
      };
    }
    case 'like': {
      const node = body[key] as { left?: unknown; pattern?: unknown };
      const left = compileExpr(node.left);
      const pattern = compilePattern(node.pattern);
      return (env) => likeMatches(asString(left(env)), pattern);
    }
    case 'is': {
      const node = body[key] as { left?: unknown; entity_type?: unknown; in?: unknown };
      if (typeof node.entity_type !== 'string') return unsupported('an is in an unexpected form');
      const left = compileExpr(node.left);
      const type = node.entity_type;
      if (node.in === undefined) return (env) => asEntity(left(env)).type === type;
      const right = compileExpr(node.in);
      // `e is T in X` is `e is T && e in X`: X is evaluated only when e is a T.
      return (env) => {
        const uid = asEntity(left(env));
        return uid.type === type && inOperator(uid, right(env), env);
      };
    }
    case 'Set': {
      if (!Array.isArray(body.Set)) return unsupported('a set literal in an unexpected form');
      const items = body.Set.map(compileExpr);
      return (env) => new CedarSet(items.map((item) => item(env)));
    }
    case 'Record': {
      if (typeof body.Record !== 'object' || body.Record === null) return unsupported('a record literal in an unexpected form');
      const fields = Object.entries(body.Record as Record<string, unknown>).map(([name, expr]) => [name, compileExpr(expr)] as const);
      return (env) => new CedarRecord(new Map(fields.map(([name, fn]) => [name, fn(env)])));
    }
    default:
      return compileCall(key, body[key]);
  }
}

/** Extension constructors (`ip("…")`) and methods (`a.isInRange(b)`): `{name: [args]}`. */
function compileCall(name: string, argsJson: unknown): Fn {
  if (!Array.isArray(argsJson)) return unsupported(`the operator ${name}`);
  const args = argsJson.map(compileExpr);
  if (name === 'ip' || name === 'decimal' || name === 'datetime' || name === 'duration') {
    if (args.length !== 1) return unsupported(`${name} with ${args.length} arguments`);
    const [arg] = args as [Fn];
    const constant = argsJson[0] as { Value?: unknown };
    if (typeof constant.Value === 'string') {
      // A literal argument is read once, at compile time (its error, if any, at every evaluation).
      let value: Value | EvalError | undefined;
      return () => {
        value ??= constructExtension(name, constant.Value as string);
        if (value instanceof EvalError) throw value;
        return value;
      };
    }
    return (env) => {
      const value = constructExtension(name, asString(arg(env)));
      if (value instanceof EvalError) throw value;
      return value;
    };
  }
  const method = METHODS[name];
  if (!method) return unsupported(`the function ${name}`);
  if (args.length !== method.arity) return unsupported(`${name} with ${args.length} arguments`);
  return (env) => method.run(args.map((arg) => arg(env)));
}

// ---- policies --------------------------------------------------------------------------------

export type SlotValues = Partial<Record<'?principal' | '?resource', Uid>>;

/** The scope's entity: a literal, or the link's value for the slot. */
function scopeUid(json: { entity?: unknown; slot?: string }, slots: SlotValues): Uid {
  if (json.slot !== undefined) {
    const value = slots[json.slot as '?principal' | '?resource'];
    if (value === undefined) return unsupported(`an unfilled slot ${json.slot}`);
    return value;
  }
  return literalUid(json.entity);
}

/** How a principal or resource scope can be found in the index. */
export type ScopeKey = { kind: 'eq'; key: string } | { kind: 'type'; type: string } | null;

function compileScope(scope: CedarScopeJson, variable: 'principal' | 'resource', slots: SlotValues): { test: ((env: Env) => boolean) | null; key: ScopeKey } {
  const pick = (env: Env) => env[variable];
  switch (scope.op) {
    case 'All':
      return { test: null, key: null };
    case '==': {
      const uid = scopeUid(scope, slots);
      return { test: (env) => pick(env).key === uid.key, key: { kind: 'eq', key: uid.key } };
    }
    case 'in': {
      const uid = scopeUid(scope, slots);
      return { test: (env) => env.entities.isIn(pick(env), uid), key: null };
    }
    case 'is': {
      const type = scope.entity_type;
      if (typeof type !== 'string') return unsupported('an is scope in an unexpected form');
      if (scope.in === undefined) return { test: (env) => pick(env).type === type, key: { kind: 'type', type } };
      const uid = scopeUid(scope.in, slots);
      return { test: (env) => pick(env).type === type && env.entities.isIn(pick(env), uid), key: { kind: 'type', type } };
    }
    default:
      return unsupported(`a ${variable} scope ${scope.op}`);
  }
}

/** A compiled policy: its id, effect, one test, and what the index can find it by. */
export interface CompiledPolicy {
  id: string;
  /** Position in the policy set: evaluation and reasons keep this order. */
  ordinal: number;
  forbid: boolean;
  /** True when the policy is satisfied; throws EvalError when evaluating it errs. */
  test: (env: Env) => boolean;
  principalKey: ScopeKey;
  resourceKey: ScopeKey;
  /** The action uids (keys) the scope names, `==` or `in`, or null for any action. */
  actions: { op: '==' | 'in'; keys: string[] } | null;
}

/** Compile one policy (or one template link, with its slot values). */
export function compilePolicy(id: string, ordinal: number, json: CedarPolicyJson, slots: SlotValues = {}): CompiledPolicy {
  if (json.effect !== 'permit' && json.effect !== 'forbid') return unsupported(`the effect ${String(json.effect)}`);
  const principal = compileScope(json.principal, 'principal', slots);
  const resource = compileScope(json.resource, 'resource', slots);
  let actionTest: ((env: Env) => boolean) | null = null;
  let actions: CompiledPolicy['actions'] = null;
  const action = json.action;
  if (action.op === '==') {
    const uid = literalUid(action.entity);
    actionTest = (env) => env.action.key === uid.key;
    actions = { op: '==', keys: [uid.key] };
  } else if (action.op === 'in') {
    const uids = action.entities !== undefined ? action.entities.map(literalUid) : [literalUid(action.entity)];
    actionTest = (env) => uids.some((uid) => env.entities.isIn(env.action, uid));
    actions = { op: 'in', keys: uids.map((uid) => uid.key) };
  } else if (action.op !== 'All') {
    return unsupported(`an action scope ${action.op}`);
  }
  const tests: Array<(env: Env) => boolean> = [];
  if (principal.test) tests.push(principal.test);
  if (actionTest) tests.push(actionTest);
  if (resource.test) tests.push(resource.test);
  for (const condition of json.conditions) {
    const body = compileExpr(condition.body);
    if (condition.kind === 'when') tests.push((env) => asBool(body(env)));
    else if (condition.kind === 'unless') tests.push((env) => !asBool(body(env)));
    else return unsupported(`a condition of kind ${String(condition.kind)}`);
  }
  const test =
    tests.length === 0
      ? () => true
      : tests.length === 1
        ? (tests[0] as (env: Env) => boolean)
        : (env: Env) => {
            for (const t of tests) if (!t(env)) return false;
            return true;
          };
  return { id, ordinal, forbid: json.effect === 'forbid', test, principalKey: principal.key, resourceKey: resource.key, actions };
}

export { isCertainTypeName };
