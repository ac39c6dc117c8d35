/**
 * Proves the example policy stores under examples/ are right, using raw cedar-wasm (not Verity's
 * engine): each folder validates in strict mode, its entities conform to its schema, its own
 * tests/*.json cases pass, and every AuthZEN interop case (e2e/authzen-data, or $AUTHZEN_DIR)
 * gets the expected answer.
 *
 * The AuthZEN → Cedar mapping here is deliberately small; the server has its own implementation.
 *   subject/resource {type,id}  → principal/resource uid (types 1:1)
 *   subject/resource properties → that entity's attributes, merged over entities.json (request wins)
 *   action.name                 → Action::"<name>";  action.properties → context.action
 *   request context             → Cedar context
 * Cedar is handed only the principal, the resource, their ancestors (transitively) and the entities
 * their attributes reference, as the engine would be.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { CedarValueJson, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';

const EXAMPLES = dirname(fileURLToPath(import.meta.url));
// A verbatim copy of ../shared/authzen (openid/authzen interop data) lives in e2e/authzen-data.
const AUTHZEN = process.env.AUTHZEN_DIR ?? fileURLToPath(new URL('../e2e/authzen-data', import.meta.url));
const INTEROP = join(AUTHZEN, 'interop');

// ---------------------------------------------------------------- AuthZEN shapes

interface Uid { type: string; id: string }
interface AzEntity { type: string; id?: string; properties?: Record<string, CedarValueJson> }
interface AzAction { name?: string; properties?: Record<string, CedarValueJson> }
interface AzRequest {
  subject: AzEntity;
  action: AzAction;
  resource: AzEntity;
  context?: Record<string, CedarValueJson>;
}
type Decision = 'allow' | 'deny';

// ---------------------------------------------------------------- a policy store folder

interface Store {
  name: string;
  schema: string;
  policies: Record<string, string>;
  entities: EntityJson[];
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function loadStore(name: string): Store {
  const dir = join(EXAMPLES, name);
  const policies: Record<string, string> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cedar')).sort()) {
    const parts = cedar.policySetTextToParts(readFileSync(join(dir, file), 'utf8'));
    if (parts.type !== 'success') throw new Error(`${name}/${file}: ${JSON.stringify(parts.errors)}`);
    for (const text of parts.policies) {
      const id = /@id\("([^"]+)"\)/.exec(text)?.[1];
      if (!id) throw new Error(`${name}/${file}: policy without @id: ${text}`);
      if (policies[id]) throw new Error(`${name}: duplicate policy id ${id}`);
      policies[id] = text;
    }
  }
  const entitiesPath = join(dir, 'entities.json');
  return {
    name,
    schema: readFileSync(join(dir, 'schema.cedarschema'), 'utf8'),
    policies,
    entities: existsSync(entitiesPath) ? readJson<EntityJson[]>(entitiesPath) : [],
  };
}

// ---------------------------------------------------------------- AuthZEN request → Cedar decision

const keyOf = (uid: Uid): string => `${uid.type}::${JSON.stringify(uid.id)}`;
const asUid = (u: EntityJson['uid']): Uid => ('__entity' in u ? u.__entity : u);

/** Entity uids referenced anywhere inside an attribute value. */
function referencedUids(value: CedarValueJson, out: Uid[] = []): Uid[] {
  if (Array.isArray(value)) value.forEach((v) => referencedUids(v, out));
  else if (value !== null && typeof value === 'object') {
    if ('__entity' in value) out.push(value.__entity as Uid);
    else Object.values(value).forEach((v) => referencedUids(v, out));
  }
  return out;
}

/** The entity slice the engine gets: principal, resource, their ancestors, and direct references. */
function entitySlice(store: Store, subject: AzEntity, resource: AzEntity): EntityJson[] {
  const stored = new Map(store.entities.map((e) => [keyOf(asUid(e.uid)), e]));
  const slice = new Map<string, EntityJson>();

  const withProperties = (az: AzEntity): EntityJson | undefined => {
    const uid = { type: az.type, id: az.id ?? '' };
    const base = stored.get(keyOf(uid));
    if (!base && !az.properties) return undefined;
    return { uid, attrs: { ...base?.attrs, ...az.properties }, parents: base?.parents ?? [] };
  };
  const addWithAncestors = (entity: EntityJson): void => {
    const key = keyOf(asUid(entity.uid));
    if (slice.has(key)) return;
    slice.set(key, entity);
    for (const parent of entity.parents) {
      const p = stored.get(keyOf(asUid(parent)));
      if (p) addWithAncestors(p);
    }
  };

  const roots = [withProperties(subject), withProperties(resource)].filter((e) => e !== undefined);
  roots.forEach(addWithAncestors);
  for (const root of roots) {
    for (const ref of Object.values(root.attrs).flatMap((v) => referencedUids(v))) {
      const e = stored.get(keyOf(ref));
      if (e && !slice.has(keyOf(ref))) slice.set(keyOf(ref), e);
    }
  }
  return [...slice.values()];
}

/** Evaluate one request; an error in a policy is reported, not thrown (Cedar skips that policy). */
function evaluate(store: Store, req: AzRequest): { decision: Decision; errors: unknown[] } {
  const context: Record<string, CedarValueJson> = { ...req.context };
  if (req.action.properties) context.action = req.action.properties;
  const answer = cedar.isAuthorized({
    principal: { type: req.subject.type, id: req.subject.id ?? '' },
    action: { type: 'Action', id: req.action.name ?? '' },
    resource: { type: req.resource.type, id: req.resource.id ?? '' },
    context,
    policies: { staticPolicies: store.policies },
    entities: entitySlice(store, req.subject, req.resource),
    schema: store.schema,
    validateRequest: true,
  });
  if (answer.type !== 'success') throw new Error(`${store.name}: ${JSON.stringify(answer.errors)}`);
  return { decision: answer.response.decision, errors: answer.response.diagnostics.errors };
}

/** Evaluate a request about known entities: no policy may error. */
function decide(store: Store, req: AzRequest): Decision {
  const { decision, errors } = evaluate(store, req);
  expect(errors, `${store.name}: ${JSON.stringify(req)}`).toEqual([]);
  return decision;
}

const toDecision = (b: boolean): Decision => (b ? 'allow' : 'deny');
const label = (r: Partial<AzRequest>): string =>
  `${r.subject?.type}:${(r.subject?.id ?? '*').slice(0, 8)} ${r.action?.name ?? '*'} ${r.resource?.type}:${r.resource?.id ?? '*'}`;

// ---------------------------------------------------------------- the interop cases

interface SingleCase { request: AzRequest; expected: boolean }
interface BatchCase {
  request: Partial<AzRequest> & { evaluations: Array<Partial<AzRequest>> };
  expected: Array<{ decision: boolean }>;
}
interface SearchCase<T> { request: AzRequest; expected: { results: T[] } }

const TODO_FILE = join(INTEROP, 'authzen-todo-backend/test/decisions-authorization-api-1_0-02.json');
const GATEWAY_FILE = join(INTEROP, 'authzen-api-gateways/test-harness/test/decisions.json');
const SEARCH_DIR = join(INTEROP, 'authzen-search-demo/test');

/** One batch item: each of subject/action/resource/context it gives replaces the top-level default. */
const batchItem = (batch: BatchCase['request'], item: Partial<AzRequest>): AzRequest =>
  ({ ...batch, evaluations: undefined, ...item }) as unknown as AzRequest;

function checkTodo(store: Store): void {
  const file = readJson<{ evaluation: SingleCase[]; evaluations: BatchCase[] }>(TODO_FILE);
  expect(file.evaluation).toHaveLength(40);
  expect(file.evaluations).toHaveLength(3);
  for (const c of file.evaluation) {
    expect(decide(store, c.request), label(c.request)).toBe(toDecision(c.expected));
  }
  for (const c of file.evaluations) {
    const got = c.request.evaluations.map((item) => ({
      decision: decide(store, batchItem(c.request, item)) === 'allow',
    }));
    expect(got).toEqual(c.expected);
  }
}

function checkGateway(store: Store): void {
  const file = readJson<{ evaluation: SingleCase[] }>(GATEWAY_FILE);
  expect(file.evaluation).toHaveLength(25);
  for (const c of file.evaluation) {
    expect(decide(store, c.request), label(c.request)).toBe(toDecision(c.expected));
  }
}

const storedOfType = (store: Store, type: string): Uid[] =>
  store.entities.map((e) => asUid(e.uid)).filter((u) => u.type === type);

function schemaActions(store: Store): string[] {
  const json = cedar.schemaToJson(store.schema);
  if (json.type !== 'success') throw new Error(JSON.stringify(json.errors));
  return Object.values(json.json).flatMap((ns) => Object.keys(ns.actions));
}

const sortedKeys = (xs: Array<Uid | { name: string }>): string[] =>
  xs.map((x) => ('name' in x ? x.name : keyOf(x))).sort();

// ---------------------------------------------------------------- tests

const STORES = ['todo', 'gateway', 'search', 'demo', 'continuous'] as const;

describe.each(STORES)('examples/%s', (name) => {
  const store = loadStore(name);

  it('validates against its schema in strict mode', () => {
    const answer = cedar.validate({
      schema: store.schema,
      policies: { staticPolicies: store.policies },
      validationSettings: { mode: 'strict' },
    });
    expect(answer.type, JSON.stringify(answer)).toBe('success');
    if (answer.type === 'success') {
      expect(answer.validationErrors).toEqual([]);
      expect(answer.validationWarnings).toEqual([]);
    }
  });

  it('has entities that conform to its schema', () => {
    const answer = cedar.checkParseEntities({ entities: store.entities, schema: store.schema });
    expect(answer, JSON.stringify(answer)).toEqual({ type: 'success' });
  });

  it('passes its own tests/*.json cases', () => {
    const dir = join(EXAMPLES, name, 'tests');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const cases = readJson<Array<{ name: string; request: AzRequest; expect: Decision }>>(join(dir, file));
      expect(cases.length).toBeGreaterThan(0);
      // Unknown subjects are allowed here: reading their attributes errors, and the answer is deny.
      for (const c of cases) expect(evaluate(store, c.request).decision, `${file}: ${c.name}`).toBe(c.expect);
    }
  });
});

it('examples/demo holds exactly the todo and gateway policies', () => {
  const { policies: todo } = loadStore('todo');
  const { policies: gateway } = loadStore('gateway');
  expect(loadStore('demo').policies).toEqual({ ...todo, ...gateway });
});

describe('AuthZEN interop cases', () => {
  it('has the interop data', () => {
    expect(existsSync(INTEROP), `AuthZEN interop data not found at ${INTEROP} (set AUTHZEN_DIR)`).toBe(true);
  });

  it('todo: 40 single + 3 batch evaluations', () => checkTodo(loadStore('todo')));
  it('gateway: 25 evaluations', () => checkGateway(loadStore('gateway')));
  it('demo: the todo and gateway cases in one store', () => {
    const demo = loadStore('demo');
    checkTodo(demo);
    checkGateway(demo);
  });

  describe('search', () => {
    const store = loadStore('search');

    it('subject search: every stored subject of the type, compared as a set', () => {
      const file = readJson<{ evaluation: Array<SearchCase<Uid>> }>(join(SEARCH_DIR, 'subject/results.json'));
      expect(file.evaluation.length).toBeGreaterThan(0);
      for (const c of file.evaluation) {
        const found = storedOfType(store, c.request.subject.type).filter(
          (s) => decide(store, { ...c.request, subject: s }) === 'allow',
        );
        expect(sortedKeys(found), label(c.request)).toEqual(sortedKeys(c.expected.results));
      }
    });

    it('resource search: every stored resource of the type, compared as a set', () => {
      const file = readJson<{ evaluation: Array<SearchCase<Uid>> }>(join(SEARCH_DIR, 'resource/results.json'));
      expect(file.evaluation.length).toBeGreaterThan(0);
      for (const c of file.evaluation) {
        const found = storedOfType(store, c.request.resource.type).filter(
          (r) => decide(store, { ...c.request, resource: r }) === 'allow',
        );
        expect(sortedKeys(found), label(c.request)).toEqual(sortedKeys(c.expected.results));
      }
    });

    it('action search: every action in the schema, compared as a set', () => {
      const file = readJson<{ evaluation: Array<SearchCase<{ name: string }>> }>(
        join(SEARCH_DIR, 'action/results.json'),
      );
      expect(file.evaluation.length).toBeGreaterThan(0);
      const actions = schemaActions(store);
      for (const c of file.evaluation) {
        const found = actions
          .filter((name) => decide(store, { ...c.request, action: { name } }) === 'allow')
          .map((name) => ({ name }));
        expect(sortedKeys(found), label(c.request)).toEqual(sortedKeys(c.expected.results));
      }
    });
  });
});
