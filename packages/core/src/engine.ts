/** The engine port: what Verity needs from a policy engine. The Cedar adapter (`@verity/core/cedar`) implements it. */
import type { CedarRequest, Entity, EngineResult, EntityUid, PolicyStoreContent, RiskContext } from './types.js';
import type { Diagnostic } from './errors.js';
import type { CedarPolicyJson, PolicySetAnalysis } from './policy-analysis.js';
import type { PolicyAnnotationFacts } from './policy-annotations.js';

/** One policy or template split out of a policy file. */
export interface ParsedPolicyText {
  /** The `@id("...")` annotation, if the text has one. */
  annotatedId?: string;
  text: string;
  kind: 'policy' | 'template';
  /** Where the text starts in the file (UTF-16 offset). */
  offset: number;
  /** Cedar's JSON form of the policy, for structural checks. */
  json: CedarPolicyJson;
}

/** The result of checking a store content: empty `errors` means valid. */
export interface ContentCheck {
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** What the schema says, for decisions: declared types and the action hierarchy. */
export interface SchemaFacts {
  /** Entity types the schema declares (with their namespace). */
  entityTypes: ReadonlySet<string>;
  /** Entity types of actions (`Action`, `NS::Action`): their entities come from the schema. */
  actionTypes: ReadonlySet<string>;
  /** Every declared action. */
  actions: readonly EntityUid[];
  /** Each action's groups, transitively, by `Type::"id"`. */
  actionAncestors: ReadonlyMap<string, ReadonlySet<string>>;
}

/** A policy set the engine has parsed once, ready for many decisions. */
export interface PreparedPolicySet {
  readonly key: string;
  /** The content it was prepared from (an engine instance that is replaced prepares it again). */
  readonly content: PolicyStoreContent;
  /** Action ids the policy set (or its schema) names, for action search. */
  readonly actions: ReadonlyArray<EntityUid>;
  /** Entity types the schema declares, or null when the store has no schema. */
  readonly entityTypes: ReadonlySet<string> | null;
  /** The schema's facts, or null when the store has no schema. */
  readonly schema: SchemaFacts | null;
  /** Structure of the policies: observed entities and `like` work. */
  readonly analysis: PolicySetAnalysis;
  /** Reason texts and step-up levels from the policies' annotations (policy-annotations.ts). */
  readonly annotations: PolicyAnnotationFacts;
  /**
   * Which evaluator decides this set: the compiled one, or cedar-wasm with the reason the
   * compiler did not take the set (a construct it does not compile).
   */
  readonly evaluator: PolicySetEvaluator;
}

/** Counts since the engine started (see {@link Engine.stats}). */
export interface EngineStats {
  /** Decisions the compiled evaluator made. */
  compiledDecisions: number;
  /** Decisions cedar-wasm made (sets the compiler did not take, delegated requests, request validation). */
  wasmDecisions: number;
  /** Requests of compiled sets handed to cedar-wasm, by reason (Cedar refuses them, or Verity is unsure). */
  delegated: Record<string, number>;
  /** Policy sets prepared on each evaluator, and why sets went to cedar-wasm. */
  compiledSets: number;
  wasmSets: Record<string, number>;
}

/** See {@link PreparedPolicySet.evaluator}. */
export type PolicySetEvaluator = { kind: 'compiled' } | { kind: 'cedar-wasm'; reason: string };

/** Per-call options of {@link Engine.authorize}. */
export interface AuthorizeOptions {
  /** Validate the request against the schema (Cedar's `validateRequest`); needs a schema. */
  validateRequest?: boolean;
  /**
   * `context.risk` as the risk engine set it: decided as an entry of the request's context that
   * wins over the context's own. Frozen and shared between decisions (see {@link RiskContext}):
   * the engine may keep what it derives from it, per object.
   */
  risk?: RiskContext;
}

/**
 * A policy engine. Every method is asynchronous: the Cedar adapter runs cedar-wasm on its own
 * thread, so no policy or request can block or break the caller's event loop.
 */
export interface Engine {
  /** The engine's own version, for diagnostics. */
  version(): Promise<string>;
  /** Check entities (Cedar entity JSON) against an optional schema; empty means valid. */
  checkEntities(entities: readonly Entity[], schema?: string): Promise<Diagnostic[]>;
  /** Split one policy file's text into its policies and templates, in source order. */
  splitPolicyText(text: string, source: string): Promise<ParsedPolicyText[]>;
  /** Parse and (when a schema is present and mode is strict) validate a whole store content. */
  check(content: PolicyStoreContent): Promise<ContentCheck>;
  /**
   * Parse a content once under `key` (e.g. `tenant@version#hash`). Rejects with VerityError
   * ERR_POLICY_PARSE when it does not parse, ERR_POLICY_TOO_COMPLEX when it is past a limit.
   */
  prepare(key: string, content: PolicyStoreContent): Promise<PreparedPolicySet>;
  /**
   * Prepare a content about to be pushed, as {@link Engine.prepare} does under `key` (the tenant
   * is the part before `@`), and refuse it with ERR_POLICY_FALLBACK_LIMIT (409; nothing of it
   * kept) when it runs on cedar-wasm (the reason in the message) while `maxFallbackTenants`
   * (default MAX_FALLBACK_TENANTS) other tenants' sets last prepared here do too. A tenant's own
   * sets are not counted: a tenant that falls back may push again. Rejects as `prepare` does.
   */
  admit(key: string, content: PolicyStoreContent): Promise<PreparedPolicySet>;
  /**
   * Decide one request against a prepared set with exactly these entities. Deny is a value;
   * rejects with ERR_DECISION_INVALID_REQUEST when Cedar refuses the input, ERR_DECISION_FAILED
   * when the engine could not evaluate (its instance is then replaced).
   */
  authorize(set: PreparedPolicySet, request: CedarRequest, entities: readonly Entity[], options?: AuthorizeOptions): Promise<EngineResult>;
  /** What decided so far, for metrics and the oracle's report. */
  stats(): EngineStats;
  /** True when the engine answers a trivial decision now (for readiness probes). */
  ready(): Promise<boolean>;
  /** Stop the engine's threads. */
  close(): Promise<void>;
}
