/**
 * Generated oracle stores: fixtures with schemas (plain and namespaced), action groups,
 * templates and links, deep group and folder hierarchies, attribute chains through entities,
 * entity tags, decimal / ipaddr / datetime values, sets, records, `like`, `has`, policies that
 * name entities, context entity references, 64-bit integers beyond 2^53, runtime errors —
 * and random requests from a seeded PRNG, so every failure reproduces from (seed, count).
 */
import type { CedarValue, Entity, EntityUid, TemplateLink } from '@verity/core';
import type { OracleRequest, OracleStore } from './model.js';

/** mulberry32: small, fast, good enough to pick requests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Random {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  some<T>(items: readonly T[], max: number): T[] {
    const n = this.int(max + 1);
    return [...new Set(Array.from({ length: n }, () => this.pick(items)))];
  }
}

const uid = (type: string, id: string): EntityUid => ({ type, id });
const ref = (type: string, id: string): CedarValue => ({ __entity: { type, id } });
const extn = (fn: string, arg: string): CedarValue => ({ __extn: { fn, arg } });

/**
 * One policy file as Verity gets it and as the oracle gets it: policies without `@id` are
 * named `<stem>.<N>` by Verity (N = position in the file), so the oracle is given the same
 * ids — a different name from Verity is a mismatch.
 */
function policyFile(stem: string, policies: string[]): { file: Record<string, string>; byId: Record<string, string>; templates: Record<string, string> } {
  const byId: Record<string, string> = {};
  const templates: Record<string, string> = {};
  policies.forEach((text, i) => {
    const annotated = /^@id\("([^"]+)"\)/.exec(text)?.[1];
    const id = annotated ?? `${stem}.${i}`;
    (/\?principal|\?resource/.test(text) ? templates : byId)[id] = text;
  });
  return { file: { [`${stem}.cedar`]: policies.join('\n\n') }, byId, templates };
}

interface FixtureParts {
  name: string;
  schema?: string;
  validationMode: 'strict' | 'off';
  settings: OracleStore['settings'];
  files: Array<ReturnType<typeof policyFile>>;
  links: TemplateLink[];
  entities: Entity[];
  request: (r: Random) => Omit<OracleRequest, 'label'>;
}

function toStore(parts: FixtureParts, seed: number, count: number): OracleStore {
  const r = new Random(prng(seed));
  const staticPolicies: Record<string, string> = {};
  const templates: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const f of parts.files) {
    Object.assign(staticPolicies, f.byId);
    Object.assign(templates, f.templates);
    Object.assign(files, f.file);
  }
  return {
    name: `gen/${parts.name}`,
    tenant: `g-${parts.name}-${seed}`,
    ...(parts.schema === undefined ? {} : { schema: parts.schema }),
    validationMode: parts.validationMode,
    files,
    links: parts.links,
    entities: parts.entities,
    settings: parts.settings,
    oraclePolicies: {
      staticPolicies,
      templates,
      templateLinks: parts.links.map((l) => ({ templateId: l.templateId, newId: l.id, values: l.values as Record<string, EntityUid> })),
    },
    oracleTexts: staticPolicies,
    requests: Array.from({ length: count }, (_, i) => ({ label: `gen/${parts.name}@seed${seed}#${i}`, ...parts.request(r) })),
  };
}

// ---------------------------------------------------------------------------------------------
// docs: a document system with a schema, action groups, templates, tags, extension types.

const DOCS_SCHEMA = `
type Ctx = { ip: ipaddr, now: datetime, mfa: Bool, amount: decimal, tags: Set<String>, delegate?: User, team?: Group };
entity Group in [Group] { name: String };
entity User in [Group] { level: Long, dept: String, email: String, active: Bool, manager?: User } tags String;
entity Folder in [Folder] { owner: User, viewers: Group, depth: Long };
entity Doc in [Folder] {
  owner: User, folder: Folder, public: Bool, level: Long, labels: Set<String>, created: datetime,
  editors: Set<User>, meta: { region: String, score?: decimal }
} tags String;
action readOnly;
action edit;
action view, list in [readOnly] appliesTo { principal: User, resource: [Doc, Folder], context: Ctx };
action comment in [readOnly, edit] appliesTo { principal: User, resource: Doc, context: Ctx };
action write, delete in [edit] appliesTo { principal: User, resource: Doc, context: Ctx };
action share appliesTo { principal: User, resource: Doc, context: Ctx };
action admin appliesTo { principal: [User, Group], resource: [Doc, Folder], context: Ctx };
`;

// Fourteen policies without @id in one file: Verity names them rules.0 … rules.13 in file order.
const DOCS_RULES = [
  'permit(principal in Group::"readers", action in Action::"readOnly", resource);',
  'permit(principal, action in Action::"edit", resource is Doc) when { resource.owner == principal };',
  'permit(principal, action == Action::"view", resource is Doc) when { resource.public };',
  'forbid(principal, action, resource) when { principal is User && principal.hasTag("suspended") };',
  'permit(principal, action == Action::"write", resource is Doc) when { resource.editors.contains(principal) && context.mfa };',
  'permit(principal, action in Action::"readOnly", resource is Doc) when { principal.level >= resource.level && resource.labels.containsAny(["public", "internal"]) };',
  'forbid(principal, action in Action::"edit", resource is Doc) when { resource.labels.contains("locked") } unless { principal in Group::"admins" };',
  'permit(principal, action == Action::"share", resource is Doc) when { principal.email like "*@example.com" && resource.owner has manager && resource.owner.manager == principal };',
  'permit(principal, action in Action::"readOnly", resource is Doc) when { context.ip.isInRange(ip("10.0.0.0/8")) && context.amount.lessThan(decimal("100.00")) && principal in resource.folder.viewers };',
  'permit(principal, action == Action::"list", resource is Folder) when { resource.owner == principal || principal in resource.viewers };',
  'forbid(principal, action == Action::"write", resource is Doc) when { context.now < resource.created };',
  'permit(principal, action == Action::"comment", resource is Doc) when { resource.hasTag(principal.dept) && resource.getTag(principal.dept) == "open" };',
  'permit(principal is User, action == Action::"admin", resource) when { Group::"admins".name == "admins" && principal in Group::"admins" && principal.active };',
  'permit(principal, action in Action::"readOnly", resource) when { context has delegate && context.delegate in Group::"trusted" && context.delegate.active };',
  'permit(principal, action == Action::"view", resource is Doc) when { resource.meta has score && resource.meta.score.greaterThanOrEqual(decimal("0.5")) && resource.meta.region like "eu-*" };',
  'forbid(principal, action == Action::"delete", resource) unless { context.tags.contains("approved") };',
];

const DOCS_NAMED = [
  '@id("deep-members") permit(principal in Group::"g7", action == Action::"view", resource in Folder::"f0");',
  '@id("team-ctx") permit(principal, action == Action::"comment", resource) when { context has team && principal in context.team && context.team.name like "team-*" };',
  '@id("manager-chain") permit(principal, action == Action::"view", resource is Doc) when { resource.owner has manager && resource.owner.manager has manager && resource.owner.manager.manager == principal };',
  '@id("t-owner") permit(principal == ?principal, action in Action::"edit", resource in ?resource);',
  '@id("t-viewer") permit(principal in ?principal, action in Action::"readOnly", resource == ?resource) when { context.mfa };',
  '@id("t-block") forbid(principal == ?principal, action, resource in ?resource) unless { principal in Group::"admins" };',
];

function docsFixture(seed: number): FixtureParts {
  const r = new Random(prng(seed * 7919 + 1));
  const entities: Entity[] = [];
  // Groups: a chain g0 in g1 in … g7, plus named groups and cross edges (a DAG).
  const named = ['readers', 'admins', 'trusted', 'team-red', 'team-blue', 'staff'];
  const groups = [...Array.from({ length: 8 }, (_, i) => `g${i}`), ...named];
  for (const g of groups) {
    const parents: EntityUid[] = [];
    const chain = /^g(\d)$/.exec(g);
    if (chain && Number(chain[1]) < 7) parents.push(uid('Group', `g${Number(chain[1]) + 1}`));
    if (r.chance(0.3)) parents.push(uid('Group', r.pick(named.filter((n) => n !== g))));
    entities.push({ uid: uid('Group', g), attrs: { name: g }, parents: parents.filter((p, i, a) => a.findIndex((q) => q.id === p.id) === i && p.id !== g) });
  }
  // Break any cycle the cross edges made among named groups: keep only edges to later names.
  for (const e of entities) e.parents = e.parents.filter((p) => !named.includes(e.uid.id) || !named.includes(p.id) || named.indexOf(p.id) > named.indexOf(e.uid.id));
  const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
  users.forEach((u, i) => {
    const attrs: Record<string, CedarValue> = {
      level: r.int(6),
      dept: r.pick(['eng', 'ops', 'hr', 'sales']),
      email: `${u}@${r.pick(['example.com', 'example.org', 'corp.example.com'])}`,
      active: r.chance(0.8),
    };
    if (i > 0 && r.chance(0.7)) attrs.manager = ref('User', `u${r.int(i)}`);
    const tags: Record<string, CedarValue> = {};
    if (r.chance(0.15)) tags.suspended = 'yes';
    if (r.chance(0.3)) tags.badge = r.pick(['a', 'b']);
    entities.push({ uid: uid('User', u), attrs, parents: r.some(groups, 3).map((g) => uid('Group', g)), tags });
  });
  // Folders: a tree six deep.
  const folders = Array.from({ length: 20 }, (_, i) => `f${i}`);
  folders.forEach((f, i) => {
    const parent = i === 0 ? [] : [uid('Folder', `f${Math.floor((i - 1) / 3)}`)];
    entities.push({ uid: uid('Folder', f), attrs: { owner: ref('User', r.pick(users)), viewers: ref('Group', r.pick(groups)), depth: i }, parents: parent });
  });
  const docs = Array.from({ length: 50 }, (_, i) => `d${i}`);
  for (const d of docs) {
    const folder = r.pick(folders);
    const meta: Record<string, CedarValue> = { region: r.pick(['eu-west', 'eu-north', 'us-east', 'ap-1']) };
    if (r.chance(0.6)) meta.score = extn('decimal', r.pick(['0.1000', '0.5', '0.75', '1.0', '0.4999']));
    const tags: Record<string, CedarValue> = {};
    for (const dept of r.some(['eng', 'ops', 'hr', 'sales'], 2)) tags[dept] = r.pick(['open', 'closed']);
    entities.push({
      uid: uid('Doc', d),
      attrs: {
        owner: ref('User', r.pick(users)),
        folder: ref('Folder', folder),
        public: r.chance(0.2),
        level: r.int(6),
        labels: r.some(['public', 'internal', 'locked', 'draft'], 3),
        created: extn('datetime', r.pick(['2024-01-01', '2025-06-15T12:00:00Z', '2026-12-31T23:59:59.999Z'])),
        editors: r.some(users, 4).map((u) => ref('User', u)),
        meta,
      },
      parents: [uid('Folder', folder)],
      tags,
    });
  }
  const links: TemplateLink[] = Array.from({ length: 12 }, (_, i) => {
    const kind = r.pick(['t-owner', 't-viewer', 't-block']);
    if (kind === 't-owner') return { id: `link-${i}`, templateId: kind, values: { '?principal': uid('User', r.pick(users)), '?resource': uid('Folder', r.pick(folders)) } };
    if (kind === 't-viewer') return { id: `link-${i}`, templateId: kind, values: { '?principal': uid('Group', r.pick(groups)), '?resource': uid('Doc', r.pick(docs)) } };
    return { id: `link-${i}`, templateId: kind, values: { '?principal': uid('User', r.pick(users)), '?resource': uid('Folder', r.pick(folders)) } };
  });
  const actions = ['view', 'list', 'comment', 'write', 'delete', 'share', 'admin'];
  return {
    name: 'docs',
    schema: DOCS_SCHEMA,
    validationMode: 'strict',
    settings: { validateRequests: true },
    files: [policyFile('rules', DOCS_RULES), policyFile('named', DOCS_NAMED)],
    links,
    entities,
    request: (q) => {
      const principal = q.chance(0.92) ? uid('User', q.chance(0.95) ? q.pick(users) : 'ghost') : uid('Group', q.pick(groups));
      const action = uid('Action', q.chance(0.93) ? q.pick(actions) : q.pick(['readOnly', 'edit', 'undeclared']));
      const resource = q.chance(0.75) ? uid('Doc', q.chance(0.95) ? q.pick(docs) : 'missing') : uid('Folder', q.pick(folders));
      const ip = q.pick(['10.1.2.3', '192.168.0.1', '10.255.0.0/16', '::1']);
      const amount = q.pick(['12.34', '99.9999', '100.0', '-1.5']);
      const now = q.pick(['2025-01-01', '2026-06-01T00:00:00Z', '2027-01-01T00:00:00.000+0100']);
      const context: Record<string, CedarValue> = {
        // Extension values both escaped and as plain strings (schema-based parsing takes both).
        ip: q.chance(0.5) ? extn('ip', ip) : ip,
        now: q.chance(0.5) ? extn('datetime', now) : now,
        mfa: q.chance(0.6),
        amount: q.chance(0.5) ? extn('decimal', amount) : amount,
        tags: q.some(['approved', 'urgent'], 2),
      };
      if (q.chance(0.3)) context.delegate = ref('User', q.pick(users));
      if (q.chance(0.3)) context.team = ref('Group', q.pick(groups));
      // Now and then a context the schema does not describe: request validation refuses it.
      if (q.chance(0.05)) delete context.mfa;
      if (q.chance(0.03)) context.extra = 1;
      // A fifth of requests describe their principal or resource (AuthZEN properties).
      const overlay = !q.chance(0.2)
        ? undefined
        : q.chance(0.5)
          ? { on: 'principal' as const, attrs: q.pick<Record<string, CedarValue>>([{ level: q.int(6) }, { dept: q.pick(['eng', 'hr']) }, { email: 'x@example.com', active: true }, { manager: ref('User', q.pick(users)) }]) }
          : { on: 'resource' as const, attrs: q.pick<Record<string, CedarValue>>([{ public: true }, { labels: ['locked'] }, { owner: ref('User', q.pick(users)) }, { level: 0, labels: ['public'] }]) };
      return { principal, action, resource, context, ...(overlay ? { overlay } : {}) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// app: a namespaced schema; the tenant's action type is App::Action.

const APP_SCHEMA = `
namespace App {
  entity Role in [Role];
  entity Account in [Role] { tier: Long, region: String, balance: Long, flags: Set<String> };
  entity Ledger { owner: Account, region: String, limits: { daily: Long, single: Long } };
  action read, audit in [readAll] appliesTo { principal: Account, resource: Ledger, context: { amount: Long, channel: String } };
  action readAll;
  action transfer appliesTo { principal: Account, resource: Ledger, context: { amount: Long, channel: String } };
}
`;

const APP_POLICIES = [
  '@id("role-read") permit(principal in App::Role::"auditor", action in App::Action::"readAll", resource);',
  '@id("owner") permit(principal, action, resource) when { resource.owner == principal };',
  '@id("limits") forbid(principal, action == App::Action::"transfer", resource) when { context.amount > resource.limits.single || context.amount > principal.balance };',
  '@id("region") permit(principal, action == App::Action::"read", resource) when { principal.region == resource.region && principal.tier >= 2 };',
  '@id("channel") forbid(principal, action, resource) when { context.channel like "*legacy*" } unless { principal.flags.contains("legacy-ok") };',
  '@id("big") permit(principal, action == App::Action::"transfer", resource) when { principal.balance > 9007199254740993 && context.amount <= 9223372036854775807 };',
];

function appFixture(seed: number): FixtureParts {
  const r = new Random(prng(seed * 104729 + 3));
  const entities: Entity[] = [];
  const roles = ['auditor', 'lead', 'staff', 'root'];
  roles.forEach((role, i) => entities.push({ uid: uid('App::Role', role), attrs: {}, parents: i < roles.length - 1 ? [uid('App::Role', roles[i + 1] as string)] : [] }));
  const accounts = Array.from({ length: 25 }, (_, i) => `a${i}`);
  for (const a of accounts) {
    entities.push({
      uid: uid('App::Account', a),
      attrs: {
        tier: r.int(4),
        region: r.pick(['eu', 'us']),
        // Balances beyond 2^53 must stay exact: 9007199254740993 is not a double.
        balance: r.chance(0.3) ? r.pick([9007199254740993n, 9007199254740992n, 9223372036854775807n]) : r.int(100_000),
        flags: r.some(['legacy-ok', 'vip'], 2),
      },
      parents: r.some(roles, 2).map((role) => uid('App::Role', role)),
    });
  }
  const ledgers = Array.from({ length: 20 }, (_, i) => `l${i}`);
  for (const l of ledgers) {
    entities.push({ uid: uid('App::Ledger', l), attrs: { owner: ref('App::Account', r.pick(accounts)), region: r.pick(['eu', 'us']), limits: { daily: 10_000, single: r.pick([100, 5_000, 50_000]) } }, parents: [] });
  }
  return {
    name: 'app',
    schema: APP_SCHEMA,
    validationMode: 'strict',
    settings: { validateRequests: true, actionType: 'App::Action' },
    files: [policyFile('app', APP_POLICIES)],
    links: [],
    entities,
    request: (q) => ({
      principal: uid('App::Account', q.chance(0.95) ? q.pick(accounts) : 'nobody'),
      action: uid(q.chance(0.97) ? 'App::Action' : 'Action', q.pick(['read', 'audit', 'transfer', 'readAll'])),
      resource: uid('App::Ledger', q.pick(ledgers)),
      context: {
        amount: q.chance(0.1) ? q.pick([9223372036854775807n, 9007199254740993n, -9223372036854775808n]) : q.int(60_000),
        channel: q.chance(0.97) ? q.pick(['web', 'api', 'legacy-batch', 'mobile']) : (7 as CedarValue),
      },
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// open: no schema. Action groups are stored Action entities; policies that error at run time.

const OPEN_POLICIES = [
  '@id("group-read") permit(principal in Team::"all", action in Action::"readOnly", resource);',
  '@id("attr-error") permit(principal, action == Action::"edit", resource) when { principal.level > resource.level };',
  '@id("guarded") permit(principal, action == Action::"edit", resource) when { principal has level && resource has level && principal.level > resource.level + 1 };',
  '@id("type-error") forbid(principal, action, resource) when { resource.owner == principal.name && principal.name < 3 };',
  '@id("overflow") permit(principal, action == Action::"compute", resource) when { principal.level * 4611686018427387904 > 0 };',
  '@id("tags") forbid(principal, action, resource) when { resource.hasTag("deny") && resource.getTag("deny") == principal.name };',
  '@id("missing-tag") permit(principal, action == Action::"tagged", resource) when { resource.getTag("kind") == "public" };',
  '@id("named") forbid(principal, action, resource) when { Team::"banned".members.contains(principal) };',
  '@id("ctx-ref") permit(principal, action == Action::"delegate", resource) when { context.on_behalf in Team::"all" && context.on_behalf != principal };',
  '@id("exact") permit(principal, action == Action::"exact", resource) when { principal.id_num == 9007199254740993 };',
  '@id("any-of") permit(principal, action == Action::"view", resource) when { [Team::"a", Team::"b"].contains(context.team) || resource in principal.home };',
  '@id("ip-dec") permit(principal, action == Action::"net", resource) when { ip(context.addr).isLoopback() || decimal(context.price) < decimal("1.5") };',
  '@id("is-in") permit(principal is Person in Team::"b", action, resource is Box) when { resource.level == 3 };',
  // Sets of sets, in the context and in request-time properties.
  '@id("nested-one") permit(principal, action == Action::"nest", resource) when { context.sets.contains(1) };',
  '@id("nested-pair") forbid(principal, action == Action::"nest", resource) when { context.sets.contains([1, 2]) };',
  '@id("grid") permit(principal, action == Action::"grid", resource) when { resource has matrix && resource.matrix.contains([2]) };',
];

function openFixture(seed: number): FixtureParts {
  const r = new Random(prng(seed * 15485863 + 5));
  const entities: Entity[] = [];
  const actions = ['read', 'list', 'edit', 'compute', 'tagged', 'delegate', 'exact', 'view', 'net', 'nest', 'grid'];
  // Action groups from entity data (there is no schema): read, list in readOnly; readOnly in any.
  entities.push({ uid: uid('Action', 'any'), attrs: {}, parents: [] });
  entities.push({ uid: uid('Action', 'readOnly'), attrs: {}, parents: [uid('Action', 'any')] });
  for (const a of actions) entities.push({ uid: uid('Action', a), attrs: {}, parents: a === 'read' || a === 'list' || a === 'view' ? [uid('Action', 'readOnly')] : [uid('Action', 'any')] });
  // Teams: a chain 25 deep, t0 in t1 … in all.
  const teams = Array.from({ length: 25 }, (_, i) => `t${i}`);
  teams.forEach((t, i) => entities.push({ uid: uid('Team', t), attrs: {}, parents: [uid('Team', i < teams.length - 1 ? `t${i + 1}` : 'all')] }));
  entities.push({ uid: uid('Team', 'all'), attrs: {}, parents: [] });
  entities.push({ uid: uid('Team', 'a'), attrs: {}, parents: [uid('Team', 't3')] });
  entities.push({ uid: uid('Team', 'b'), attrs: {}, parents: [] });
  const people = Array.from({ length: 30 }, (_, i) => `p${i}`);
  entities.push({ uid: uid('Team', 'banned'), attrs: { members: r.some(people, 4).map((p) => ref('Person', p)) }, parents: [] });
  for (const p of people) {
    const attrs: Record<string, CedarValue> = { name: r.chance(0.9) ? p : 42 };
    if (r.chance(0.7)) attrs.level = r.chance(0.1) ? 4 : r.int(5);
    if (r.chance(0.3)) attrs.id_num = r.pick([9007199254740993n, 9007199254740992n]);
    if (r.chance(0.5)) attrs.home = ref('Box', `b${r.int(20)}`);
    entities.push({ uid: uid('Person', p), attrs, parents: r.some([...teams, 'a', 'b'], 2).map((t) => uid('Team', t)) });
  }
  const boxes = Array.from({ length: 20 }, (_, i) => `b${i}`);
  boxes.forEach((b, i) => {
    const attrs: Record<string, CedarValue> = {};
    if (r.chance(0.7)) attrs.level = r.int(5);
    if (r.chance(0.5)) attrs.owner = r.chance(0.5) ? ref('Person', r.pick(people)) : r.pick(people);
    const tags: Record<string, CedarValue> = {};
    if (r.chance(0.4)) tags.deny = r.pick(people);
    if (r.chance(0.5)) tags.kind = r.pick(['public', 'private']);
    entities.push({ uid: uid('Box', b), attrs, parents: i > 0 && r.chance(0.6) ? [uid('Box', `b${r.int(i)}`)] : [], tags });
  });
  return {
    name: 'open',
    validationMode: 'off',
    settings: {},
    files: [policyFile('open', OPEN_POLICIES)],
    links: [],
    entities,
    request: (q) => {
      const context: Record<string, CedarValue> = {};
      if (q.chance(0.5)) context.on_behalf = ref(q.pick(['Person', 'Team']), q.pick([...people, ...teams]));
      if (q.chance(0.5)) context.team = ref('Team', q.pick(['a', 'b', 'c']));
      if (q.chance(0.5)) context.addr = q.pick(['127.0.0.1', '10.0.0.1', 'not-an-ip']);
      if (q.chance(0.5)) context.price = q.pick(['1.25', '2.0', '1.5000', 'x']);
      if (q.chance(0.5)) context.sets = q.pick<CedarValue>([[[1, 2]], [1, [2]], [[1], [2]], [1, 2], [], [[1, 2], 1]]);
      const overlay = !q.chance(0.2)
        ? undefined
        : q.chance(0.5)
          ? { on: 'principal' as const, attrs: q.pick<Record<string, CedarValue>>([{ level: q.int(5) }, { name: q.pick(people) }, { home: ref('Box', q.pick(boxes)) }, { id_num: 9007199254740993n }]) }
          : { on: 'resource' as const, attrs: q.pick<Record<string, CedarValue>>([{ level: 3 }, { owner: q.pick(people) }, { level: 'high' }, { matrix: [[1], [2]] }, { matrix: [1, 2] }]) };
      return {
        principal: uid(q.chance(0.9) ? 'Person' : q.pick(['Team', 'Robot']), q.chance(0.9) ? q.pick(people) : q.pick(teams)),
        action: uid('Action', q.pick([...actions, 'readOnly', 'unknown'])),
        resource: uid(q.chance(0.9) ? 'Box' : 'Person', q.chance(0.9) ? q.pick(boxes) : q.pick(people)),
        context,
        ...(overlay ? { overlay } : {}),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// deep: long hierarchies and attribute chains through many entities.

const DEEP_SCHEMA = `
entity Org in [Org] { rank: Long };
entity Person in [Org] { boss?: Person, clearance: Long };
entity Node in [Node] { parent?: Node, keeper: Person, secret: Bool };
action inspect, modify appliesTo { principal: Person, resource: Node, context: { via?: Node } };
`;

const DEEP_POLICIES = [
  '@id("top-org") permit(principal in Org::"o39", action == Action::"inspect", resource in Node::"n0");',
  '@id("keeper") permit(principal, action, resource) when { resource.keeper == principal };',
  '@id("keeper-up3") permit(principal, action == Action::"inspect", resource) when { resource has parent && resource.parent has parent && resource.parent.parent has parent && resource.parent.parent.parent.keeper == principal };',
  '@id("boss-chain") permit(principal, action == Action::"modify", resource) when { resource.keeper has boss && resource.keeper.boss has boss && resource.keeper.boss.boss == principal };',
  '@id("secret") forbid(principal, action, resource) when { resource.secret && principal.clearance < 3 } unless { principal in Org::"o5" };',
  '@id("via") permit(principal, action == Action::"modify", resource) when { context has via && resource in context.via && context.via.keeper == principal };',
  '@id("mid-org") forbid(principal in Org::"o20", action == Action::"modify", resource in Node::"n7");',
];

function deepFixture(seed: number): FixtureParts {
  const r = new Random(prng(seed * 32452843 + 7));
  const entities: Entity[] = [];
  const orgs = Array.from({ length: 40 }, (_, i) => `o${i}`);
  orgs.forEach((o, i) => {
    const parents = i < orgs.length - 1 ? [uid('Org', `o${i + 1}`)] : [];
    if (i < orgs.length - 5 && r.chance(0.2)) parents.push(uid('Org', `o${i + 2 + r.int(3)}`));
    entities.push({ uid: uid('Org', o), attrs: { rank: i }, parents });
  });
  const people = Array.from({ length: 60 }, (_, i) => `q${i}`);
  people.forEach((p, i) => {
    const attrs: Record<string, CedarValue> = { clearance: r.int(5) };
    if (i > 0 && r.chance(0.85)) attrs.boss = ref('Person', `q${r.int(i)}`);
    entities.push({ uid: uid('Person', p), attrs, parents: [uid('Org', r.pick(orgs))] });
  });
  // Nodes: a tree 60 wide and up to ~9 deep; `parent` attribute mirrors the hierarchy.
  const nodes = Array.from({ length: 120 }, (_, i) => `n${i}`);
  nodes.forEach((n, i) => {
    const parent = i === 0 ? undefined : `n${Math.floor((i - 1) / 2)}`;
    const attrs: Record<string, CedarValue> = { keeper: ref('Person', r.pick(people)), secret: r.chance(0.2) };
    if (parent !== undefined && r.chance(0.9)) attrs.parent = ref('Node', parent);
    entities.push({ uid: uid('Node', n), attrs, parents: parent === undefined ? [] : [uid('Node', parent)] });
  });
  return {
    name: 'deep',
    schema: DEEP_SCHEMA,
    validationMode: 'strict',
    settings: { validateRequests: true },
    files: [policyFile('deep', DEEP_POLICIES)],
    links: [],
    entities,
    request: (q) => ({
      principal: uid('Person', q.pick(people)),
      action: uid('Action', q.pick(['inspect', 'modify'])),
      resource: uid('Node', q.pick(nodes)),
      context: q.chance(0.4) ? { via: ref('Node', q.pick(nodes)) } : {},
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// loose: a schema with validation off, policies that do not validate, no request validation.

const LOOSE_SCHEMA = `
entity User { age: Long, nick?: String };
entity Item { price: Long, tags: Set<String> };
action buy, look appliesTo { principal: User, resource: Item, context: { coupon?: String } };
`;

const LOOSE_POLICIES = [
  '@id("adult") permit(principal, action == Action::"buy", resource) when { principal.age >= 18 };',
  '@id("no-such-attr") permit(principal, action == Action::"look", resource) when { principal.height > 100 };',
  '@id("nick") permit(principal, action == Action::"look", resource) when { principal.nick like "z*" };',
  '@id("coupon") permit(principal, action, resource) when { context.coupon == "FREE" && resource.price < 10 };',
  '@id("wrong-type") forbid(principal, action, resource) when { resource.tags.contains(principal.age) };',
  '@id("ext-on-string") forbid(principal, action == Action::"buy", resource) when { resource.tags.contains("recalled") || principal.nick.lessThan(decimal("1.0")) };',
];

function looseFixture(seed: number): FixtureParts {
  const r = new Random(prng(seed * 49979687 + 11));
  const entities: Entity[] = [];
  const users = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const u of users) entities.push({ uid: uid('User', u), attrs: { age: 10 + r.int(20), ...(r.chance(0.5) ? { nick: r.pick(['zed', 'amy', 'zoe']) } : {}) }, parents: [] });
  const items = Array.from({ length: 20 }, (_, i) => `i${i}`);
  for (const it of items) entities.push({ uid: uid('Item', it), attrs: { price: r.int(30), tags: r.some(['recalled', 'new', '18'], 2) }, parents: [] });
  return {
    name: 'loose',
    schema: LOOSE_SCHEMA,
    validationMode: 'off',
    settings: {},
    files: [policyFile('loose', LOOSE_POLICIES)],
    links: [],
    entities,
    request: (q) => ({
      principal: uid(q.chance(0.93) ? 'User' : 'Stranger', q.pick(users)),
      action: uid('Action', q.pick(['buy', 'look', 'steal'])),
      resource: uid('Item', q.pick(items)),
      context: q.chance(0.5) ? { coupon: q.chance(0.9) ? q.pick(['FREE', 'HALF']) : 5 } : {},
    }),
  };
}

const FIXTURES = [docsFixture, appFixture, openFixture, deepFixture, looseFixture];
/** Share of the requested cases each fixture gets (the docs fixture is the richest). */
const WEIGHTS = [0.35, 0.15, 0.2, 0.15, 0.15];

/**
 * The generated stores for `seed`, with about `requests` requests in all. Each fixture's
 * entities come from the seed too, so a failure reproduces from (seed, requests).
 */
export function generatedStores(options: { seed: number; requests: number }): OracleStore[] {
  return FIXTURES.map((fixture, i) => toStore(fixture(options.seed), options.seed * 31 + i, Math.max(1, Math.round(options.requests * (WEIGHTS[i] as number)))));
}

/** The same store as several tenants of at most `size` requests each (to decide side by side). */
export function splitStore(store: OracleStore, size: number): OracleStore[] {
  if (store.requests.length <= size) return [store];
  const parts: OracleStore[] = [];
  for (let from = 0; from < store.requests.length; from += size) {
    parts.push({ ...store, tenant: `${store.tenant}-${from / size}`, requests: store.requests.slice(from, from + size) });
  }
  return parts;
}
