/**
 * `node --import @verity/cli/loader bench/peers.ts [--json]`: Verity's engine against the engines a user would
 * pick instead of it, on equivalent policies, in one process and one run (bench/RESULTS.md,
 * "Peer engines").
 *
 * A document app: users in groups with a role hierarchy (admins ⊇ editors ⊇ viewers), viewers
 * read documents of their department, editors write documents they own, admins do anything, and
 * nobody deletes a locked document (a forbid). 10 users, 3 groups, 10 documents, 3 actions: the
 * mix is every (user, document, action), 300 requests, allows and denies. Every engine decides
 * the whole mix before any timing and must agree with a plain-JS reading of the rules; a
 * disagreement stops the run.
 *
 * Rows: cedar-wasm `isAuthorized` (policy and schema text on every call; and, as a diagnostic,
 * policy text without a schema, the call the Cedar Express authorizer makes), cedar-wasm
 * `statefulIsAuthorized` on a preparsed policy set and schema (the baseline of every ratio), the
 * Cedar Express middleware's authorizer (`CedarInlineAuthorizationEngine.isAuthorized`, called
 * in-process), casbin (role hierarchy + `eval` conditions, `enforceSync`), oso (Polar,
 * `isAllowed`) and Verity's engine port (`createCedarEngine()`, and with
 * `{ evaluator: 'cedar-wasm' }`), then the baseline and Verity again at 1,000 policies (fillers
 * that a scope index skips, and fillers every read request evaluates). Cache
 * off (none of these rows has one), no audit, no HTTP. Each sample is one decision; the rows
 * take the mix in the same order and run in two interleaved rounds.
 */
import { createRequire } from 'node:module';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { CedarInlineAuthorizationEngine } from '@cedar-policy/authorization-for-expressjs';
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { Oso } from 'oso';
import type { Entity, EntityUid, PolicyStoreContent } from '@verity/core';
import { createCedarEngine, type CedarEngineOptions } from '@verity/core/cedar';
import { formatMachine, formatTable, machineFacts, withRatios } from './report.js';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);
const TIMING = { warmup: 1_000, n: 10_000, budgetMs: 4_000 };
const ROUNDS = 2;
const SCALE_POLICIES = 1_000;

// ---------------------------------------------------------------------------------------------
// The data: 10 users, 3 groups, 10 documents.

type Action = 'read' | 'write' | 'delete';
type Group = 'admins' | 'editors' | 'viewers';
const ACTIONS: readonly Action[] = ['read', 'write', 'delete'];
/** Each group's parent: members of `admins` are members of `editors`, and so of `viewers`. */
const GROUP_PARENT: Record<Group, Group | null> = { admins: 'editors', editors: 'viewers', viewers: null };

interface UserData {
  name: string;
  department: string;
  groups: Group[];
}
interface DocumentData {
  id: string;
  department: string;
  owner: string;
  locked: boolean;
}

const USERS: UserData[] = [
  { name: 'ada', department: 'eng', groups: ['admins'] },
  { name: 'bob', department: 'eng', groups: ['editors'] },
  { name: 'cyd', department: 'sales', groups: ['editors'] },
  { name: 'dee', department: 'eng', groups: ['viewers'] },
  { name: 'eve', department: 'sales', groups: ['viewers'] },
  { name: 'fay', department: 'hr', groups: ['viewers'] },
  { name: 'gus', department: 'hr', groups: ['editors', 'viewers'] },
  { name: 'hal', department: 'sales', groups: ['viewers'] },
  { name: 'ivy', department: 'eng', groups: [] },
  { name: 'jon', department: 'hr', groups: [] },
];
const DEPARTMENTS = ['eng', 'sales', 'hr'];
const DOCUMENTS: DocumentData[] = Array.from({ length: 10 }, (_, i) => ({
  id: `doc-${i}`,
  department: DEPARTMENTS[i % 3] as string,
  owner: (USERS[(i * 3 + 1) % USERS.length] as UserData).name,
  locked: i % 3 === 0,
}));

/** The rules in plain JS: what every engine must answer. */
function expected(user: UserData, doc: DocumentData, action: Action): boolean {
  const member = (target: Group) =>
    user.groups.some((g) => {
      for (let at: Group | null = g; at !== null; at = GROUP_PARENT[at]) if (at === target) return true;
      return false;
    });
  if (action === 'delete' && doc.locked) return false;
  if (member('admins')) return true;
  if (action === 'read' && member('viewers') && doc.department === user.department) return true;
  if (action === 'write' && member('editors') && doc.owner === user.name) return true;
  return false;
}

interface MixEntry {
  user: UserData;
  doc: DocumentData;
  action: Action;
  allow: boolean;
}
const MIX: MixEntry[] = USERS.flatMap((user) => DOCUMENTS.flatMap((doc) => ACTIONS.map((action) => ({ user, doc, action, allow: expected(user, doc, action) }))));

// ---------------------------------------------------------------------------------------------
// Cedar: one schema and four policies, the same text for every Cedar row.

const SCHEMA = `entity Group in [Group];
entity User in [Group] { department: String };
entity Document { department: String, owner: User, locked: Bool };
action read, write, delete appliesTo { principal: [User], resource: [Document] };
`;
const POLICIES: Record<string, string> = {
  'viewers-read-department': `permit (principal in Group::"viewers", action == Action::"read", resource)
  when { resource.department == principal.department };`,
  'editors-write-own': `permit (principal in Group::"editors", action == Action::"write", resource)
  when { resource.owner == principal };`,
  'admins-anything': `permit (principal in Group::"admins", action, resource);`,
  'no-delete-locked': `forbid (principal, action == Action::"delete", resource)
  when { resource.locked };`,
};
/**
 * The four policies plus never-matching ones, to reach `count` for the scale rows. `scoped`:
 * each filler names its own principal (`principal == User::"ghost-N"`), which an evaluator that
 * indexes policies by scope never visits; `unscoped`: each filler is `principal, action ==
 * read, resource` with a condition that is false, so every read request evaluates all of them.
 */
function scaledPolicies(count: number, kind: 'scoped' | 'unscoped'): Record<string, string> {
  const all = { ...POLICIES };
  for (let i = Object.keys(all).length; i < count; i++) {
    const principal = kind === 'scoped' ? `principal == User::"ghost-${i}"` : 'principal';
    all[`filler-${i}`] = `permit (${principal}, action == Action::"read", resource)
  when { resource.department == "dept-${i}" };`;
  }
  return all;
}

const uid = (type: string, id: string): EntityUid => ({ type, id });
const groupEntity = (g: Group): Entity => ({ uid: uid('Group', g), attrs: {}, parents: GROUP_PARENT[g] ? [uid('Group', GROUP_PARENT[g])] : [] });
const userEntity = (u: UserData): Entity => ({ uid: uid('User', u.name), attrs: { department: u.department }, parents: u.groups.map((g) => uid('Group', g)) });
const documentEntity = (d: DocumentData): Entity => ({ uid: uid('Document', d.id), attrs: { department: d.department, owner: { __entity: uid('User', d.owner) }, locked: d.locked }, parents: [] });

interface CedarEntry {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, never>;
  /** The request's slice: the principal, its groups with their ancestors, the document. */
  entities: Entity[];
}
const CEDAR_MIX: CedarEntry[] = MIX.map(({ user, doc, action }) => {
  const groups = new Set<Group>();
  for (const g of user.groups) for (let at: Group | null = g; at !== null; at = GROUP_PARENT[at]) groups.add(at);
  return {
    principal: uid('User', user.name),
    action: uid('Action', action),
    resource: uid('Document', doc.id),
    context: {},
    entities: [userEntity(user), ...[...groups].map(groupEntity), documentEntity(doc)],
  };
});

/** A Cedar answer as a decision; an evaluation error is a broken benchmark, not a deny. */
function cedarDecision(answer: cedar.AuthorizationAnswer): boolean {
  if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '));
  if (answer.response.diagnostics.errors.length > 0) throw new Error(answer.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '));
  return answer.response.decision === 'allow';
}

function preparse(id: string, policies: Record<string, string>): void {
  const set = cedar.preparsePolicySet(id, { staticPolicies: policies });
  if (set.type !== 'success') throw new Error(`preparsePolicySet ${id}: ${set.errors.map((e) => e.message).join('; ')}`);
  const schema = cedar.preparseSchema(id, SCHEMA);
  if (schema.type !== 'success') throw new Error(`preparseSchema ${id}: ${schema.errors.map((e) => e.message).join('; ')}`);
  const validation = cedar.validate({ schema: SCHEMA, policies: { staticPolicies: policies }, validationSettings: { mode: 'strict' } });
  if (validation.type !== 'success' || validation.validationErrors.length > 0) throw new Error(`the ${id} policies do not validate against the schema: ${JSON.stringify(validation)}`);
}

// ---------------------------------------------------------------------------------------------
// casbin: RBAC with a role hierarchy (`g`), the attribute conditions as `eval` rules in the
// policy, and an allow-and-deny effect for the forbid.

const CASBIN_MODEL = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, act, cond, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.sub == "*" || g(r.sub.name, p.sub)) && (p.act == "*" || p.act == r.act) && eval(p.cond)
`;
const CASBIN_POLICY = [
  'p, viewers, read, r.obj.department == r.sub.department, allow',
  'p, editors, write, r.obj.owner == r.sub.name, allow',
  'p, admins, *, true, allow',
  'p, *, delete, r.obj.locked == true, deny',
  'g, admins, editors',
  'g, editors, viewers',
  ...USERS.flatMap((u) => u.groups.map((g) => `g, ${u.name}, ${g}`)),
].join('\n');

// ---------------------------------------------------------------------------------------------
// oso: the same rules in Polar, over the app's own objects (attributes are read from JS).

class OsoUser {
  constructor(
    readonly name: string,
    readonly department: string,
    readonly groups: string[],
  ) {}
}
class OsoDocument {
  constructor(
    readonly id: string,
    readonly department: string,
    readonly owner: string,
    readonly locked: boolean,
  ) {}
}
const POLAR = `
allow(user: OsoUser, action: String, doc: OsoDocument) if
  not forbidden(action, doc) and permitted(user, action, doc);

forbidden("delete", doc: OsoDocument) if doc.locked = true;

permitted(user: OsoUser, "read", doc: OsoDocument) if
  member_of(user, "viewers") and doc.department = user.department;
permitted(user: OsoUser, "write", doc: OsoDocument) if
  member_of(user, "editors") and doc.owner = user.name;
permitted(user: OsoUser, _action: String, _doc: OsoDocument) if
  member_of(user, "admins");

member_of(user: OsoUser, group: String) if
  g in user.groups and within(g, group);

within(group: String, group);
within(group: String, target: String) if
  parent_group(group, parent) and within(parent, target);

parent_group("admins", "editors");
parent_group("editors", "viewers");
`;

// ---------------------------------------------------------------------------------------------
// The rows.

interface RowDef {
  name: string;
  /** Decide mix entry `i`: true for allow. */
  decide: (i: number) => boolean | Promise<boolean>;
}

/** `createCedarEngine` options with the evaluator choice (written out so this file compiles with or without it). */
type EvaluatorOptions = CedarEngineOptions & { evaluator?: 'compiled' | 'cedar-wasm' };
const wasmEvaluator: EvaluatorOptions = { evaluator: 'cedar-wasm' };

const at = <T>(list: readonly T[], i: number) => list[i % list.length] as T;

const machine = machineFacts(cedar.getCedarVersion());
log(`machine: ${formatMachine(machine)}`);
const allows = MIX.filter((m) => m.allow).length;
log(`mix: ${MIX.length} requests, ${allows} allow, ${MIX.length - allows} deny`);

// cedar-wasm, stateless and stateful.
const BASE_ID = 'peers';
const SCALE_ID = `peers-${SCALE_POLICIES}`;
preparse(BASE_ID, POLICIES);
const scaled = scaledPolicies(SCALE_POLICIES, 'scoped');
preparse(SCALE_ID, scaled);
const UNSCOPED_ID = `peers-${SCALE_POLICIES}-unscoped`;
const unscoped = scaledPolicies(SCALE_POLICIES, 'unscoped');
preparse(UNSCOPED_ID, unscoped);
const statelessCalls: cedar.AuthorizationCall[] = CEDAR_MIX.map((e) => ({ ...e, entities: e.entities as cedar.EntityJson[], policies: { staticPolicies: POLICIES }, schema: SCHEMA, validateRequest: false }));
/** The call the Cedar Express authorizer makes (no schema unless it validates requests), on cedar-wasm 4.13. */
const schemalessCalls: cedar.AuthorizationCall[] = CEDAR_MIX.map((e) => ({ ...e, entities: e.entities as cedar.EntityJson[], policies: { staticPolicies: POLICIES } }));
const statefulCall = (id: string) => (e: CedarEntry): cedar.StatefulAuthorizationCall => ({ ...e, entities: e.entities as cedar.EntityJson[], preparsedPolicySetId: id, preparsedSchemaName: id, validateRequest: false });
const statefulCalls = CEDAR_MIX.map(statefulCall(BASE_ID));
const statefulScaleCalls = CEDAR_MIX.map(statefulCall(SCALE_ID));
const statefulUnscopedCalls = CEDAR_MIX.map(statefulCall(UNSCOPED_ID));

// The Cedar Express middleware's authorizer (its own cedar-wasm, pinned by its dependency).
const expressEngine = new CedarInlineAuthorizationEngine({ staticPolicies: Object.values(POLICIES).join('\n'), schema: { type: 'cedarFormat', schema: SCHEMA } });
/** The cedar-wasm the middleware's engine loads (its own dependency, not the workspace's). */
function expressCedarVersion(): string {
  const fromMiddleware = createRequire(createRequire(import.meta.url).resolve('@cedar-policy/authorization-for-expressjs'));
  const fromEngine = createRequire(fromMiddleware.resolve('@cedar-policy/cedar-authorization'));
  return (fromEngine('@cedar-policy/cedar-wasm/nodejs') as typeof cedar).getCedarVersion();
}
type ExpressEntities = Parameters<typeof expressEngine.isAuthorized>[1];

// casbin.
const casbin = await newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(CASBIN_POLICY));
const casbinArgs = MIX.map(({ user, doc, action }) => [{ name: user.name, department: user.department }, { department: doc.department, owner: doc.owner, locked: doc.locked }, action] as const);

// oso.
const oso = new Oso();
oso.registerClass(OsoUser);
oso.registerClass(OsoDocument);
await oso.loadStr(POLAR);
const osoArgs = MIX.map(({ user, doc, action }) => [new OsoUser(user.name, user.department, [...user.groups]), action, new OsoDocument(doc.id, doc.department, doc.owner, doc.locked)] as const);

// Verity's engine port.
const content = (policies: Record<string, string>): PolicyStoreContent => ({ schema: SCHEMA, validationMode: 'strict', policies, templates: {}, links: [] });
const verity = createCedarEngine();
const verityWasm = createCedarEngine(wasmEvaluator);
const veritySet = await verity.prepare('peers@1', content(POLICIES));
const verityScaleSet = await verity.prepare(`peers-${SCALE_POLICIES}@1`, content(scaled));
const verityWasmSet = await verityWasm.prepare('peers@1', content(POLICIES));
const verityWasmScaleSet = await verityWasm.prepare(`peers-${SCALE_POLICIES}@1`, content(scaled));
const verityUnscopedSet = await verity.prepare(`${UNSCOPED_ID}@1`, content(unscoped));

const BASELINE = 'cedar-wasm statefulIsAuthorized (preparsed policies + schema)';
const rows: RowDef[] = [
  { name: 'cedar-wasm isAuthorized (policy + schema text each call)', decide: (i) => cedarDecision(cedar.isAuthorized(at(statelessCalls, i))) },
  { name: 'cedar-wasm isAuthorized (policy text each call, no schema; diagnostic)', decide: (i) => cedarDecision(cedar.isAuthorized(at(schemalessCalls, i))) },
  { name: BASELINE, decide: (i) => cedarDecision(cedar.statefulIsAuthorized(at(statefulCalls, i))) },
  {
    name: `Cedar Express middleware authorizer (CedarInlineAuthorizationEngine.isAuthorized, cedar ${expressCedarVersion()})`,
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      const result = await expressEngine.isAuthorized({ principal: e.principal, action: e.action, resource: e.resource, context: e.context }, e.entities as ExpressEntities);
      if (result.type === 'error') throw new Error(result.message);
      return result.type === 'allow';
    },
  },
  { name: 'casbin enforceSync (role hierarchy + eval conditions)', decide: (i) => casbin.enforceSync(...at(casbinArgs, i)) },
  { name: 'oso isAllowed (Polar)', decide: (i) => oso.isAllowed(...at(osoArgs, i)) },
  {
    name: 'Verity engine, createCedarEngine()',
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      return (await verity.authorize(veritySet, e, e.entities)).decision === 'allow';
    },
  },
  {
    name: "Verity engine, createCedarEngine({ evaluator: 'cedar-wasm' })",
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      return (await verityWasm.authorize(verityWasmSet, e, e.entities)).decision === 'allow';
    },
  },
  { name: `cedar-wasm statefulIsAuthorized, ${SCALE_POLICIES} policies (fillers principal-scoped)`, decide: (i) => cedarDecision(cedar.statefulIsAuthorized(at(statefulScaleCalls, i))) },
  {
    name: `Verity engine, createCedarEngine(), ${SCALE_POLICIES} policies (fillers principal-scoped)`,
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      return (await verity.authorize(verityScaleSet, e, e.entities)).decision === 'allow';
    },
  },
  {
    name: `Verity engine, { evaluator: 'cedar-wasm' }, ${SCALE_POLICIES} policies (fillers principal-scoped)`,
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      return (await verityWasm.authorize(verityWasmScaleSet, e, e.entities)).decision === 'allow';
    },
  },
  { name: `cedar-wasm statefulIsAuthorized, ${SCALE_POLICIES} policies (fillers unscoped)`, decide: (i) => cedarDecision(cedar.statefulIsAuthorized(at(statefulUnscopedCalls, i))) },
  {
    name: `Verity engine, createCedarEngine(), ${SCALE_POLICIES} policies (fillers unscoped)`,
    decide: async (i) => {
      const e = at(CEDAR_MIX, i);
      return (await verity.authorize(verityUnscopedSet, e, e.entities)).decision === 'allow';
    },
  },
];

try {
  // Every engine decides the whole mix as the rules say, before any timing.
  for (const row of rows) {
    const wrong: string[] = [];
    for (let i = 0; i < MIX.length; i++) {
      const m = MIX[i] as MixEntry;
      if ((await row.decide(i)) !== m.allow) wrong.push(`${m.user.name} ${m.action} ${m.doc.id}: expected ${m.allow ? 'allow' : 'deny'}`);
    }
    if (wrong.length > 0) throw new Error(`${row.name} disagrees on ${wrong.length} of ${MIX.length} requests:\n  ${wrong.slice(0, 20).join('\n  ')}`);
  }
  log(`every engine agrees on all ${MIX.length} requests`);
  // Which evaluator decided each Verity row (reported by engines that have the `evaluator` option).
  for (const [name, engine, set] of [
    ['createCedarEngine()', verity, veritySet],
    ["{ evaluator: 'cedar-wasm' }", verityWasm, verityWasmSet],
    [`createCedarEngine(), ${SCALE_POLICIES} policies`, verity, verityScaleSet],
    [`{ evaluator: 'cedar-wasm' }, ${SCALE_POLICIES} policies`, verityWasm, verityWasmScaleSet],
    [`createCedarEngine(), ${SCALE_POLICIES} unscoped policies`, verity, verityUnscopedSet],
  ] as const) {
    const decidedBy: Record<string, number> = {};
    for (const e of CEDAR_MIX) {
      const by = (await engine.authorize(set, e, e.entities)) as { evaluator?: string };
      decidedBy[by.evaluator ?? 'not reported'] = (decidedBy[by.evaluator ?? 'not reported'] ?? 0) + 1;
    }
    log(`Verity engine, ${name}: decided by ${JSON.stringify(decidedBy)}`);
  }

  const samples = new Map<string, { samples: number[]; wallNs: number }>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const row of rows) {
      log(`${row.name} (round ${round})…`);
      let i = 0;
      const m = await measure(() => row.decide(i++), TIMING);
      const kept = samples.get(row.name) ?? { samples: [], wallNs: 0 };
      samples.set(row.name, { samples: kept.samples.concat(m.samples), wallNs: kept.wallNs + m.wallNs });
    }
  }
  const summaries: Summary[] = rows.map((row) => {
    const s = samples.get(row.name) ?? { samples: [], wallNs: 0 };
    return summarize(row.name, s.samples, s.wallNs);
  });
  const baseline = summaries.find((s) => s.scenario === BASELINE) as Summary;
  const ratioRows = withRatios(summaries, baseline.p50Us);
  log(`\n${formatTable(ratioRows)}\n`);
  const ratios = Object.fromEntries(ratioRows.filter((r) => r.scenario !== BASELINE).map((r) => [`${r.scenario} / statefulIsAuthorized (p50)`, r.ratio]));
  printReport(summaries, ratios, json);
} finally {
  await Promise.all([verity.close(), verityWasm.close()]);
}
