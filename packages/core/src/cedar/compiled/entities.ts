/**
 * The entities of one request, as the compiled evaluator reads them: Cedar JSON entities
 * (Cedar docs, "Entities & context JSON format") read once into {@link Value}s, the hierarchy's
 * transitive closure, and — with a schema — the schema's conformance rules and its actions.
 *
 * Where Cedar would refuse the request (a cycle in the hierarchy, a duplicate entity, an entity
 * that does not conform to the schema) or Verity is unsure how Cedar reads a value, reading
 * throws {@link Delegate}: cedar-wasm then answers or refuses the request exactly.
 */
import type { CedarValue, Entity, RiskContext } from '../../types.js';
import { isPlainObject } from '../../wire-format.js';
import { CedarRecord, CedarSet, Delegate, Uid, constructExtension, EvalError, isCertainTypeName, longOf, readValue, uidOf, type Value } from './values.js';
import { UnsupportedPolicy } from './compile.js';

export interface StoredEntity {
  readonly attrs: ReadonlyMap<string, Value>;
  readonly tags: ReadonlyMap<string, Value> | null;
  readonly parents: readonly Uid[];
}

const NO_ATTRS: ReadonlyMap<string, Value> = new Map();
/** An action the schema declares: it exists, with no attributes and no tags. */
const SCHEMA_ACTION: StoredEntity = { attrs: NO_ATTRS, tags: null, parents: [] };

// ---- schema ----------------------------------------------------------------------------------

type SchemaType =
  | { k: 'Long' }
  | { k: 'String' }
  | { k: 'Boolean' }
  | { k: 'Set'; element: SchemaType }
  | { k: 'Record'; attrs: ReadonlyMap<string, { type: SchemaType; required: boolean }>; open: boolean }
  | { k: 'Entity'; name: string; enum: ReadonlySet<string> | null }
  | { k: 'Extension'; fn: 'ip' | 'decimal' | 'datetime' | 'duration' };

interface SchemaEntityType {
  /** An enumerated entity type's ids (Cedar RFC 53), or null. */
  enum: ReadonlySet<string> | null;
  shape: Extract<SchemaType, { k: 'Record' }>;
  memberOf: ReadonlySet<string>;
  tags: SchemaType | null;
}

/** What entity and context reading needs of a schema. */
export interface SchemaModel {
  entityTypes: ReadonlyMap<string, SchemaEntityType>;
  /** Declared actions by uid key, with their context type and the types they apply to. */
  actions: ReadonlyMap<string, SchemaAction>;
  actionTypes: ReadonlySet<string>;
  /** Each action's groups, transitively, by uid key. */
  actionAncestors: ReadonlyMap<string, ReadonlySet<string>>;
}

interface SchemaAction {
  context: Extract<SchemaType, { k: 'Record' }>;
  principalTypes: ReadonlySet<string>;
  resourceTypes: ReadonlySet<string>;
}

interface JsonType {
  type?: string;
  name?: string;
  element?: JsonType;
  attributes?: Record<string, JsonType & { required?: boolean }>;
  additionalAttributes?: boolean;
}

interface JsonNamespace {
  commonTypes?: Record<string, JsonType>;
  entityTypes?: Record<string, { memberOfTypes?: string[]; shape?: JsonType; tags?: JsonType; enum?: unknown }>;
  actions?: Record<string, { appliesTo?: { context?: JsonType; principalTypes?: string[]; resourceTypes?: string[] } | null; memberOf?: Array<{ id: string; type?: string }> }>;
}

const EXTENSIONS: Record<string, 'ip' | 'decimal' | 'datetime' | 'duration'> = { ipaddr: 'ip', decimal: 'decimal', datetime: 'datetime', duration: 'duration' };
const BUILTIN_NAMES = new Set(['Long', 'String', 'Bool', 'Boolean', 'Set', 'Record', 'Entity', 'Extension', 'EntityOrCommon', ...Object.keys(EXTENSIONS)]);
const EMPTY_RECORD: Extract<SchemaType, { k: 'Record' }> = { k: 'Record', attrs: new Map(), open: false };

/**
 * Read a schema in Cedar's JSON schema format (`schemaToJsonWithResolvedTypes`). Throws
 * {@link UnsupportedPolicy} for what the compiled evaluator does not read (enumerated entity
 * types, a type it cannot resolve).
 */
export function schemaModelOf(json: Record<string, JsonNamespace>, actionAncestors: ReadonlyMap<string, ReadonlySet<string>>): SchemaModel {
  const common = new Map<string, JsonType>();
  const declared = new Set<string>();
  const enums = new Map<string, ReadonlySet<string>>();
  for (const [namespace, definition] of Object.entries(json)) {
    const prefix = namespace === '' ? '' : `${namespace}::`;
    for (const [name, type] of Object.entries(definition.commonTypes ?? {})) common.set(`${prefix}${name}`, type);
    for (const [name, entity] of Object.entries(definition.entityTypes ?? {})) {
      declared.add(`${prefix}${name}`);
      if (entity.enum !== undefined) {
        if (!Array.isArray(entity.enum) || !entity.enum.every((id) => typeof id === 'string')) throw new UnsupportedPolicy('an enumerated entity type in an unexpected form');
        enums.set(`${prefix}${name}`, new Set(entity.enum as string[]));
      }
    }
  }
  // A type declared under a builtin's or an extension's name (`type ipaddr = String;`, legal in
  // the empty namespace) is written in the resolved JSON exactly like the builtin: which one it
  // means is Cedar's to say, so such a schema stays on cedar-wasm.
  for (const name of [...common.keys(), ...declared]) {
    if (BUILTIN_NAMES.has(name)) throw new UnsupportedPolicy('a schema type named like a builtin or extension type');
  }
  const entityType = (name: string): SchemaType => ({ k: 'Entity', name, enum: enums.get(name) ?? null });
  // Each common type is resolved once and shared: a schema whose types nest by reference costs
  // its size, never the size of its expansion.
  const resolvedCommon = new Map<string, SchemaType>();
  const commonType = (name: string, depth: number): SchemaType => {
    let found = resolvedCommon.get(name);
    if (found === undefined) {
      found = resolve(common.get(name), depth + 1);
      resolvedCommon.set(name, found);
    }
    return found;
  };
  const resolve = (type: JsonType | undefined, depth = 0): SchemaType => {
    if (type === undefined || depth > 64) throw new UnsupportedPolicy('a schema type it cannot resolve');
    const written = type.type ?? '';
    // `__cedar::Long` always names the builtin; `Bool` is the JSON schema format's other spelling.
    const builtin = written.startsWith('__cedar::') ? written.slice('__cedar::'.length) : written;
    const name = builtin === 'Bool' ? 'Boolean' : builtin;
    switch (name) {
      case 'Long':
      case 'String':
      case 'Boolean':
        return { k: name };
      case 'Set':
        return { k: 'Set', element: resolve(type.element, depth + 1) };
      case 'Record': {
        const attrs = new Map<string, { type: SchemaType; required: boolean }>();
        for (const [attr, inner] of Object.entries(type.attributes ?? {})) attrs.set(attr, { type: resolve(inner, depth + 1), required: inner.required !== false });
        return { k: 'Record', attrs, open: type.additionalAttributes === true };
      }
      case 'Entity':
        if (typeof type.name !== 'string') throw new UnsupportedPolicy('an entity type without a name in the schema');
        return entityType(type.name);
      case 'Extension': {
        const fn = EXTENSIONS[type.name ?? ''];
        if (!fn) throw new UnsupportedPolicy(`the schema extension type ${String(type.name)}`);
        return { k: 'Extension', fn };
      }
      case 'EntityOrCommon': {
        const target = type.name ?? '';
        if (common.has(target)) return commonType(target, depth);
        if (declared.has(target)) return entityType(target);
        if (EXTENSIONS[target]) return { k: 'Extension', fn: EXTENSIONS[target] };
        throw new UnsupportedPolicy(`the schema type ${target}`);
      }
      default: {
        if (EXTENSIONS[name]) return { k: 'Extension', fn: EXTENSIONS[name] };
        if (common.has(name)) return commonType(name, depth);
        if (declared.has(name)) return entityType(name);
        throw new UnsupportedPolicy(`the schema type ${name}`);
      }
    }
  };
  const asRecord = (type: SchemaType): Extract<SchemaType, { k: 'Record' }> => {
    if (type.k !== 'Record') throw new UnsupportedPolicy('a schema shape or context that is not a record');
    return type;
  };
  const entityTypes = new Map<string, SchemaEntityType>();
  const actions = new Map<string, SchemaAction>();
  const actionTypes = new Set<string>();
  for (const [namespace, definition] of Object.entries(json)) {
    const prefix = namespace === '' ? '' : `${namespace}::`;
    for (const [name, entity] of Object.entries(definition.entityTypes ?? {})) {
      entityTypes.set(`${prefix}${name}`, {
        enum: enums.get(`${prefix}${name}`) ?? null,
        shape: entity.shape === undefined ? EMPTY_RECORD : asRecord(resolve(entity.shape)),
        memberOf: new Set(entity.memberOfTypes ?? []),
        tags: entity.tags === undefined ? null : resolve(entity.tags),
      });
    }
    for (const [name, action] of Object.entries(definition.actions ?? {})) {
      actionTypes.add(`${prefix}Action`);
      const context = action.appliesTo?.context;
      actions.set(new Uid(`${prefix}Action`, name).key, {
        context: context === undefined ? EMPTY_RECORD : asRecord(resolve(context)),
        principalTypes: new Set(action.appliesTo?.principalTypes ?? []),
        resourceTypes: new Set(action.appliesTo?.resourceTypes ?? []),
      });
    }
  }
  return { entityTypes, actions, actionTypes, actionAncestors };
}

/** Read a value the schema types. Anything but the forms Cedar certainly reads is delegated. */
function readTyped(json: unknown, type: SchemaType, where: string): Value {
  const refuse = (): never => {
    throw new Delegate('a value that does not plainly conform to the schema', where);
  };
  switch (type.k) {
    case 'Long':
      if (typeof json === 'number' && Number.isSafeInteger(json)) return json;
      if (typeof json === 'bigint') return longOf(json) ?? refuse();
      return refuse();
    case 'String':
      return typeof json === 'string' ? json : refuse();
    case 'Boolean':
      return typeof json === 'boolean' ? json : refuse();
    case 'Set':
      return Array.isArray(json) ? new CedarSet(json.map((item) => readTyped(item, type.element, where))) : refuse();
    case 'Record':
      return readRecord(json, type, where);
    case 'Entity': {
      if (!isPlainObject(json)) return refuse();
      const inner = Object.keys(json).length === 1 && '__entity' in json ? (json as { __entity: unknown }).__entity : json;
      const uid = uidOf(inner, where);
      return uid.type === type.name && (type.enum === null || type.enum.has(uid.id)) ? uid : refuse();
    }
    case 'Extension': {
      let arg: unknown = json;
      if (typeof json === 'object' && json !== null && Object.keys(json).length === 1 && '__extn' in json) {
        const extn = (json as { __extn: unknown }).__extn as { fn?: unknown; arg?: unknown } | null;
        if (typeof extn !== 'object' || extn === null || Object.keys(extn).length !== 2 || extn.fn !== type.fn) return refuse();
        arg = extn.arg;
      }
      if (typeof arg !== 'string') return refuse();
      const value = constructExtension(type.fn, arg);
      return value instanceof EvalError ? refuse() : value;
    }
  }
}

/**
 * Read a record the schema types. `risk`: the context's `risk` entry, set after the record's own
 * (it wins), read as its declared type by the caller (which remembers it per object).
 */
function readRecord(json: unknown, type: Extract<SchemaType, { k: 'Record' }>, where: string, risk?: (declared: SchemaType) => Value): CedarRecord {
  if (!isPlainObject(json)) throw new Delegate('a record that does not plainly conform to the schema', where);
  const fields = new Map<string, Value>();
  for (const [key, inner] of Object.entries(json)) {
    const declared = type.attrs.get(key);
    if (declared === undefined) throw new Delegate('an attribute the schema does not declare', where);
    fields.set(key, readTyped(inner, declared.type, where));
  }
  if (risk !== undefined) {
    const declared = type.attrs.get('risk');
    if (declared === undefined) throw new Delegate('an attribute the schema does not declare', where);
    fields.set('risk', risk(declared.type));
  }
  for (const [key, declared] of type.attrs) if (declared.required && !fields.has(key)) throw new Delegate('a required attribute is missing', where);
  return new CedarRecord(fields);
}

// ---- reading entities ------------------------------------------------------------------------

function readMap(values: Record<string, CedarValue>, where: string): Map<string, Value> {
  const map = new Map<string, Value>();
  for (const [key, value] of Object.entries(values)) map.set(key, readValue(value, where));
  return map;
}

interface ReadEntity extends StoredEntity {
  uid: Uid;
}

/** An entity type Cedar treats as actions (`Action`, `NS::Action`). */
const isActionType = (type: string) => type === 'Action' || type.endsWith('::Action');

function readEntity(entity: Entity, schema: SchemaModel | null): ReadEntity {
  // Cedar's entity JSON: exactly uid, attrs (a record), parents (a list), and optional tags (a record).
  if (!isPlainObject(entity) || !isPlainObject(entity.attrs) || !Array.isArray(entity.parents) || (entity.tags !== undefined && !isPlainObject(entity.tags))) {
    throw new Delegate('an entity in an unusual form');
  }
  for (const key of Object.keys(entity)) if (key !== 'uid' && key !== 'attrs' && key !== 'parents' && key !== 'tags') throw new Delegate('an entity in an unusual form');
  const uid = uidOf(entity.uid, 'an entity');
  const where = `entity ${uid.key.slice(0, 100)}`;
  const parents = entity.parents.map((parent) => uidOf(parent, where));
  // Cedar refuses an action whose parent is not an action; the other way round, let Cedar say.
  if (parents.some((parent) => isActionType(parent.type) !== isActionType(uid.type))) throw new Delegate('an action and a non-action in one hierarchy', where);
  if (schema === null) {
    return { uid, attrs: readMap(entity.attrs, where), tags: entity.tags === undefined ? null : readMap(entity.tags, where), parents };
  }
  const declared = schema.entityTypes.get(uid.type);
  if (declared === undefined) throw new Delegate('a type the schema does not declare (or an action)', where);
  if (declared.enum !== null && !declared.enum.has(uid.id)) throw new Delegate('an id its enumerated type does not list', where);
  for (const parent of parents) {
    if (!declared.memberOf.has(parent.type)) throw new Delegate('a parent type the schema does not allow', where);
    const parentEnum = schema.entityTypes.get(parent.type)?.enum;
    if (parentEnum && !parentEnum.has(parent.id)) throw new Delegate('an id its enumerated type does not list', where);
  }
  const attrs = readRecord(entity.attrs, declared.shape, where).fields;
  let tags: Map<string, Value> | null = null;
  if (entity.tags !== undefined && Object.keys(entity.tags).length > 0) {
    const tagType = declared.tags;
    if (tagType === null) throw new Delegate('tags the schema does not declare', where);
    tags = new Map(Object.entries(entity.tags).map(([key, value]) => [key, readTyped(value, tagType, where)]));
  } else if (declared.tags !== null) {
    tags = new Map();
  }
  return { uid, attrs, tags, parents };
}

/** Reads entities and contexts for one compiled policy set (one schema or none). */
export class EntityReader {
  /** Entities already read: slices often hand the same objects again. */
  private readonly cache = new WeakMap<Entity, ReadEntity>();

  constructor(readonly schema: SchemaModel | null) {}

  /** Values of `context.risk` entries read so far, per (frozen, interned) entry: with the schema type they were read as. */
  private readonly riskValues = new WeakMap<RiskContext, { type: SchemaType | null; value: Value }>();

  /**
   * The request's context record, with `risk` (the risk engine's `context.risk`) set after the
   * context's own entries, as Cedar would read the context holding it.
   */
  context(context: Record<string, CedarValue>, action: Uid, risk?: RiskContext): CedarRecord {
    if (!isPlainObject(context)) throw new Delegate('a context that is not a record');
    if (this.schema === null) {
      const value = readValue(context, 'the context');
      if (!(value instanceof CedarRecord)) throw new Delegate('a context that is not a record');
      // readValue made this record now, for this request: it is still ours to complete.
      if (risk !== undefined) (value.fields as Map<string, Value>).set('risk', this.riskValue(risk, null));
      return value;
    }
    const declared = this.schema.actions.get(action.key);
    if (declared === undefined) throw new Delegate('an action the schema does not declare');
    return readRecord(context, declared.context, 'the context', risk === undefined ? undefined : (type) => this.riskValue(risk, type));
  }

  /** `context.risk` read (as `type`, or without a schema): once per frozen entry and type. */
  private riskValue(risk: RiskContext, type: SchemaType | null): Value {
    const known = this.riskValues.get(risk);
    if (known !== undefined && known.type === type) return known.value;
    const value = type === null ? readValue(risk, 'the context') : readTyped(risk, type, 'the context');
    if (Object.isFrozen(risk)) this.riskValues.set(risk, { type, value });
    return value;
  }

  /**
   * Cedar's request validation (`validateRequest`): the action is declared and applies to the
   * principal's and resource's types (its context is checked as it is read). Delegates a
   * request that fails it: cedar-wasm refuses it with Cedar's own message.
   */
  validateRequest(principal: Uid, action: Uid, resource: Uid): void {
    const declared = this.schema?.actions.get(action.key);
    if (declared === undefined) throw new Delegate('an action the schema does not declare', 'the request');
    if (!declared.principalTypes.has(principal.type) || !declared.resourceTypes.has(resource.type)) throw new Delegate('a request the schema does not allow', 'the request');
  }

  /** Delegates when a request names an id its enumerated entity type does not list. */
  checkRequestUid(uid: Uid): void {
    const enumIds = this.schema?.entityTypes.get(uid.type)?.enum;
    if (enumIds && !enumIds.has(uid.id)) throw new Delegate('an id its enumerated type does not list', 'the request');
  }

  /** The store for one request. Delegates on duplicates and cycles (Cedar refuses both). */
  store(entities: readonly Entity[]): EntityStore {
    const map = new Map<string, ReadEntity>();
    for (const entity of entities) {
      let read = this.cache.get(entity);
      if (read === undefined) {
        read = readEntity(entity, this.schema);
        this.cache.set(entity, read);
      }
      if (map.has(read.uid.key)) throw new Delegate('a duplicate entity');
      map.set(read.uid.key, read);
    }
    return new EntityStore(map, this.schema);
  }
}

/** The entities of one request and their hierarchy's transitive closure. */
export class EntityStore {
  private readonly ancestors = new Map<string, ReadonlySet<string>>();

  /** True when no entity's parent is in the store: each entity's ancestors are its parents. */
  private readonly flat: boolean;

  constructor(
    private readonly entities: ReadonlyMap<string, ReadEntity>,
    private readonly schema: SchemaModel | null,
  ) {
    let flat = true;
    for (const entity of this.entities.values()) {
      for (const parent of entity.parents) {
        if (this.entities.has(parent.key)) {
          flat = false;
          break;
        }
      }
      if (!flat) break;
    }
    this.flat = flat;
    // A flat hierarchy has no cycle (a self-parent is in the store) and needs no closure.
    if (flat) return;
    // Cedar computes the closure when it reads the entities, and refuses a cycle.
    const visiting = new Set<string>();
    const visit = (key: string): ReadonlySet<string> => {
      const known = this.ancestors.get(key);
      if (known !== undefined) return known;
      const entity = this.entities.get(key);
      if (entity === undefined || entity.parents.length === 0) return EMPTY;
      if (visiting.has(key)) throw new Delegate('a cycle in the entity hierarchy');
      visiting.add(key);
      const all = new Set<string>();
      for (const parent of entity.parents) {
        if (parent.key === key) throw new Delegate('a cycle in the entity hierarchy');
        all.add(parent.key);
        for (const above of visit(parent.key)) all.add(above);
      }
      if (all.has(key)) throw new Delegate('a cycle in the entity hierarchy');
      visiting.delete(key);
      this.ancestors.set(key, all);
      return all;
    };
    for (const key of this.entities.keys()) visit(key);
  }

  get(uid: Uid): StoredEntity | undefined {
    const found = this.entities.get(uid.key);
    if (found !== undefined) return found;
    if (this.schema !== null && this.schema.actionAncestors.has(uid.key)) return SCHEMA_ACTION;
    return undefined;
  }

  /** Cedar `in` on entities: equal, or an ancestor. */
  isIn(a: Uid, b: Uid): boolean {
    if (a.key === b.key) return true;
    if (this.flat) {
      const entity = this.entities.get(a.key);
      if (entity !== undefined) return entity.parents.some((parent) => parent.key === b.key);
    }
    const closure = this.ancestors.get(a.key) ?? (this.schema === null ? undefined : this.schema.actionAncestors.get(a.key));
    return closure !== undefined && closure.has(b.key);
  }
}

const EMPTY: ReadonlySet<string> = new Set();

export { isCertainTypeName };
