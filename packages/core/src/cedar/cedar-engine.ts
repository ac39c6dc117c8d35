/**
 * The Cedar adapter: implements the Engine port with `@cedar-policy/cedar-wasm`, which runs on
 * threads of its own (engine-host.ts): one for decisions, one for parsing untrusted policy
 * text, so a push can never disturb the instance that decides.
 */
import { setFlagsFromString } from 'node:v8';
import { VerityError, type Diagnostic } from '../errors.js';
import type { AuthorizeOptions, ContentCheck, Engine, EngineStats, ParsedPolicyText, PreparedPolicySet, SchemaFacts } from '../engine.js';
import type { CedarRequest, EngineResult, Entity, EntityUid, PolicyStoreContent } from '../types.js';
import { withEntry } from '../records.js';
import { positionIn } from '../source-position.js';
import { assertPolicyTextWithinLimits } from '../policy-text-limits.js';
import { analyzePolicySet, assertWithinPolicyLimits, templateInstances, type CedarPolicyJson } from '../policy-analysis.js';
import { annotationFactsOf } from '../policy-annotations.js';
import { ENGINE_CALL_TIMEOUT_MS, MAX_FALLBACK_TENANTS, MAX_POLICIES } from '../limits.js';
import { formatEntityUid } from '../entity-uid.js';
import { createEngineHost, type CedarCall, type Preparation } from './engine-host.js';
import { compilePolicySet, Delegate, type CompiledPolicySet } from './compiled/policy-set.js';

// Node 20's V8 crashes the process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when TurboFan has inlined a JS-to-Wasm call into a
// hot caller and that caller is lazily deoptimized while inside the Wasm call. Reproduced with
// a loop of audited decisions. Turning off only that inlining costs nothing measurable; V8
// flags are process-wide, so setting it here covers the engine threads too.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export interface CedarEngineOptions {
  /** Longest one engine call may run before its instance is replaced and the call fails (ms, default 2,000). */
  callTimeoutMs?: number;
  /** Stack of each engine thread, in MiB (default 32): deep but legal policies need more than the main thread's. */
  stackSizeMb?: number;
  /**
   * Preparsed policy sets one decision instance keeps before it is replaced by a fresh one
   * (default 10,000). cedar-wasm never frees a preparsed set; replacing the instance does.
   */
  maxPrepared?: number;
  /**
   * `compiled` (default): decide on the compiled evaluator (compiled/*.ts) on the caller's
   * thread, with cedar-wasm for the sets and requests it does not take. `cedar-wasm`: always
   * cedar-wasm (the reference, and the baseline of the differential tests).
   */
  evaluator?: 'compiled' | 'cedar-wasm';
  /** Most other tenants with sets on cedar-wasm before {@link Engine.admit} refuses one more (default MAX_FALLBACK_TENANTS). */
  maxFallbackTenants?: number;
}

/** cedar-wasm's error shape (`DetailedError`), the part we read. */
interface CedarError {
  message: string;
  help?: string | null;
  sourceLocations?: Array<{ start: number; end: number; label?: string | null }>;
}

type CheckAnswer = { type: 'success' } | { type: 'failure'; errors: CedarError[] };
type AuthorizationAnswer =
  | { type: 'failure'; errors: CedarError[] }
  | { type: 'success'; response: { decision: 'allow' | 'deny'; diagnostics: { reason: string[]; errors: Array<{ policyId: string; error: CedarError }> } } };
type ValidationAnswer =
  | { type: 'failure'; errors: CedarError[] }
  | { type: 'success'; validationErrors: Array<{ policyId: string; error: CedarError }>; validationWarnings: Array<{ policyId: string; error: CedarError }> };
type JsonAnswer<T> = { type: 'success'; json: T } | { type: 'failure'; errors: CedarError[] };
interface SchemaJson {
  [namespace: string]: { entityTypes: Record<string, unknown>; actions: Record<string, { memberOf?: Array<{ id: string; type?: string }> }> };
}

function toDiagnostics(errors: readonly CedarError[], text: string | undefined, source?: string, policyId?: string): Diagnostic[] {
  return errors.map((error) => {
    const diagnostic: Diagnostic = { message: error.message };
    if (error.help) diagnostic.help = error.help;
    if (policyId !== undefined) diagnostic.policyId = policyId;
    if (text !== undefined && error.sourceLocations?.length) {
      diagnostic.positions = error.sourceLocations.map((loc) => positionIn(text, loc.start, loc.end, source === undefined ? { label: loc.label ?? null } : { source, label: loc.label ?? null }));
    }
    return diagnostic;
  });
}

function policySetOf(content: PolicyStoreContent) {
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

/** The lexical guard: text past these limits never reaches Cedar's parser (it recurses). */
function assertContentWithinLimits(content: PolicyStoreContent): void {
  if (Object.keys(content.policies).length + Object.keys(content.templates).length + content.links.length > MAX_POLICIES) {
    throw new VerityError('ERR_POLICY_TOO_COMPLEX', `a policy-store version may hold at most ${MAX_POLICIES} policies, templates and links (MAX_POLICIES)`);
  }
  if (content.schema !== undefined) assertPolicyTextWithinLimits(content.schema, 'schema.cedarschema', 'schema');
  for (const [id, text] of [...Object.entries(content.policies), ...Object.entries(content.templates)]) assertPolicyTextWithinLimits(text, id);
}

/** Declared entity types, action entity types, actions and the action hierarchy of a schema. */
function schemaFactsOf(json: SchemaJson): SchemaFacts {
  const entityTypes = new Set<string>();
  const actionTypes = new Set<string>();
  const actions: EntityUid[] = [];
  const parents = new Map<string, string[]>();
  for (const [namespace, definition] of Object.entries(json)) {
    const prefix = namespace === '' ? '' : `${namespace}::`;
    for (const name of Object.keys(definition.entityTypes)) entityTypes.add(`${prefix}${name}`);
    for (const [name, action] of Object.entries(definition.actions)) {
      const uid = { type: `${prefix}Action`, id: name };
      actionTypes.add(uid.type);
      actions.push(uid);
      // A `memberOf` without a type names an action of the same namespace.
      parents.set(formatEntityUid(uid), (action.memberOf ?? []).map((p) => formatEntityUid({ type: p.type ?? `${prefix}Action`, id: p.id })));
    }
  }
  const actionAncestors = new Map<string, Set<string>>();
  for (const key of parents.keys()) {
    const seen = new Set<string>();
    const stack = [...(parents.get(key) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(parents.get(next) ?? []));
    }
    actionAncestors.set(key, seen);
  }
  return { entityTypes, actionTypes, actions, actionAncestors };
}

/**
 * Which positions of a policy file are code (1) rather than inside a `//` comment or a string
 * literal (0): the only places a policy can start.
 */
function codePositions(text: string): Uint8Array {
  const code = new Uint8Array(text.length).fill(1);
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      code.fill(0, start, Math.min(i + 1, text.length));
    } else if (ch === '/' && text[i + 1] === '/') {
      const start = i;
      while (i < text.length && text[i] !== '\n') i++;
      code.fill(0, start, i);
    }
  }
  return code;
}

const withSchemaOf = (set: PreparedPolicySet) => set.content.schema !== undefined;

/** The tenant a prepared key belongs to (`tenant@version#hash`): decisions take tenants in turn. */
function laneOf(key: string): string {
  const at = key.indexOf('@');
  return at < 0 ? key : key.slice(0, at);
}

/** Versions of one tenant the engine keeps prepared (see `prepare`). */
const MAX_PREPARED_PER_TENANT = 4;

const CANARY_CONTENT: PolicyStoreContent = { validationMode: 'off', policies: { canary: 'permit(principal, action, resource);' }, templates: {}, links: [] };

export function createCedarEngine(options: CedarEngineOptions = {}): Engine {
  const callTimeoutMs = options.callTimeoutMs ?? ENGINE_CALL_TIMEOUT_MS;
  const stackSizeMb = options.stackSizeMb ?? 32;
  const maxPrepared = options.maxPrepared ?? 10_000;
  if (!Number.isInteger(callTimeoutMs) || callTimeoutMs <= 0) throw new TypeError('createCedarEngine: callTimeoutMs must be a positive integer');
  if (!Number.isInteger(maxPrepared) || maxPrepared <= 0) throw new TypeError('createCedarEngine: maxPrepared must be a positive integer');
  const decide = createEngineHost({ name: 'decide', callTimeoutMs, stackSizeMb, maxPreparations: maxPrepared });
  // Untrusted policy text is parsed here: if it ever traps, only this instance is replaced.
  // All tenants share its one lane, so no failure quarantines it: a tenant whose text Cedar
  // cannot parse gets its own 4xx and never locks the others out of pushing.
  const parse = createEngineHost({ name: 'parse', callTimeoutMs, stackSizeMb, maxPreparations: maxPrepared, quarantine: false });
  const prepared = new Map<string, Promise<PreparedPolicySet>>();
  /**
   * Per tenant (lane): whether the set last prepared for it runs on cedar-wasm — what
   * {@link Engine.admit} counts. Kept when the set itself is evicted from `prepared`: the
   * tenant's cached view still decides with it.
   */
  const onWasm = new Map<string, boolean>();
  const maxFallbackTenants = options.maxFallbackTenants ?? MAX_FALLBACK_TENANTS;
  const preparations = new WeakMap<PreparedPolicySet, Preparation>();
  const compiledSets = new WeakMap<PreparedPolicySet, CompiledPolicySet>();
  /** After close() nothing decides, on either evaluator. */
  let closed = false;
  const useCompiled = (options.evaluator ?? 'compiled') === 'compiled';
  const stats: EngineStats = { compiledDecisions: 0, wasmDecisions: 0, delegated: {}, compiledSets: 0, wasmSets: {} };
  const count = (map: Record<string, number>, reason: string) => {
    // Reasons are a short fixed vocabulary (no request data), but bound the map all the same.
    const key = Object.keys(map).length < 100 || reason in map ? reason : 'other';
    map[key] = (map[key] ?? 0) + 1;
  };

  /**
   * Parse untrusted input on the parsing thread. If Cedar cannot (its instance trapped or ran
   * out of time — the lexical guard should prevent both), that is the input's fault: a 4xx.
   */
  const runParse = async (calls: CedarCall[], refusal: 'ERR_POLICY_TOO_COMPLEX' | 'ERR_ENTITY_INVALID' = 'ERR_POLICY_TOO_COMPLEX') => {
    try {
      return await parse.run('parse', calls);
    } catch (error) {
      if (error instanceof VerityError && (error.code === 'ERR_DECISION_FAILED' || error.code === 'ERR_DECISION_TIMEOUT')) {
        throw new VerityError(refusal, 'Cedar could not parse this input within its limits', { cause: error });
      }
      throw error;
    }
  };

  function preparationOf(set: PreparedPolicySet): Preparation {
    let found = preparations.get(set);
    if (!found) {
      const calls: CedarCall[] = [['preparsePolicySet', set.key, policySetOf(set.content)]];
      if (set.content.schema !== undefined) calls.push(['preparseSchema', set.key, set.content.schema]);
      found = {
        key: set.key,
        calls,
        check: (results) => {
          for (const answer of results as CheckAnswer[]) {
            if (answer.type !== 'success') throw new VerityError('ERR_POLICY_PARSE', 'Cedar could not parse the policy set', { diagnostics: toDiagnostics(answer.errors, undefined) });
          }
        },
      };
      preparations.set(set, found);
    }
    return found;
  }

  /** Parse a content on the parsing thread and compile it (nothing remembered). */
  async function compileContent(content: PolicyStoreContent) {
    assertContentWithinLimits(content);
    const ids = [...Object.keys(content.policies), ...Object.keys(content.templates)];
    const calls: CedarCall[] = [
      ...Object.values(content.policies).map((text): CedarCall => ['policyToJson', text]),
      ...Object.values(content.templates).map((text): CedarCall => ['templateToJson', text]),
    ];
    if (content.schema !== undefined) calls.push(['schemaToJsonWithResolvedTypes', content.schema]);
    const results = await runParse(calls);
    const json = new Map<string, CedarPolicyJson>();
    ids.forEach((id, i) => {
      const answer = results[i] as JsonAnswer<CedarPolicyJson>;
      if (answer.type !== 'success') throw new VerityError('ERR_POLICY_PARSE', `Cedar could not parse policy "${id}"`, { diagnostics: toDiagnostics(answer.errors, undefined, undefined, id) });
      json.set(id, answer.json);
    });
    const { analysis, problems } = analyzePolicySet(json, templateInstances(Object.keys(content.templates), content.links));
    assertWithinPolicyLimits(problems);
    let schema: SchemaFacts | null = null;
    let schemaJson: SchemaJson | null = null;
    if (content.schema !== undefined) {
      const answer = results[ids.length] as JsonAnswer<SchemaJson>;
      if (answer.type !== 'success') throw new VerityError('ERR_POLICY_SCHEMA_PARSE', 'Cedar could not parse the schema', { diagnostics: toDiagnostics(answer.errors, content.schema, 'schema.cedarschema') });
      schemaJson = answer.json;
      schema = schemaFactsOf(answer.json);
    }
    const staticCount = Object.keys(content.policies).length;
    const compilation = useCompiled
      ? compilePolicySet({
          policies: new Map(ids.slice(0, staticCount).map((id) => [id, json.get(id) as CedarPolicyJson])),
          templates: new Map(ids.slice(staticCount).map((id) => [id, json.get(id) as CedarPolicyJson])),
          links: content.links,
          schema: schemaJson,
          actionAncestors: schema?.actionAncestors ?? null,
        })
      : ({ ok: false, reason: 'the engine was created with evaluator cedar-wasm' } as const);
    return { json, analysis, schema, compilation };
  }

  async function prepareNow(key: string, content: PolicyStoreContent): Promise<PreparedPolicySet> {
    const { json, analysis, schema, compilation } = await compileContent(content);
    const set: PreparedPolicySet = {
      key,
      content,
      actions: schema?.actions ?? analysis.actions,
      entityTypes: schema?.entityTypes ?? null,
      schema,
      analysis,
      annotations: annotationFactsOf(json, content.links),
      evaluator: compilation.ok ? { kind: 'compiled' } : { kind: 'cedar-wasm', reason: compilation.reason },
    };
    if (compilation.ok) {
      // Cedar checks the whole set (ids, links) on the parsing thread; the deciding instance
      // preparses it only if a request ever needs cedar-wasm, so compiled sets cost it nothing.
      const [whole] = (await runParse([['checkParsePolicySet', policySetOf(content)]])) as [CheckAnswer];
      if (whole.type !== 'success') throw new VerityError('ERR_POLICY_PARSE', 'Cedar could not parse the policy set', { diagnostics: toDiagnostics(whole.errors, undefined) });
      compiledSets.set(set, compilation.set);
      stats.compiledSets++;
    } else {
      count(stats.wasmSets, compilation.reason);
      // Preparse on the deciding instance now, so a set that does not prepare fails here.
      await decide.run(laneOf(key), [], preparationOf(set));

    }
    onWasm.set(laneOf(key), !compilation.ok);
    return set;
  }

  const engine: Engine = {
    version: () => decide.version(),

    async splitPolicyText(text, source) {
      assertPolicyTextWithinLimits(text, source);
      const [parts] = (await runParse([['policySetTextToParts', text]])) as [{ type: 'success'; policies: string[]; policy_templates: string[] } | { type: 'failure'; errors: CedarError[] }];
      if (parts.type !== 'success') {
        throw new VerityError('ERR_POLICY_PARSE', `${source}: Cedar could not parse the policies`, { diagnostics: toDiagnostics(parts.errors, text, source) });
      }
      if (parts.policies.length + parts.policy_templates.length > MAX_POLICIES) {
        throw new VerityError('ERR_POLICY_TOO_COMPLEX', `${source} holds more than ${MAX_POLICIES} policies and templates (MAX_POLICIES)`);
      }
      const jsons = (await runParse([
        ...parts.policies.map((part): CedarCall => ['policyToJson', part]),
        ...parts.policy_templates.map((part): CedarCall => ['templateToJson', part]),
      ])) as Array<JsonAnswer<CedarPolicyJson>>;
      // cedar-wasm returns each list sorted by its internal ids (policy0, policy1, policy10, …),
      // not in file order: find each part where it stands in the file, outside comments and
      // string literals (identical parts are interchangeable, so they take their places in turn).
      const code = codePositions(text);
      const taken = new Set<number>();
      let index = 0;
      const locate = (kind: 'policy' | 'template', texts: string[]): ParsedPolicyText[] =>
        texts.map((part) => {
          let offset = text.indexOf(part);
          while (offset >= 0 && (taken.has(offset) || code[offset] !== 1)) offset = text.indexOf(part, offset + 1);
          if (offset < 0) throw new VerityError('ERR_POLICY_PARSE', `${source}: a policy Cedar split out of the file was not found in it`);
          taken.add(offset);
          const answer = jsons[index++] as JsonAnswer<CedarPolicyJson>;
          if (answer.type !== 'success') throw new VerityError('ERR_POLICY_PARSE', `${source}: Cedar could not parse the policies`, { diagnostics: toDiagnostics(answer.errors, part) });
          const annotatedId = answer.json.annotations?.id ?? undefined;
          const parsed: ParsedPolicyText = { text: part, kind, offset, json: answer.json };
          if (annotatedId !== undefined) parsed.annotatedId = annotatedId;
          return parsed;
        });
      const all = [...locate('policy', parts.policies), ...locate('template', parts.policy_templates)];
      // Keep source order so generated ids (file.N) are stable for a given file.
      return all.sort((a, b) => a.offset - b.offset);
    },

    async check(content): Promise<ContentCheck> {
      const errors: Diagnostic[] = [];
      const warnings: Diagnostic[] = [];
      assertContentWithinLimits(content);
      const policyEntries = Object.entries(content.policies);
      const templateEntries = Object.entries(content.templates);
      const calls: CedarCall[] = [
        ...policyEntries.map(([id, text]): CedarCall => ['checkParsePolicySet', { staticPolicies: { [id]: text } }]),
        ...templateEntries.map(([id, text]): CedarCall => ['checkParsePolicySet', { templates: { [id]: text } }]),
      ];
      if (content.schema !== undefined) calls.push(['checkParseSchema', content.schema]);
      const results = (await runParse(calls)) as CheckAnswer[];
      [...policyEntries, ...templateEntries].forEach(([id, text], i) => {
        const answer = results[i] as CheckAnswer;
        if (answer.type !== 'success') errors.push(...toDiagnostics(answer.errors, text, undefined, id));
      });
      const schemaAnswer = content.schema === undefined ? undefined : results[results.length - 1];
      if (schemaAnswer && schemaAnswer.type !== 'success') errors.unshift(...toDiagnostics(schemaAnswer.errors, content.schema, 'schema.cedarschema'));
      if (errors.length > 0) return { errors, warnings };
      const strict = content.schema !== undefined && content.validationMode === 'strict';
      const [whole, validation] = (await runParse([
        ['checkParsePolicySet', policySetOf(content)],
        ...(strict ? [['validate', { schema: content.schema, policies: policySetOf(content), validationSettings: { mode: 'strict' } }] as CedarCall] : []),
      ])) as [CheckAnswer, ValidationAnswer | undefined];
      if (whole.type !== 'success') return { errors: toDiagnostics(whole.errors, undefined), warnings };
      if (validation) {
        if (validation.type === 'failure') {
          errors.push(...toDiagnostics(validation.errors, undefined));
        } else {
          const textOf = (id: string) => content.policies[id] ?? content.templates[id];
          for (const v of validation.validationErrors) errors.push(...toDiagnostics([v.error], textOf(v.policyId), undefined, v.policyId));
          for (const v of validation.validationWarnings) warnings.push(...toDiagnostics([v.error], textOf(v.policyId), undefined, v.policyId));
        }
      }
      return { errors, warnings };
    },

    prepare(key, content) {
      let entry = prepared.get(key);
      if (entry) {
        // Most recently used last: eviction takes the set unused longest.
        prepared.delete(key);
        prepared.set(key, entry);
      } else {
        entry = prepareNow(key, content);
        if (prepared.size >= maxPrepared) prepared.delete(prepared.keys().next().value as string);
        // A tenant keeps at most MAX_PREPARED_PER_TENANT versions here (its active one, one being
        // pushed or rolled back to, …): older ones are forgotten, and freed once no view holds them.
        const lane = laneOf(key);
        const ofLane = [...prepared.keys()].filter((other) => laneOf(other) === lane);
        for (const old of ofLane.slice(0, Math.max(0, ofLane.length - (MAX_PREPARED_PER_TENANT - 1)))) prepared.delete(old);
        prepared.set(key, entry);
        // A failed preparation is not remembered: the next call tries again.
        entry.catch(() => {
          if (prepared.get(key) === entry) prepared.delete(key);
        });
      }
      return entry;
    },

    async admit(key, content) {
      const lane = laneOf(key);
      const known = prepared.has(key);
      const before = onWasm.get(lane);
      const set = await engine.prepare(key, content);
      if (set.evaluator.kind === 'compiled') return set;
      let others = 0;
      for (const [other, wasm] of onWasm) if (wasm && other !== lane) others++;
      if (others < maxFallbackTenants) return set;
      // Refused: nothing of it stays counted or prepared (a set prepared before this call stays).
      if (!known) {
        prepared.delete(key);
        if (before === undefined) onWasm.delete(lane);
        else onWasm.set(lane, before);
      }
      throw new VerityError(
        'ERR_POLICY_FALLBACK_LIMIT',
        `these policies would run on cedar-wasm, not the compiled evaluator (${set.evaluator.reason}), and this server already runs the policies of ${others} other tenants there (at most ${maxFallbackTenants}, MAX_FALLBACK_TENANTS): change what the reason names`,
      );
    },

    async checkEntities(entities, schema) {
      const [answer] = (await runParse([['checkParseEntities', { entities, schema: schema ?? null }]], 'ERR_ENTITY_INVALID')) as [CheckAnswer];
      return answer.type === 'success' ? [] : toDiagnostics(answer.errors, undefined);
    },

    async authorize(set, request: CedarRequest, entities: readonly Entity[], callOptions: AuthorizeOptions = {}): Promise<EngineResult> {
      if (closed) throw new VerityError('ERR_DECISION_FAILED', 'the engine is closed');
      const compiled = compiledSets.get(set);
      if (compiled !== undefined && (callOptions.validateRequest !== true || withSchemaOf(set))) {
        try {
          const answer = compiled.authorize(request, entities, callOptions.validateRequest === true, callOptions.risk);
          const result: EngineResult = { decision: answer.decision, reasons: answer.reasons, errors: answer.errors, evaluator: 'compiled' };
          stats.compiledDecisions++;
          return result;
        } catch (error) {
          // Not certain to answer as Cedar would (or Cedar refuses the input): cedar-wasm decides.
          if (!(error instanceof Delegate)) throw error;
          count(stats.delegated, error.reason);
        }
      }
      const withSchema = set.content.schema !== undefined;
      const [answer] = (await decide.run(
        laneOf(set.key),
        [
          [
            'statefulIsAuthorized',
            {
              principal: request.principal,
              action: request.action,
              resource: request.resource,
              context: callOptions.risk === undefined ? request.context : withEntry(request.context, 'risk', callOptions.risk as CedarRequest['context'][string]),
              preparsedPolicySetId: set.key,
              ...(withSchema ? { preparsedSchemaName: set.key, validateRequest: callOptions.validateRequest === true } : {}),
              entities,
            },
          ],
        ],
        preparationOf(set),
      )) as [AuthorizationAnswer];
      if (answer.type !== 'success') {
        // The policy set is preparsed: a failure means the entities, context or request are
        // not values Cedar accepts (or, with request validation, do not match the schema).
        throw new VerityError('ERR_DECISION_INVALID_REQUEST', answer.errors.map((e) => e.message).join('; ').slice(0, 2000));
      }
      const { decision, diagnostics } = answer.response;
      stats.wasmDecisions++;
      return {
        decision,
        reasons: diagnostics.reason,
        errors: diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
        evaluator: 'cedar-wasm',
      };
    },

    stats: () => structuredClone(stats),

    async ready() {
      try {
        const set = await engine.prepare('__verity_canary@0', CANARY_CONTENT);
        const probe = engine.authorize(set, { principal: { type: 'Canary', id: 'p' }, action: { type: 'Action', id: 'a' }, resource: { type: 'Canary', id: 'r' }, context: {} }, []);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), Math.min(callTimeoutMs, 1000));
        });
        const result = await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
        return result !== null && result.decision === 'allow';
      } catch {
        return false;
      }
    },

    async close() {
      closed = true;
      prepared.clear();
      await Promise.all([decide.close(), parse.close()]);
    },
  };
  return engine;
}

let shared: Engine | undefined;

/** One engine per process, created on first use: its threads are idle (and unreferenced) when unused. */
export function sharedCedarEngine(): Engine {
  shared ??= createCedarEngine();
  return shared;
}
