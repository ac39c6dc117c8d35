/** The engine port: what Verity needs from a policy engine. The Cedar adapter implements it. */
import type { CedarRequest, Entity, EngineResult, PolicyStoreContent } from './types.js';
import type { Diagnostic } from './errors.js';

/** One policy or template split out of a policy file. */
export interface ParsedPolicyText {
  /** The `@id("...")` annotation, if the text has one. */
  annotatedId?: string;
  text: string;
  kind: 'policy' | 'template';
  /** Where the text starts in the file (UTF-16 offset). */
  offset: number;
}

/** The result of checking a store content: empty `errors` means valid. */
export interface ContentCheck {
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** A policy set the engine has parsed once, ready for many decisions. */
export interface PreparedPolicySet {
  readonly key: string;
  /** Action ids the policy set (or its schema) names, for action search. */
  readonly actions: ReadonlyArray<{ type: string; id: string }>;
  /** Entity types the schema declares, or null when the store has no schema. */
  readonly entityTypes: ReadonlySet<string> | null;
}

export interface Engine {
  /** The engine's own version, for diagnostics and the audit. */
  readonly version: string;
  /** Check entities (Cedar entity JSON) against an optional schema; empty means valid. */
  checkEntities(entities: readonly Entity[], schema?: string): Diagnostic[];
  /** Split one policy file's text into its policies and templates, in source order. */
  splitPolicyText(text: string, source: string): ParsedPolicyText[];
  /** Parse and (when a schema is present and mode is strict) validate a whole store content. */
  check(content: PolicyStoreContent): ContentCheck;
  /**
   * Parse a content once under `key` (e.g. `tenant@version`). Throws VerityError
   * ERR_POLICY_PARSE when the content does not parse. Preparing the same key twice is cheap.
   */
  prepare(key: string, content: PolicyStoreContent): PreparedPolicySet;
  /** Decide one request against a prepared set. Deny is a value; throws only if it could not evaluate. */
  authorize(set: PreparedPolicySet, request: CedarRequest, entities: Entity[]): EngineResult;
}
