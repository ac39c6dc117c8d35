/**
 * The differential tester's generator: random Cedar policy sets, schemas, entity sets and
 * requests from a seeded PRNG (mulberry32), so every case reproduces from (seed, group, request).
 *
 * One typed model per group drives everything: entity types with attributes of every Cedar
 * type (Long, String, Bool, sets, records, entity references, decimal, ipaddr, datetime,
 * duration), tags, a context record type, actions and action groups. From it come the schema
 * text (about a third of the groups), conforming entity data (with a share of deliberate
 * non-conformance), and policy conditions that are typed on purpose — most expressions are
 * well-typed and read attributes that exist, so policies are often satisfied — with a small
 * per-group probability of ill-typed subexpressions, so every operator also meets its errors.
 */
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import type { CedarValue, EntityUid, TemplateLink } from '@verity/core';
import { prng as mulberry32 } from '../fixtures.js';

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: a small, fast seeded PRNG (the oracle fixtures' own). */
export { mulberry32 };

/** A seed for group `index` of run `seed` (independent streams, so any group regenerates alone). */
function mixSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  constructor(private readonly source: () => number) {}
  next(): number {
    return this.source();
  }
  int(n: number): number {
    return Math.floor(this.source() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.source() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }
  /** One of `choices` by weight; a weight of 0 rules a choice out. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let x = this.source() * total;
    for (const [w, value] of choices) {
      if (w <= 0) continue;
      x -= w;
      if (x < 0) return value;
    }
    const last = [...choices].reverse().find(([w]) => w > 0);
    if (!last) throw new Error('weighted: no choice has a weight');
    return last[1];
  }
  /** Up to `max` distinct items. */
  some<T>(items: readonly T[], max: number): T[] {
    const n = this.int(max + 1);
    return [...new Set(Array.from({ length: n }, () => this.pick(items)))];
  }
}

// ---------------------------------------------------------------------------------------------
// Cases

/** One request with the complete entity list it is decided against. */
export interface DiffRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
  /** Cedar entity JSON; deliberately not always valid. */
  entities: unknown[];
}

/** The policy side of a group: what `engine.prepare` and the oracle are given. */
export interface DiffPolicySet {
  schema?: string;
  policies: Record<string, string>;
  templates: Record<string, string>;
  links: TemplateLink[];
}

/** A policy set with many requests (one `prepare`, many decisions). */
export interface DiffGroup extends DiffPolicySet {
  seed: number;
  group: number;
  requests: DiffRequest[];
}

/** One self-contained case (a regression entry, a failure file). */
export interface DiffCase extends DiffPolicySet, DiffRequest {
  id: string;
}

export function caseOf(group: DiffGroup, i: number): DiffCase {
  const request = group.requests[i] as DiffRequest;
  return {
    id: `${group.seed}-${group.group}-${i}`,
    ...(group.schema === undefined ? {} : { schema: group.schema }),
    policies: group.policies,
    templates: group.templates,
    links: group.links,
    ...request,
  };
}

/** JSON with integers beyond ±2^53 written digit for digit (they are bigint in the case). */
export function caseToJson(value: unknown): string {
  return stringifyLossless(value, undefined, 2) as string;
}

/** Parse JSON written by {@link caseToJson}: unsafe integers come back as bigint. */
export function parseCaseJson(text: string): unknown {
  return parseLossless(text, null, (digits: string) => (/^-?\d+$/.test(digits) && !Number.isSafeInteger(Number(digits)) ? BigInt(digits) : Number(digits)));
}

// ---------------------------------------------------------------------------------------------
// The typed model

type ExtName = 'decimal' | 'ipaddr' | 'datetime' | 'duration';
type Ty =
  | { k: 'Long' }
  | { k: 'String' }
  | { k: 'Bool' }
  | { k: 'Set'; el: Ty }
  | { k: 'Record'; fields: Field[]; alias?: string }
  | { k: 'Entity'; type: string }
  | { k: ExtName };
interface Field {
  name: string;
  ty: Ty;
  optional: boolean;
}

interface EntityTypeModel {
  name: string;
  attrs: Field[];
  tags: Ty | undefined;
  /** Types its parents may have (the schema's `in [..]`). */
  memberOf: string[];
  ids: string[];
  /** An enumerated entity type (`entity Color enum [..]`): its ids are all there is. */
  isEnum?: boolean;
}

interface ActionModel {
  id: string;
  groups: string[];
  /** Action groups are declared without `appliesTo`. */
  isGroup: boolean;
}

interface Model {
  ns: string;
  schema: boolean;
  user: string;
  group: string;
  /** Enumerated entity types (none, or `Color`). */
  enums: string[];
  doc: string;
  folder: string;
  actionType: string;
  types: EntityTypeModel[];
  actions: ActionModel[];
  context: Field[];
  /** The group's vocabulary: a few strings and small Longs, so equalities and `like` often hold. */
  strings: string[];
  longs: number[];
  /** Probability that a generated subexpression is deliberately of a random type. */
  badType: number;
}

const LONG = { k: 'Long' } as const;
const STRING = { k: 'String' } as const;
const BOOL = { k: 'Bool' } as const;
const EXTS: ExtName[] = ['decimal', 'ipaddr', 'datetime', 'duration'];

const ID_POOL = ['alice', 'bob', 'carol', 'dave', '', 'a"b', 'ü∂', 'x\\y', 'tab\there', '🙂', ' ', '*', '0', 'new\nline', "it's", 'admins'];
const STRING_POOL = ['', 'v', 'alice', 'hello world', 'ü', 'a*b', '*', 'tab\t', 'quo"te', 'back\\slash', '🙂x', 'abc', 'ABC', 'x', 'nul\0x', 'e\u0301', 'é', '10.0.0.1', '1.5', '1h'];
/** Policies Cedar will not parse (or will not accept in a static-policy slot): the whole set is refused. */
const UNPARSEABLE = [
  'permit (principal, action, resource) when { 1 < 2 < 3 };',
  'permit (principal, action, resource) when { nosuchfn(1) };',
  'permit (principal, action, resource) when { context.s like context.t };',
  'permit (principal, action, resource) when { principal has 1 };',
  'permit (principal == ?principal, action, resource);',
  'permit (principal, action, resource) when { {a: 1, a: 2} == {} };',
  'permit (principal, action, resource) when { 9223372036854775808 == 0 };',
  'permit (principal, action, resource) when { ip("10.0.0.1", "10.0.0.2") };',
  'permit (principal, action, resource) when { principal.if };',
  'forbid (principal, action, resource) when { "unterminated };',
  'permit (principal, action, resource) when { principal.isIpv4(1) };',
  'permit (principal, action, resource) when { decimal(1) };',
  'permit (principal, action, resource) when { principal is 1 };',
  'permit (principal in [User::"a"], action, resource);',
  'permit (principal, action, resource) when { [1, 2].contains() };',
];
const FIELD_NAMES = ['age', 'name', 'level', 'flag', 'owner', 'members', 'addr', 'ip', 'amount', 'since', 'ttl', 'score', 'labels', 'manager', 'two words', 'é', 'if', 'nested', 'zip', 'street'];
const TAG_KEYS = ['k1', 'k2', 'role', 'odd key', ''];
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'like', 'has', 'is', 'principal', 'action', 'resource', 'context', '__cedar']);

const VALID_EXT: Record<ExtName, string[]> = {
  decimal: ['0.0', '1.5', '1.50', '-1.5', '1.2345', '922337203685477.5807', '-922337203685477.5808', '3.14', '10.0', '0.0001'],
  ipaddr: ['10.0.0.1', '10.0.0.0/8', '10.1.2.3/8', '127.0.0.1', '127.0.0.1/8', '::1', 'ff02::1', '224.0.0.1', '192.168.1.0/24', '2001:db8::/32', '0.0.0.0/0', '::/0', '10.0.0.1/32', '0:0:0:0:0:0:0:1', 'FF02::1'],
  datetime: ['2024-01-01', '2024-01-01T00:00:00Z', '2024-06-30T12:34:56.789Z', '2024-01-01T10:00:00+0100', '2024-01-01T10:00:00-0230', '1970-01-01', '2100-12-31T23:59:59Z', '1969-12-31T23:59:59.999Z', '2024-01-01T09:00:00Z', '0001-01-01'],
  duration: ['1d', '2h', '30m', '15s', '500ms', '1d2h3m4s5ms', '-1h', '0ms', '-2d12h', '24h', '86400000ms', '9223372036854775807ms', '-9223372036854775808ms'],
};
const INVALID_EXT: Record<ExtName, string[]> = {
  decimal: ['1.23456', '1', 'abc', '922337203685477.5808', '', '1.'],
  ipaddr: ['300.1.1.1', '10.0.0.1/33', 'abc', '10.0.0.01', '::1/129', '', '::ffff:10.0.0.1'],
  datetime: ['2024-13-01', '2024-01-01T25:00:00Z', '2024-1-1', '2024-01-01T00:00:00', 'x', '2024-02-30'],
  duration: ['1x', 'h', '1h1d', '', '1.5h', '9223372036854775807d'],
};
const EXT_FN: Record<ExtName, string> = { decimal: 'decimal', ipaddr: 'ip', datetime: 'datetime', duration: 'duration' };

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
/** Longs near the edges: i64 bounds, ±2^53 and beyond. */
const BIG_LONGS: bigint[] = [I64_MAX, I64_MIN, I64_MAX - 1n, I64_MIN + 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 62n, -(2n ** 62n), 4611686018427387904n, 3037000500n, 9007199254740993n];

const isIdent = (name: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !RESERVED.has(name);

/** A Cedar string literal (escapes, sometimes `\u{..}` for non-ASCII). */
function cedarString(r: Rng, s: string, pattern = false): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += r.chance(0.5) ? '\\t' : '\\u{9}';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\0') out += '\\0';
    else if (ch === "'") out += r.chance(0.5) ? "\\'" : "'";
    else if (ch === '*' && pattern) out += '\\*';
    else if (code > 127 && r.chance(0.4)) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

function tyKey(ty: Ty): string {
  switch (ty.k) {
    case 'Set':
      return `Set<${tyKey(ty.el)}>`;
    case 'Record':
      return `{${ty.fields.map((f) => `${f.name}${f.optional ? '?' : ''}:${tyKey(f.ty)}`).join(',')}}`;
    case 'Entity':
      return `E<${ty.type}>`;
    default:
      return ty.k;
  }
}

// ---------------------------------------------------------------------------------------------
// Model generation

type TypeNames = Pick<Model, 'user' | 'group' | 'doc' | 'folder' | 'enums'>;

function randomTy(r: Rng, m: TypeNames, depth: number): Ty {
  return r.weighted<() => Ty>([
    [4, () => LONG],
    [4, () => STRING],
    [2, () => BOOL],
    [depth > 0 ? 2 : 0, () => ({ k: 'Set', el: r.chance(0.3) ? { k: 'Entity', type: r.pick([m.group, m.user, m.folder]) } : randomTy(r, m, depth - 1) })],
    [depth > 0 ? 1.5 : 0, () => ({ k: 'Record', fields: randomFields(r, m, depth - 1, 1, 3) })],
    [2, () => ({ k: 'Entity', type: r.pick([m.user, m.group, m.doc, m.folder, ...m.enums]) })],
    [3, () => ({ k: r.pick(EXTS) })],
  ])();
}

function randomFields(r: Rng, m: TypeNames, depth: number, min: number, max: number): Field[] {
  const n = r.range(min, max);
  const names = new Set<string>();
  while (names.size < n) names.add(r.pick(FIELD_NAMES));
  return [...names].map((name) => ({ name, ty: randomTy(r, m, depth), optional: r.chance(0.25) }));
}

function generateModel(r: Rng): Model {
  const ns = r.weighted([
    [6, ''],
    [3, 'NS'],
    [1, 'A::B'],
  ]);
  const q = (name: string) => (ns === '' ? name : `${ns}::${name}`);
  const base = { user: q('User'), group: q('Group'), doc: q('Doc'), folder: q('Folder'), enums: r.chance(0.4) ? [q('Color')] : [] };
  const idsFor = () => [r.pick(['alice', 'bob', 'carol']), ...r.some(ID_POOL, 3)].filter((v, i, a) => a.indexOf(v) === i);
  const typeModel = (name: string, memberOf: string[]): EntityTypeModel => ({
    name,
    attrs: randomFields(r, base, 2, 1, 6),
    tags: r.chance(0.35) ? randomTy(r, base, 1) : undefined,
    memberOf,
    ids: idsFor(),
  });
  const types = [typeModel(base.user, [base.group]), typeModel(base.group, [base.group]), typeModel(base.doc, [base.folder]), typeModel(base.folder, [base.folder])];
  for (const name of base.enums) types.push({ name, attrs: [], tags: undefined, memberOf: [], ids: ['red', 'blue', 'ü'], isEnum: true });
  const actions: ActionModel[] = [
    { id: 'readGroup', groups: [], isGroup: true },
    { id: 'all', groups: [], isGroup: true },
    { id: 'read', groups: r.some(['readGroup', 'all'], 2), isGroup: false },
    { id: 'write', groups: r.some(['all'], 1), isGroup: false },
    { id: 'admin op', groups: r.some(['readGroup', 'all'], 2), isGroup: false },
  ];
  return {
    ns,
    schema: r.chance(0.35),
    ...base,
    actionType: q('Action'),
    types,
    actions,
    context: randomFields(r, base, 2, 0, 5),
    strings: [...r.some(STRING_POOL, 3), r.pick(ID_POOL), r.pick(STRING_POOL)],
    longs: [...new Set([r.range(-1, 3), r.range(0, 5), r.range(-3, 12), 0])],
    badType: r.weighted([
      [5, 0.01],
      [3, 0.04],
      [1, 0.12],
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// Schema text

function schemaText(r: Rng, m: Model): string {
  const commonTypes: string[] = [];
  const short = (type: string) => (m.ns === '' ? type : type.slice(m.ns.length + 2));
  const name = (n: string) => (isIdent(n) ? n : JSON.stringify(n));
  const printTy = (ty: Ty, top = false): string => {
    switch (ty.k) {
      case 'Set':
        return `Set<${printTy(ty.el)}>`;
      case 'Record': {
        const body = `{ ${ty.fields.map((f) => `${name(f.name)}${f.optional ? '?' : ''}: ${printTy(f.ty)}`).join(', ')} }`;
        if (top) return body;
        if (ty.alias === undefined && r.chance(0.3)) {
          ty.alias = `Rec${commonTypes.length}`;
          commonTypes.push(`type ${ty.alias} = ${body};`);
        }
        return ty.alias ?? body;
      }
      case 'Entity':
        return short(ty.type);
      default:
        return ty.k;
    }
  };
  const lines: string[] = [];
  for (const t of m.types) {
    if (t.isEnum) {
      lines.push(`entity ${short(t.name)} enum [${t.ids.map((id) => JSON.stringify(id)).join(', ')}];`);
      continue;
    }
    // An entity's attributes are a record type written out (a common type is not allowed there).
    const attrs = t.attrs.length === 0 && r.chance(0.5) ? '' : ` ${r.chance(0.3) ? '= ' : ''}${printTy({ k: 'Record', fields: t.attrs }, true)}`;
    lines.push(`entity ${short(t.name)}${t.memberOf.length ? ` in [${t.memberOf.map(short).join(', ')}]` : ''}${attrs}${t.tags ? ` tags ${printTy(t.tags)}` : ''};`);
  }
  const principals = [m.user, m.group].map(short).join(', ');
  const resources = [m.doc, m.folder, m.user].map(short).join(', ');
  const contextTy = printTy({ k: 'Record', fields: m.context });
  for (const a of m.actions) {
    const memberOf = a.groups.length ? ` in [${a.groups.map((g) => JSON.stringify(g)).join(', ')}]` : '';
    const appliesTo = a.isGroup ? '' : ` appliesTo { principal: [${principals}], resource: [${resources}], context: ${contextTy} }`;
    lines.push(`action ${JSON.stringify(a.id)}${memberOf}${appliesTo};`);
  }
  const body = [...commonTypes, ...lines];
  return m.ns === '' ? `${body.join('\n')}\n` : `namespace ${m.ns} {\n${body.map((l) => `  ${l}`).join('\n')}\n}\n`;
}

// ---------------------------------------------------------------------------------------------
// Values (entity and context data)

function longValue(r: Rng, m: Model): number | bigint {
  return r.weighted<() => number | bigint>([
    [6, () => r.pick(m.longs)],
    [2, () => r.range(-3, 12)],
    [2, () => r.range(-1_000_000, 1_000_000)],
    [1, () => asJsLong(r.pick(BIG_LONGS))],
  ])();
}

/** A Long as Verity holds it: a number when exact, else a bigint. */
const asJsLong = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/**
 * A JSON value of type `ty`. With probability `implicit` an entity reference or extension value
 * leaves out its `__entity` / `__extn` escape: a schema then reads it as the declared type;
 * without one it is a plain record or string.
 */
function valueOf(r: Rng, m: Model, ty: Ty, implicit: number, depth = 0): CedarValue {
  switch (ty.k) {
    case 'Long':
      return longValue(r, m);
    case 'String':
      return pickString(r, m);
    case 'Bool':
      return r.chance(0.5);
    case 'Set':
      return Array.from({ length: r.int(depth > 2 ? 2 : 4) }, () => valueOf(r, m, ty.el, implicit, depth + 1));
    case 'Record': {
      const out: Record<string, CedarValue> = {};
      for (const f of ty.fields) if (!(f.optional && r.chance(0.35))) out[f.name] = valueOf(r, m, f.ty, implicit, depth + 1);
      return out;
    }
    case 'Entity': {
      const uid = { type: ty.type, id: pickId(r, m, ty.type) };
      return r.chance(implicit) ? uid : { __entity: uid };
    }
    default: {
      const arg = r.pick(VALID_EXT[ty.k]);
      return r.chance(implicit) ? arg : { __extn: { fn: EXT_FN[ty.k], arg } };
    }
  }
}

/** A value Cedar refuses or a schema rejects: the error cases of entity and context data. */
function badValue(r: Rng, m: Model, ty: Ty | undefined): CedarValue {
  return r.weighted<() => CedarValue>([
    [2, () => 1.5],
    [1, () => null],
    [2, () => ({ __extn: { fn: EXT_FN[r.pick(EXTS)], arg: r.pick(INVALID_EXT[r.pick(EXTS)]) } })],
    [1, () => ({ __extn: { fn: 'nosuchfn', arg: 'x' } })],
    [1, () => 2n ** 63n],
    [1, () => ({ __entity: { type: 'Not A Type', id: 'x' } })],
    [3, () => valueOf(r, m, randomTy(r, m, 1), 0)],
    [ty ? 2 : 0, () => valueOf(r, m, { k: 'Set', el: ty ?? LONG }, 0)],
  ])();
}

const typeOf = (m: Model, name: string) => m.types.find((t) => t.name === name);

/** A string of the group's vocabulary (or any id or string now and then). */
const pickString = (r: Rng, m: Model) => r.weighted<() => string>([
  [6, () => r.pick(m.strings)],
  [1, () => r.pick(typeOf(m, r.pick(m.types).name)?.ids ?? ID_POOL)],
  [1, () => r.pick(STRING_POOL)],
])();

/** An id of `type` (its first id more often), or one no entity has. */
function pickId(r: Rng, m: Model, type: string, ghost = 0.07): string {
  const ids = typeOf(m, type)?.ids;
  if (!ids || r.chance(ghost)) return r.chance(0.5) ? 'ghost' : r.pick(ID_POOL);
  return r.chance(0.35) ? (ids[0] as string) : r.pick(ids);
}

// ---------------------------------------------------------------------------------------------
// Entities

interface JsonEntity {
  uid: EntityUid;
  attrs: Record<string, CedarValue>;
  parents: EntityUid[];
  tags?: Record<string, CedarValue>;
}

function generateEntities(r: Rng, m: Model): unknown[] {
  const entities: JsonEntity[] = [];
  const implicit = m.schema ? 0.3 : 0.03;
  // Same-type parents only point "forward" in the id list, so the graph is a DAG unless a cycle is added on purpose.
  for (const t of m.types) {
    t.ids.forEach((id, index) => {
      if (!r.chance(t.isEnum && m.schema ? 0.1 : 0.85)) return;
      const attrs: Record<string, CedarValue> = {};
      for (const f of t.attrs) {
        if (f.optional && r.chance(0.35)) continue;
        if (!m.schema && r.chance(0.06)) continue; // a missing attribute (an evaluation error where read)
        attrs[f.name] = !m.schema && r.chance(0.04) ? valueOf(r, m, randomTy(r, m, 1), 0) : valueOf(r, m, f.ty, implicit);
      }
      const parents: EntityUid[] = [];
      for (let k = t.memberOf.length ? r.int(3) : 0; k > 0; k--) {
        const type = r.pick(t.memberOf);
        const pool = typeOf(m, type)?.ids ?? [];
        const start = type === t.name ? index + 1 : 0;
        if (r.chance(0.1)) parents.push({ type, id: 'ghost-parent' });
        else if (start < pool.length) parents.push({ type, id: pool[r.range(start, pool.length - 1)] as string });
      }
      const entity: JsonEntity = { uid: { type: t.name, id }, attrs, parents: dedupeUids(parents) };
      if (t.tags && r.chance(0.8)) {
        entity.tags = {};
        for (const key of r.some(TAG_KEYS, 3)) entity.tags[key] = valueOf(r, m, t.tags, implicit);
      } else if (!m.schema && r.chance(0.1)) {
        entity.tags = { [r.pick(TAG_KEYS)]: valueOf(r, m, randomTy(r, m, 1), 0) };
      }
      entities.push(entity);
    });
  }
  if (!m.schema) {
    for (const a of m.actions) {
      if (!r.chance(0.9)) continue;
      const attrs: Record<string, CedarValue> = r.chance(0.15) ? { level: longValue(r, m) } : {};
      entities.push({ uid: { type: m.actionType, id: a.id }, attrs, parents: a.groups.map((g) => ({ type: m.actionType, id: g })) });
    }
  }
  if (r.chance(m.schema ? 0.1 : 0.05)) mutateEntities(r, m, entities);
  return entities;
}

function dedupeUids(uids: EntityUid[]): EntityUid[] {
  const seen = new Set<string>();
  return uids.filter((u) => {
    const key = `${u.type}\0${u.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One deliberate defect: what Cedar refuses outright or (with a schema) as non-conforming. */
function mutateEntities(r: Rng, m: Model, entities: JsonEntity[]): void {
  const victim = entities.length ? r.pick(entities) : undefined;
  if (!victim) return;
  const t = typeOf(m, victim.uid.type);
  const field = t && t.attrs.length ? r.pick(t.attrs) : undefined;
  r.weighted<() => void>([
    [3, () => (victim.attrs[field?.name ?? 'age'] = badValue(r, m, field?.ty))], // wrong type
    [2, () => (victim.attrs['undeclared attr'] = 1)], // undeclared attribute
    [field && !field.optional ? 2 : 0, () => delete victim.attrs[field?.name ?? '']], // missing required
    [2, () => victim.parents?.push({ type: r.pick([victim.uid.type === m.doc ? m.user : m.doc, m.actionType, ...m.enums]), id: r.pick(['alice', 'read', 'red']) })], // wrong parent type
    [1, () => entities.push({ uid: { type: 'Undeclared', id: 'x' }, attrs: {}, parents: [] })], // undeclared entity type
    [1, () => entities.push({ uid: { type: m.actionType, id: 'read' }, attrs: {}, parents: [] })], // an action entity
    [1, () => entities.push({ ...victim, attrs: {} })], // the same uid twice
    [1, () => (victim.tags = { [r.pick(TAG_KEYS)]: badValue(r, m, t?.tags) })], // bad tag
    // The entity JSON's own shape: left-out or extra keys, escaped uids, a tags array.
    [0.7, () => delete (victim as Partial<JsonEntity>).attrs],
    [0.7, () => delete (victim as Partial<JsonEntity>).parents],
    [0.4, () => ((victim as unknown as Record<string, unknown>)['extra'] = 1)],
    [0.4, () => ((victim as unknown as Record<string, unknown>)['uid'] = { __entity: victim.uid })],
    [0.4, () => ((victim as unknown as Record<string, unknown>)['parents'] = victim.parents.map((p) => ({ __entity: p })))],
    [0.3, () => ((victim as unknown as Record<string, unknown>)['tags'] = ['k1'])],
    [
      2,
      () => {
        // a cycle
        const group = entities.filter((e) => e.uid.type === victim.uid.type);
        const other = r.pick(group);
        victim.parents.push(other.uid);
        other.parents.push(victim.uid);
      },
    ],
  ])();
}

// ---------------------------------------------------------------------------------------------
// Expressions

/** What an expression can read: variables, and attribute paths through records and entities. */
interface Path {
  text: string;
  ty: Ty;
  /** The base and last attribute, for a `has` guard. */
  base?: string;
  attr?: string;
  /** Identifier-only attribute chain from a variable (for `has a.b`). */
  chain?: { root: string; attrs: string[] };
}

class ExprGen {
  private readonly paths: Path[];
  constructor(
    private readonly r: Rng,
    private readonly m: Model,
    principalType: string,
    resourceType: string,
  ) {
    this.paths = [];
    const roots: Array<[string, Ty]> = [
      ['principal', { k: 'Entity', type: principalType }],
      ['resource', { k: 'Entity', type: resourceType }],
      ['action', { k: 'Entity', type: m.actionType }],
      ['context', { k: 'Record', fields: m.context }],
    ];
    for (const [name, ty] of roots) this.expand(name, ty, 3, { root: name, attrs: [] });
  }

  private expand(text: string, ty: Ty, hops: number, chain: { root: string; attrs: string[] } | undefined, base?: string, attr?: string): void {
    this.paths.push({ text, ty, ...(base === undefined ? {} : { base }), ...(attr === undefined ? {} : { attr }), ...(chain && chain.attrs.length ? { chain } : {}) });
    if (hops === 0) return;
    const fields = ty.k === 'Record' ? ty.fields : ty.k === 'Entity' ? this.attrsOf(ty.type) : [];
    for (const f of fields) {
      const next = chain && isIdent(f.name) ? { root: chain.root, attrs: [...chain.attrs, f.name] } : undefined;
      this.expand(this.access(text, f.name), f.ty, hops - 1, next, text, f.name);
    }
  }

  /** An entity type's attributes; without a schema, actions may have a `level` too. */
  private attrsOf(type: string): Field[] {
    if (type === this.m.actionType && !this.m.schema) return [{ name: 'level', ty: LONG, optional: true }];
    return typeOf(this.m, type)?.attrs ?? [];
  }

  private access(text: string, name: string): string {
    return isIdent(name) && this.r.chance(0.85) ? `${text}.${name}` : `${text}[${cedarString(this.r, name)}]`;
  }

  private pathsOf(ty: Ty): Path[] {
    const key = tyKey(ty);
    return this.paths.filter((p) => tyKey(p.ty) === key);
  }

  /** Any type some path has, or a fresh random one. */
  private someTy(): Ty {
    return this.r.chance(0.7) ? this.r.pick(this.paths).ty : randomTy(this.r, this.m, 1);
  }

  private entityLiteral(type: string, id?: string): string {
    return `${type}::${cedarString(this.r, id ?? pickId(this.r, this.m, type))}`;
  }

  private extLiteral(ext: ExtName): string {
    const arg = this.r.chance(0.08) ? this.r.pick(INVALID_EXT[ext]) : this.r.pick(VALID_EXT[ext]);
    return `${EXT_FN[ext]}(${cedarString(this.r, arg)})`;
  }

  private longLiteral(): string {
    const v = this.r.weighted<() => bigint>([
      [6, () => BigInt(this.r.pick(this.m.longs))],
      [2, () => BigInt(this.r.range(-3, 12))],
      [2, () => BigInt(this.r.range(-100000, 100000))],
      [1.5, () => this.r.pick(BIG_LONGS)],
    ])();
    return v < 0n ? `(${v})` : `${v}`;
  }

  literal(ty: Ty, depth: number): string {
    const r = this.r;
    switch (ty.k) {
      case 'Long':
        return this.longLiteral();
      case 'String':
        return cedarString(r, pickString(r, this.m));
      case 'Bool':
        return r.chance(0.5) ? 'true' : 'false';
      case 'Set':
        return `[${Array.from({ length: r.int(4) }, () => this.gen(ty.el, depth - 1)).join(', ')}]`;
      case 'Record':
        return `{${ty.fields
          .filter((f) => !(f.optional && r.chance(0.4)))
          .map((f) => `${isIdent(f.name) && r.chance(0.7) ? f.name : cedarString(r, f.name)}: ${this.gen(f.ty, depth - 1)}`)
          .join(', ')}}`;
      case 'Entity':
        return this.entityLiteral(ty.type);
      default:
        return this.extLiteral(ty.k);
    }
  }

  /** An expression of type `ty` (usually), at most `depth` levels deep. */
  gen(want: Ty, depth: number): string {
    const r = this.r;
    const ty = r.chance(this.m.badType) ? randomTy(r, this.m, 1) : want;
    if (depth <= 0) {
      const paths = this.pathsOf(ty);
      return paths.length && r.chance(0.6) ? r.pick(paths).text : this.literal(ty, 0);
    }
    const d = depth - 1;
    const paths = this.pathsOf(ty);
    const common: Array<[number, () => string]> = [
      [3, () => this.literal(ty, depth)],
      [paths.length ? 5 : 0, () => r.pick(paths).text],
      [0.4, () => `(if ${this.gen(BOOL, d)} then ${this.gen(ty, d)} else ${this.gen(ty, d)})`],
      [this.tagHolders(ty).length ? 0.8 : 0, () => `${r.pick(this.tagHolders(ty))}.getTag(${this.tagKey(d)})`],
      // An extension constructor on a computed string: its parse errors happen at evaluation.
      [EXTS.includes(ty.k as ExtName) ? 0.4 : 0, () => `${EXT_FN[ty.k as ExtName]}(${this.gen(STRING, d)})`],
    ];
    switch (ty.k) {
      case 'Bool':
        return r.weighted([...common, ...this.boolForms(d)])();
      case 'Long':
        return r.weighted<() => string>([
          ...common,
          [3.5, () => `(${this.gen(LONG, d)} ${r.pick(['+', '-', '*'])} ${this.gen(LONG, d)})`],
          [1, () => `(-${this.gen(LONG, d)})`],
          [1.2, () => `${this.gen({ k: 'duration' }, d)}.${r.pick(['toDays', 'toHours', 'toMinutes', 'toSeconds', 'toMilliseconds'])}()`],
        ])();
      case 'Entity':
        return r.weighted<() => string>([...common, [3, () => r.pick(['principal', 'resource', 'action'])]])();
      case 'datetime':
        return r.weighted<() => string>([
          ...common,
          [1, () => `${this.gen(ty, d)}.offset(${this.gen({ k: 'duration' }, d)})`],
          [0.7, () => `${this.gen(ty, d)}.toDate()`],
        ])();
      case 'duration':
        return r.weighted<() => string>([
          ...common,
          [1, () => `${this.gen({ k: 'datetime' }, d)}.durationSince(${this.gen({ k: 'datetime' }, d)})`],
          [0.7, () => `${this.gen({ k: 'datetime' }, d)}.toTime()`],
        ])();
      default:
        return r.weighted(common)();
    }
  }

  private tagHolders(ty: Ty): string[] {
    const key = tyKey(ty);
    return this.paths.filter((p) => p.ty.k === 'Entity' && (typeOf(this.m, p.ty.type)?.tags ?? null) !== null && tyKey(typeOf(this.m, p.ty.type)?.tags as Ty) === key).map((p) => p.text);
  }

  private tagKey(d: number): string {
    return this.r.chance(0.85) ? cedarString(this.r, this.r.pick(TAG_KEYS)) : this.gen(STRING, d);
  }

  private entityExpr(d: number): string {
    const entityPaths = this.paths.filter((p) => p.ty.k === 'Entity');
    return this.r.chance(0.8) ? this.r.pick(entityPaths).text : this.gen({ k: 'Entity', type: this.r.pick(this.m.types).name }, d);
  }

  private boolForms(d: number): Array<[number, () => string]> {
    const r = this.r;
    const m = this.m;
    const setPaths = this.paths.filter((p) => p.ty.k === 'Set');
    const holders = this.paths.filter((p) => p.ty.k === 'Entity' || p.ty.k === 'Record');
    const guarded = this.paths.filter((p) => p.base !== undefined);
    const chains = this.paths.filter((p) => p.chain !== undefined && p.chain.attrs.length >= 2);
    const strings = this.paths.filter((p) => p.ty.k === 'String');
    const parentTypes = [m.group, m.folder, m.user, m.doc, m.group, m.folder, m.actionType, ...m.enums];
    return [
      [1.5, () => `!${this.gen(BOOL, d)}`],
      [3, () => `(${this.gen(BOOL, d)} && ${this.gen(BOOL, d)})`],
      [3, () => `(${this.gen(BOOL, d)} || ${this.gen(BOOL, d)})`],
      [4, () => `(${this.gen(LONG, d)} ${r.pick(['<', '<=', '>', '>='])} ${this.gen(LONG, d)})`],
      [
        4,
        () => {
          const t = this.someTy();
          return `(${this.gen(t, d)} ${r.pick(['==', '==', '!='])} ${this.gen(r.chance(0.9) ? t : this.someTy(), d)})`;
        },
      ],
      [
        2.5,
        () => {
          const ext = r.pick<ExtName>(['datetime', 'duration']);
          return `(${this.gen({ k: ext }, d)} ${r.pick(['<', '<=', '>', '>=', '==', '!='])} ${this.gen({ k: ext }, d)})`;
        },
      ],
      [
        3,
        () => {
          const rhs = r.weighted<() => string>([
            [3, () => this.entityLiteral(r.pick(parentTypes))],
            [1.5, () => `[${Array.from({ length: r.int(3) + 1 }, () => this.entityLiteral(r.pick(parentTypes))).join(', ')}]`],
            [1.5, () => this.entityExpr(d)],
            [setPaths.length ? 1 : 0, () => r.pick(setPaths).text],
          ])();
          return `(${this.entityExpr(d)} in ${rhs})`;
        },
      ],
      [
        3,
        () => {
          const h = r.pick(holders);
          const fields = h.ty.k === 'Record' ? h.ty.fields : h.ty.k === 'Entity' ? this.attrsOf(h.ty.type) : [];
          const name = fields.length && r.chance(0.8) ? r.pick(fields).name : r.pick(FIELD_NAMES);
          // Now and then `has` on whatever the generator makes (a type error unless a record or entity).
          const lhs = r.chance(0.08) ? this.gen(this.someTy(), d) : h.text;
          return `(${lhs} has ${isIdent(name) && r.chance(0.7) ? name : cedarString(r, name)})`;
        },
      ],
      [
        chains.length ? 1.5 : 0,
        () => {
          const chain = r.pick(chains).chain as NonNullable<Path['chain']>;
          return `(${chain.root} has ${chain.attrs.join('.')})`;
        },
      ],
      [
        guarded.length ? 4 : 0,
        () => {
          const p = r.pick(guarded);
          const use = r.chance(0.5) ? `(${p.text} == ${this.gen(p.ty, d)})` : this.useOf(p, d);
          return `(${p.base} has ${cedarString(r, p.attr ?? '')} && ${use})`;
        },
      ],
      [
        2.5,
        () => {
          const target = strings.length && r.chance(0.8) ? r.pick(strings).text : this.gen(STRING, d);
          return `(${target} like ${this.pattern()})`;
        },
      ],
      [
        2,
        () => {
          const type = r.pick([...parentTypes, m.actionType, 'Other']);
          const inPart = r.chance(0.35) ? ` in ${r.chance(0.7) ? this.entityLiteral(r.pick(parentTypes)) : this.entityExpr(d)}` : '';
          return `(${this.entityExpr(d)} is ${type}${inPart})`;
        },
      ],
      [
        2,
        () => {
          const el = this.someTy();
          const set = setPaths.length && r.chance(0.6) ? r.pick(setPaths) : undefined;
          const elTy = set && set.ty.k === 'Set' ? set.ty.el : el;
          return `${set ? set.text : this.gen({ k: 'Set', el: elTy }, d)}.contains(${this.gen(elTy, d)})`;
        },
      ],
      [
        2,
        () => {
          const set = setPaths.length && r.chance(0.6) ? r.pick(setPaths) : undefined;
          const ty: Ty = set ? set.ty : { k: 'Set', el: this.someTy() };
          return `${set ? set.text : this.gen(ty, d)}.${r.pick(['containsAll', 'containsAny'])}(${this.gen(ty, d)})`;
        },
      ],
      [0.8, () => `${setPaths.length && r.chance(0.7) ? r.pick(setPaths).text : this.gen({ k: 'Set', el: this.someTy() }, d)}.isEmpty()`],
      [1.5, () => `${this.entityExpr(d)}.hasTag(${this.tagKey(d)})`],
      [2, () => (r.chance(0.75) ? `${this.gen({ k: 'ipaddr' }, d)}.${r.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}()` : `${this.gen({ k: 'ipaddr' }, d)}.isInRange(${this.gen({ k: 'ipaddr' }, d)})`)],
      [2, () => `${this.gen({ k: 'decimal' }, d)}.${r.pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'])}(${this.gen({ k: 'decimal' }, d)})`],
    ];
  }

  /** A boolean use of a path: comparisons, methods, as its type allows. */
  private useOf(p: Path, d: number): string {
    const r = this.r;
    switch (p.ty.k) {
      case 'Bool':
        return p.text;
      case 'Long':
        return `(${p.text} ${r.pick(['<', '<=', '>', '>='])} ${this.gen(LONG, d)})`;
      case 'String':
        return `(${p.text} like ${this.pattern()})`;
      case 'Set':
        return `${p.text}.contains(${this.gen(p.ty.el, d)})`;
      case 'Entity':
        return `(${p.text} in ${this.entityLiteral(r.pick([this.m.group, this.m.folder, p.ty.type]))})`;
      case 'ipaddr':
        return `${p.text}.isInRange(${this.extLiteral('ipaddr')})`;
      case 'decimal':
        return `${p.text}.greaterThan(${this.extLiteral('decimal')})`;
      default:
        return `(${p.text} == ${this.gen(p.ty, d)})`;
    }
  }

  /** A `like` pattern, usually derived from a string the data holds, with `*` and escaped `\*`. */
  private pattern(): string {
    const r = this.r;
    const source = pickString(r, this.m);
    let text = '"';
    let lastStar = false;
    for (const ch of source) {
      if (r.chance(0.25)) {
        if (!lastStar || r.chance(0.2)) text += '*';
        lastStar = true;
        continue;
      }
      lastStar = false;
      const lit = cedarString(r, ch, true);
      text += lit.slice(1, -1);
    }
    if (r.chance(0.3)) text += '*';
    if (r.chance(0.1)) text = `"${r.pick(['*', '**', '', '\\*', 'a\\*b', '*\\u{1F642}*'])}`;
    return `${text}"`;
  }
}

// ---------------------------------------------------------------------------------------------
// Policies

function scope(r: Rng, m: Model, slot: boolean): { principal: string; action: string; resource: string; pType: string; rType: string } {
  const uidText = (type: string) => `${type}::${cedarString(r, pickId(r, m, type))}`;
  let pType = m.user;
  let rType = m.doc;
  const entityScope = (v: 'principal' | 'resource', own: string[], parents: string[], useSlot: boolean): string => {
    if (useSlot) {
      return r.weighted([
        [3, `${v} == ?${v}`],
        [3, `${v} in ?${v}`],
        [1, `${v} is ${own[0]} in ?${v}`],
      ]);
    }
    return r.weighted<() => string>([
      [9, () => v],
      [2, () => `${v} == ${uidText(r.pick(own))}`],
      [2, () => `${v} in ${uidText(r.pick([...parents, ...own]))}`],
      [
        1.5,
        () => {
          const t = r.pick(own);
          if (v === 'principal') pType = t;
          else rType = t;
          return `${v} is ${t}`;
        },
      ],
      [1, () => `${v} is ${r.pick(own)} in ${uidText(r.pick(parents))}`],
    ])();
  };
  const slots = slot ? r.weighted<Array<'principal' | 'resource'>>([
    [2, ['principal']],
    [1, ['resource']],
    [1, ['principal', 'resource']],
  ]) : [];
  const principal = entityScope('principal', [m.user, m.group], [m.group], slots.includes('principal'));
  const resource = entityScope('resource', [m.doc, m.folder], [m.folder], slots.includes('resource'));
  const actionUid = (id: string) => `${m.actionType}::${cedarString(r, id)}`;
  const action = r.weighted<() => string>([
    [7, () => 'action'],
    [2, () => `action == ${actionUid(r.pick(m.actions).id)}`],
    [1.5, () => `action in ${actionUid(r.pick(['readGroup', 'all', 'read']))}`],
    [1.5, () => `action in [${r.some(m.actions, 3).map((a) => actionUid(a.id)).join(', ') || actionUid('read')}]`],
  ])();
  return { principal, action, resource, pType, rType };
}

function policyText(r: Rng, m: Model, id: string, slot: boolean): string {
  const s = scope(r, m, slot);
  const g = new ExprGen(r, m, s.pType, s.rType);
  const annotations: string[] = [];
  if (r.chance(0.3)) annotations.push(`@id(${cedarString(r, id)})`);
  if (r.chance(0.2)) annotations.push(`@${r.pick(['advice', 'reason_user', 'reason_admin', 'note'])}(${cedarString(r, r.pick(STRING_POOL))})`);
  if (r.chance(0.05)) annotations.push('@flag');
  const effect = r.chance(0.8) ? 'permit' : 'forbid';
  const conditions: string[] = [];
  const n = r.weighted([
    [3, 0],
    [5, 1],
    [2, 2],
    [0.5, 3],
  ]);
  for (let i = 0; i < n; i++) {
    const depth = r.weighted([
      [2, 1],
      [4, 2],
      [3, 3],
      [1, 4],
    ]);
    // A disjunction now and then keeps the share of satisfied policies (and allows) up.
    const condition = r.chance(0.3) ? `${g.gen(BOOL, depth - 1)} || ${g.gen(BOOL, depth - 1)}` : g.gen(BOOL, depth);
    conditions.push(`${r.chance(0.6) ? 'when' : 'unless'} { ${condition} }`);
  }
  const sep = r.chance(0.5) ? '\n' : ' ';
  return `${annotations.map((a) => `${a}${sep}`).join('')}${effect} (${s.principal}, ${s.action}, ${s.resource})${conditions.map((c) => `${sep}${c}`).join('')};`;
}

// ---------------------------------------------------------------------------------------------
// Requests

function request(r: Rng, m: Model): Omit<DiffRequest, 'entities'> {
  const uidOf = (types: string[]): EntityUid => {
    const type = r.pick(types);
    return { type, id: pickId(r, m, type, 0.1) };
  };
  const principal = r.weighted<() => EntityUid>([
    [8, () => uidOf([m.user])],
    [1.5, () => uidOf([m.group])],
    [0.5, () => uidOf([m.doc])],
    [0.3, () => ({ type: 'Other', id: 'x' })],
    [0.2, () => ({ type: m.actionType, id: r.pick(m.actions).id })],
    [m.enums.length ? 0.2 : 0, () => uidOf(m.enums)],
  ])();
  const resource = r.weighted<() => EntityUid>([
    [7, () => uidOf([m.doc])],
    [2, () => uidOf([m.folder])],
    [0.7, () => uidOf([m.user])],
  ])();
  // With a schema, an action group (declared without appliesTo) takes only an empty context.
  const actions = m.schema && r.chance(0.95) ? m.actions.filter((a) => !a.isGroup) : m.actions;
  const action = { type: m.actionType, id: r.chance(0.98) ? r.pick(actions).id : 'undeclared' };
  const context: Record<string, CedarValue> = {};
  for (const f of m.context) {
    if (f.optional && r.chance(0.3)) continue;
    if (r.chance(m.schema ? 0.02 : 0.05)) continue;
    context[f.name] = r.chance(0.015) ? badValue(r, m, f.ty) : valueOf(r, m, f.ty, m.schema ? 0.2 : 0.03);
  }
  if (r.chance(m.schema ? 0.02 : 0.1)) context['extra'] = valueOf(r, m, randomTy(r, m, 1), 0.1);
  return { principal, action, resource, context };
}

// ---------------------------------------------------------------------------------------------
// Groups

export interface GenerateOptions {
  /** Requests (with their own entity lists) per policy set. */
  requests: number;
}

/** Group `group` of run `seed`: one policy set (and maybe schema) with `options.requests` requests. */
export function generateGroup(seed: number, group: number, options: GenerateOptions): DiffGroup {
  const r = new Rng(mulberry32(mixSeed(seed, group)));
  const m = generateModel(r);
  const policies: Record<string, string> = {};
  const templates: Record<string, string> = {};
  const links: TemplateLink[] = [];
  const policyCount = r.range(1, 7);
  for (let i = 0; i < policyCount; i++) {
    const id = r.chance(0.1) ? `p.${i}/${r.pick(['x', 'ü', 'a b'])}` : `p${i}`;
    policies[id] = r.chance(0.004) ? r.pick(UNPARSEABLE) : policyText(r, m, id, false);
  }
  const templateCount = r.weighted([
    [6, 0],
    [3, 1],
    [1, 2],
  ]);
  for (let i = 0; i < templateCount; i++) {
    const id = `t${i}`;
    const text = policyText(r, m, id, true);
    templates[id] = text;
    for (let k = r.range(1, 3); k > 0; k--) {
      const values: TemplateLink['values'] = {};
      const pick = (types: string[]): EntityUid => {
        const type = r.pick(types);
        return { type, id: pickId(r, m, type, 0.1) };
      };
      if (text.includes('?principal')) values['?principal'] = pick([m.user, m.group]);
      if (text.includes('?resource')) values['?resource'] = pick([m.doc, m.folder]);
      links.push({ id: `l${links.length}`, templateId: id, values });
    }
  }
  const schema = m.schema ? schemaText(r, m) : undefined;
  const requests: DiffRequest[] = [];
  let entities = generateEntities(r, m);
  for (let i = 0; i < options.requests; i++) {
    if (i > 0 && r.chance(0.5)) entities = generateEntities(r, m);
    requests.push({ ...request(r, m), entities });
  }
  return { seed, group, ...(schema === undefined ? {} : { schema }), policies, templates, links, requests };
}
