/** The Cedar adapter: the only file that imports cedar-wasm. Implements the Engine port. */
import { setFlagsFromString } from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { VerityError, type Diagnostic } from './errors.js';
import type { ContentCheck, Engine, ParsedPolicyText, PreparedPolicySet } from './engine.js';
import type { CedarRequest, Entity, EngineResult, EntityUid, PolicyStoreContent } from './types.js';
import { positionIn } from './source-position.js';
import { assertPolicyTextWithinLimits } from './policy-text-limits.js';

// Node 20's V8 crashes the process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when TurboFan has inlined a JS-to-Wasm call into a
// hot caller and that caller is lazily deoptimized while inside the Wasm call. Reproduced here
// with a loop of audited decisions (statefulIsAuthorized inlined into the decision path).
// Turning off only that inlining costs nothing measurable and must happen before any code is
// optimized, hence at module load.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export interface CedarEngineOptions {
  /**
   * How many prepared policy sets to remember. cedar-wasm keeps every preparsed set in its
   * own memory (it has no eviction call), so keys are reused per (tenant, version, hash) and
   * this only bounds the JS-side handles.
   */
  maxPrepared?: number;
}

/** The engine adapter over `@cedar-policy/cedar-wasm`. One per process is enough. */
/**
 * cedar-wasm answers bad input with a failure value; a thrown error means the Wasm side hit a
 * limit (stack, memory). Surface it as a domain error, never as an unexplained 500.
 */
function guarded<T>(code: 'ERR_POLICY_PARSE' | 'ERR_DECISION_FAILED' | 'ERR_ENTITY_INVALID', fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof VerityError) throw error;
    throw new VerityError(code, 'the policy engine could not process this input', { cause: error });
  }
}

/** Most policies and templates one store version may hold. */
const MAX_POLICIES = 10_000;

function assertContentWithinLimits(content: PolicyStoreContent): void {
  if (Object.keys(content.policies).length + Object.keys(content.templates).length + content.links.length > MAX_POLICIES) {
    throw new VerityError('ERR_POLICY_PARSE', `a policy store version may hold at most ${MAX_POLICIES} policies, templates and links`);
  }
  if (content.schema !== undefined) assertPolicyTextWithinLimits(content.schema, 'schema.cedarschema', 'schema');
  for (const [id, text] of [...Object.entries(content.policies), ...Object.entries(content.templates)]) assertPolicyTextWithinLimits(text, id);
}

export function createCedarEngine(options: CedarEngineOptions = {}): Engine {
  const maxPrepared = options.maxPrepared ?? 10_000;
  const prepared = new Map<string, PreparedPolicySet>();

  function toDiagnostics(errors: cedar.DetailedError[], text: string | undefined, source?: string, policyId?: string): Diagnostic[] {
    return errors.map((error) => {
      const diagnostic: Diagnostic = { message: error.message };
      if (error.help) diagnostic.help = error.help;
      if (policyId !== undefined) diagnostic.policyId = policyId;
      if (text !== undefined && error.sourceLocations?.length) {
        diagnostic.positions = error.sourceLocations.map((loc) =>
          positionIn(text, loc.start, loc.end, { ...(source === undefined ? {} : { source }), label: loc.label }),
        );
      }
      return diagnostic;
    });
  }

  function policySetOf(content: PolicyStoreContent): cedar.PolicySet {
    return {
      staticPolicies: content.policies,
      templates: content.templates,
      templateLinks: content.links.map((link) => ({
        templateId: link.templateId,
        newId: link.id,
        values: Object.fromEntries(Object.entries(link.values).map(([slot, uid]) => [slot, { type: uid.type, id: uid.id }])),
      })),
    };
  }

  function schemaTypes(schema: string): { entityTypes: Set<string>; actions: EntityUid[] } | null {
    const answer = cedar.schemaToJson(schema);
    if (answer.type !== 'success') return null;
    const entityTypes = new Set<string>();
    const actions: EntityUid[] = [];
    for (const [namespace, definition] of Object.entries(answer.json)) {
      const prefix = namespace === '' ? '' : `${namespace}::`;
      for (const name of Object.keys(definition.entityTypes)) entityTypes.add(`${prefix}${name}`);
      for (const name of Object.keys(definition.actions)) actions.push({ type: `${prefix}Action`, id: name });
    }
    return { entityTypes, actions };
  }

  function actionsNamedByPolicies(content: PolicyStoreContent): EntityUid[] {
    const found = new Map<string, EntityUid>();
    const add = (uid: cedar.EntityUidJson) => {
      const plain = '__entity' in uid ? uid.__entity : uid;
      found.set(`${plain.type}::${plain.id}`, { type: plain.type, id: plain.id });
    };
    const texts = [...Object.values(content.policies), ...Object.values(content.templates)];
    for (const text of texts) {
      const json = cedar.policyToJson(text);
      if (json.type !== 'success') continue;
      const constraint = json.json.action;
      if (constraint.op === '==' && 'entity' in constraint) add(constraint.entity);
      if (constraint.op === 'in') ('entity' in constraint ? [constraint.entity] : constraint.entities).forEach(add);
    }
    return [...found.values()];
  }

  const impl: Engine = {
    version: cedar.getCedarVersion(),

    splitPolicyText(text, source) {
      assertPolicyTextWithinLimits(text, source);
      const parts = cedar.policySetTextToParts(text);
      if (parts.type !== 'success') {
        throw new VerityError('ERR_POLICY_PARSE', `${source}: Cedar could not parse the policies`, { diagnostics: toDiagnostics(parts.errors, text, source) });
      }
      // Each list is in source order, so one forward search per list finds every offset in
      // linear time (a search from the start per part is quadratic on big files).
      const locate = (kind: 'policy' | 'template', texts: string[]): ParsedPolicyText[] => {
        let from = 0;
        return texts.map((part) => {
          const found = text.indexOf(part, from);
          const offset = found < 0 ? from : found;
          from = offset + part.length;
          const json = kind === 'policy' ? cedar.policyToJson(part) : cedar.templateToJson(part);
          const annotatedId = json.type === 'success' ? json.json.annotations?.id : undefined;
          return annotatedId === undefined ? { text: part, kind, offset } : { text: part, kind, offset, annotatedId };
        });
      };
      const all = [...locate('policy', parts.policies), ...locate('template', parts.policy_templates)];
      if (all.length > MAX_POLICIES) {
        throw new VerityError('ERR_POLICY_PARSE', `${source} holds more than ${MAX_POLICIES} policies and templates`);
      }
      // Keep source order so generated ids (file.N) are stable for a given file.
      return all.sort((a, b) => a.offset - b.offset);
    },

    check(content): ContentCheck {
      const errors: Diagnostic[] = [];
      const warnings: Diagnostic[] = [];
      assertContentWithinLimits(content);
      if (content.schema !== undefined) {
        const parsed = cedar.checkParseSchema(content.schema);
        if (parsed.type !== 'success') errors.push(...toDiagnostics(parsed.errors, content.schema, 'schema.cedarschema'));
      }
      for (const [id, text] of Object.entries(content.policies)) {
        const parsed = cedar.checkParsePolicySet({ staticPolicies: { [id]: text } });
        if (parsed.type !== 'success') errors.push(...toDiagnostics(parsed.errors, text, undefined, id));
      }
      for (const [id, text] of Object.entries(content.templates)) {
        const parsed = cedar.checkParsePolicySet({ templates: { [id]: text } });
        if (parsed.type !== 'success') errors.push(...toDiagnostics(parsed.errors, text, undefined, id));
      }
      if (errors.length > 0) return { errors, warnings };
      const whole = cedar.checkParsePolicySet(policySetOf(content));
      if (whole.type !== 'success') return { errors: toDiagnostics(whole.errors, undefined), warnings };
      if (content.schema !== undefined && content.validationMode === 'strict') {
        const answer = cedar.validate({ schema: content.schema, policies: policySetOf(content), validationSettings: { mode: 'strict' } });
        if (answer.type === 'failure') {
          errors.push(...toDiagnostics(answer.errors, undefined));
        } else {
          const textOf = (id: string) => content.policies[id] ?? content.templates[id];
          for (const v of answer.validationErrors) errors.push(...toDiagnostics([v.error], textOf(v.policyId), undefined, v.policyId));
          for (const v of answer.validationWarnings) warnings.push(...toDiagnostics([v.error], textOf(v.policyId), undefined, v.policyId));
        }
      }
      return { errors, warnings };
    },

    prepare(key, content) {
      const existing = prepared.get(key);
      if (existing) return existing;
      assertContentWithinLimits(content);
      const answer = cedar.preparsePolicySet(key, policySetOf(content));
      if (answer.type !== 'success') {
        throw new VerityError('ERR_POLICY_PARSE', 'Cedar could not parse the policy set', { diagnostics: toDiagnostics(answer.errors, undefined) });
      }
      const fromSchema = content.schema === undefined ? null : schemaTypes(content.schema);
      const set: PreparedPolicySet = {
        key,
        actions: fromSchema?.actions ?? actionsNamedByPolicies(content),
        entityTypes: fromSchema?.entityTypes ?? null,
      };
      if (prepared.size >= maxPrepared) prepared.delete(prepared.keys().next().value as string);
      prepared.set(key, set);
      return set;
    },

    checkEntities(entities, schema) {
      const answer = cedar.checkParseEntities({ entities: entities as cedar.EntityJson[], schema: schema ?? null });
      return answer.type === 'success' ? [] : toDiagnostics(answer.errors, undefined);
    },

    authorize(set, request: CedarRequest, entities: Entity[]): EngineResult {
      const answer = cedar.statefulIsAuthorized({
        principal: request.principal,
        action: request.action,
        resource: request.resource,
        context: request.context as cedar.Context,
        preparsedPolicySetId: set.key,
        entities: entities as cedar.EntityJson[],
      });
      if (answer.type !== 'success') {
        // With the policy set preparsed, a failure means the request's entities or context
        // are not valid Cedar values: the caller's input, not an engine fault.
        throw new VerityError('ERR_DECISION_INVALID_REQUEST', answer.errors.map((e) => e.message).join('; '));
      }
      const { decision, diagnostics } = answer.response;
      return {
        decision,
        reasons: diagnostics.reason,
        errors: diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
      };
    },
  };

  return {
    version: impl.version,
    splitPolicyText: (text, source) => guarded('ERR_POLICY_PARSE', () => impl.splitPolicyText(text, source)),
    check: (content) => guarded('ERR_POLICY_PARSE', () => impl.check(content)),
    prepare: (key, content) => guarded('ERR_POLICY_PARSE', () => impl.prepare(key, content)),
    checkEntities: (entities, schema) => guarded('ERR_ENTITY_INVALID', () => impl.checkEntities(entities, schema)),
    authorize: (set, request, entities) => guarded('ERR_DECISION_FAILED', () => impl.authorize(set, request, entities)),
  };
}
