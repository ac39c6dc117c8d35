/**
 * A compiled policy set: every policy and template link compiled once per (tenant, version),
 * indexed by what its scope names, and the authorizer over it (Cedar docs, "Authorization":
 * a satisfied forbid denies; else a satisfied permit allows; else deny; a policy whose
 * evaluation errs does not apply and is reported with its id).
 */
import type { CedarPolicyJson } from '../../policy-analysis.js';
import type { CedarRequest, EngineResult, Entity, RiskContext, TemplateLink } from '../../types.js';
import { compilePolicy, UnsupportedPolicy, type CompiledPolicy, type Env, type ScopeKey, type SlotValues } from './compile.js';
import { EntityReader, schemaModelOf, type SchemaModel } from './entities.js';
import { Delegate, EvalError, Uid, uidOf } from './values.js';

export { Delegate, UnsupportedPolicy };

/** A policy set the compiled evaluator decides, or why it cannot. */
export type Compilation = { ok: true; set: CompiledPolicySet } | { ok: false; reason: string };

/** Below this many policies every request tests every policy; above, the index picks candidates. */
const INDEX_FROM = 16;

export class CompiledPolicySet {
  private readonly reader: EntityReader;
  private readonly unindexed: CompiledPolicy[] = [];
  private readonly byPrincipal = new Map<string, CompiledPolicy[]>();
  private readonly byResource = new Map<string, CompiledPolicy[]>();
  private readonly byAction = new Map<string, CompiledPolicy[]>();

  constructor(
    readonly policies: readonly CompiledPolicy[],
    schema: SchemaModel | null,
  ) {
    this.reader = new EntityReader(schema);
    if (policies.length < INDEX_FROM) return;
    const push = (map: Map<string, CompiledPolicy[]>, key: string, policy: CompiledPolicy) => {
      const list = map.get(key);
      if (list) list.push(policy);
      else map.set(key, [policy]);
    };
    const scopeKey = (key: ScopeKey): string | null => (key === null ? null : key.kind === 'eq' ? key.key : `type ${key.type}`);
    for (const policy of policies) {
      // One bucket per policy: the most selective thing its scope names that a request's
      // principal, resource or action can be looked up by.
      const principal = scopeKey(policy.principalKey);
      const resource = scopeKey(policy.resourceKey);
      const exactActions = policy.actions !== null && (policy.actions.op === '==' || this.actionsAreLeaves(policy.actions.keys, schema)) ? policy.actions.keys : null;
      if (policy.principalKey?.kind === 'eq' && principal) push(this.byPrincipal, principal, policy);
      else if (policy.resourceKey?.kind === 'eq' && resource) push(this.byResource, resource, policy);
      else if (exactActions) for (const key of exactActions) push(this.byAction, key, policy);
      else if (principal) push(this.byPrincipal, principal, policy);
      else if (resource) push(this.byResource, resource, policy);
      else this.unindexed.push(policy);
    }
  }

  /** With a schema, `action in [A]` names exactly A when no declared action has A as a group. */
  private actionsAreLeaves(keys: readonly string[], schema: SchemaModel | null): boolean {
    if (schema === null) return false;
    for (const groups of schema.actionAncestors.values()) for (const key of keys) if (groups.has(key)) return false;
    return true;
  }

  private candidates(env: Env): readonly CompiledPolicy[] {
    if (this.policies.length < INDEX_FROM) return this.policies;
    const lists = [
      this.unindexed,
      this.byPrincipal.get(env.principal.key),
      this.byPrincipal.get(`type ${env.principal.type}`),
      this.byResource.get(env.resource.key),
      this.byResource.get(`type ${env.resource.type}`),
      this.byAction.get(env.action.key),
    ].filter((list): list is CompiledPolicy[] => list !== undefined && list.length > 0);
    if (lists.length === 1) return lists[0] as CompiledPolicy[];
    return lists.flat().sort((a, b) => a.ordinal - b.ordinal);
  }

  /**
   * Decide one request with exactly these entities. Throws {@link Delegate} when it cannot be
   * sure to answer as Cedar would (the caller then asks cedar-wasm).
   */
  authorize(request: CedarRequest, entities: readonly Entity[], validateRequest = false, risk?: RiskContext): EngineResult {
    const action = uidOf(request.action, 'the action');
    const principal = uidOf(request.principal, 'the principal');
    const resource = uidOf(request.resource, 'the resource');
    this.reader.checkRequestUid(principal);
    this.reader.checkRequestUid(resource);
    if (validateRequest) this.reader.validateRequest(principal, action, resource);
    const env: Env = {
      principal,
      action,
      resource,
      context: this.reader.context(request.context, action, risk),
      entities: this.reader.store(entities),
    };
    const forbids: string[] = [];
    const permits: string[] = [];
    const errors: Array<{ policyId: string; message: string }> = [];
    for (const policy of this.candidates(env)) {
      let satisfied: boolean;
      try {
        satisfied = policy.test(env);
      } catch (error) {
        if (error instanceof EvalError) {
          errors.push({ policyId: policy.id, message: error.message });
          continue;
        }
        if (error instanceof RangeError) throw new Delegate('evaluation ran out of stack');
        throw error;
      }
      if (satisfied) (policy.forbid ? forbids : permits).push(policy.id);
    }
    if (forbids.length > 0) return { decision: 'deny', reasons: forbids, errors };
    if (permits.length > 0) return { decision: 'allow', reasons: permits, errors };
    return { decision: 'deny', reasons: [], errors };
  }
}

/** The policy set's parts as Cedar's JSON policy format gives them. */
export interface PolicySetJson {
  /** Static policies by id, in the set's order. */
  policies: ReadonlyMap<string, CedarPolicyJson>;
  templates: ReadonlyMap<string, CedarPolicyJson>;
  links: readonly TemplateLink[];
  /** `schemaToJsonWithResolvedTypes`'s JSON, or null without a schema. */
  schema: Record<string, unknown> | null;
  /** The schema's action hierarchy (uid key → groups), when there is a schema. */
  actionAncestors: ReadonlyMap<string, ReadonlySet<string>> | null;
}

/** Compile a policy set, or say why the compiled evaluator does not take it. */
export function compilePolicySet(parts: PolicySetJson): Compilation {
  try {
    const schema = parts.schema === null ? null : schemaModelOf(parts.schema as never, parts.actionAncestors ?? new Map());
    const compiled: CompiledPolicy[] = [];
    for (const [id, json] of parts.policies) compiled.push(compilePolicy(id, compiled.length, json));
    for (const link of parts.links) {
      const template = parts.templates.get(link.templateId);
      if (template === undefined) return { ok: false, reason: `link ${link.id} names a template that is not in the set` };
      const slots: SlotValues = {};
      for (const [slot, uid] of Object.entries(link.values)) {
        if (slot !== '?principal' && slot !== '?resource') return { ok: false, reason: `a link fills the unknown slot ${slot}` };
        slots[slot] = new Uid(uid.type, uid.id);
      }
      compiled.push(compilePolicy(link.id, compiled.length, template, slots));
    }
    return { ok: true, set: new CompiledPolicySet(compiled, schema) };
  } catch (error) {
    if (error instanceof UnsupportedPolicy) return { ok: false, reason: error.message };
    if (error instanceof RangeError) return { ok: false, reason: 'a policy nests deeper than the compiler recurses' };
    throw error;
  }
}
