/**
 * The limits that keep one tenant's policies and requests from breaking or stalling the engine
 * for every other tenant. Each is documented, with the measurement behind it, in
 * docs/security.md; a push or request past one is refused with an error that names it.
 */

/** Most policies, templates and links one policy-store version may hold. */
export const MAX_POLICIES = 10_000;

/**
 * Most tenants whose policy sets one engine runs on cedar-wasm because the compiled evaluator
 * does not take them (a construct it does not support; `verity policy validate` names it).
 * cedar-wasm keeps every preparsed set until its instance is replaced, so these sets are what
 * grows its memory; a push of such a set by another tenant past this many is refused
 * (ERR_POLICY_FALLBACK_LIMIT). Compiled sets are not counted: they are evicted when inactive.
 */
export const MAX_FALLBACK_TENANTS = 1_000;

/**
 * Deepest expression nesting of one policy, counted on Cedar's own parsed form (every
 * operator, access, call and literal is one level). cedar-wasm evaluates by recursion on a
 * 1 MiB stack in Wasm memory that overflows near 370 levels and then breaks the instance; 128
 * leaves a threefold margin. A long `a || b || …` chain nests one level per operand.
 */
export const MAX_EXPRESSION_DEPTH = 128;

/** Most elements (characters and wildcards) in one `like` pattern. */
export const MAX_PATTERN_LENGTH = 1_024;

/** Most `like` pattern elements in all the policies of one version together, a template's counted once per link. */
export const MAX_PATTERN_TOTAL = 8_192;

/**
 * Largest `like` work per decision: the version's pattern elements times the longest string
 * the request can hand to `like` (context, and attributes and tags of the entities it
 * reaches). Cedar's matcher is O(pattern × string) in the worst case, about 8 ns a step in
 * cedar-wasm: 4,000,000 steps stay near 30 ms.
 */
export const MAX_LIKE_WORK = 4_000_000;

/**
 * Most entities one decision may need (the entity slice). cedar-wasm spends about 8 µs per
 * entity it is handed; a request that needs more is refused, never decided on a partial slice.
 */
export const MAX_SLICE_ENTITIES = 2_000;

/**
 * Most (entity, ancestor) pairs in the slice's transitive closure. cedar-wasm computes the
 * closure for every decision, at about 0.7 µs a pair: a chain of 500 nested groups alone
 * (125,000 pairs) costs 75 ms, one of 2,000 over 1.5 s.
 */
export const MAX_ANCESTOR_PAIRS = 10_000;

/** Deepest nesting of a value (records and sets) in a context or an entity attribute. */
export const MAX_VALUE_DEPTH = 32;

/**
 * What a decision costs cedar-wasm, in microseconds per unit, measured with bench/limits.ts on
 * cedar-wasm 4.13 (2 cores, Node 20). The pipeline adds up a request's units and refuses one
 * whose estimate passes MAX_DECISION_ESTIMATE_MS, before the engine is asked: one tenant's
 * request never holds the engine long. The estimate is deliberately simple; the engine
 * thread's time budget (ENGINE_CALL_TIMEOUT_MS) stays the backstop.
 */
export const ENGINE_COST_US = {
  /** Every policy and template link is looked at (its scope at least). */
  perPolicy: 2.0,
  /** Every node of a condition, for a policy whose scope matches. */
  perConditionNode: 0.35,
  /** Every entity handed to the engine. */
  perEntity: 10,
  /** Every attribute, tag or context value (a record, set or scalar). */
  perValue: 3,
  /** Every entity reference inside values (they are parsed and resolved one by one). */
  perReference: 16,
  /** Every (entity, ancestor) pair of the transitive closure. */
  perAncestorPair: 0.75,
  /** Every step of `like` matching (pattern elements × string length, the worst case). */
  perLikeStep: 0.0025,
} as const;

/** Largest estimated engine time of one decision, in ms; above it the request is refused (ERR_DECISION_LIMIT). */
export const MAX_DECISION_ESTIMATE_MS = 30;

/**
 * Largest estimated engine time of all the decisions of one batch request together, in ms
 * (AuthZEN evaluations, Cedar batch-is-authorized). A thousand ordinary decisions fit many
 * times over; a batch of expensive ones is cut off: the items past it are refused with
 * ERR_DECISION_LIMIT, so one request never holds the engine for seconds.
 */
export const MAX_BATCH_ESTIMATE_MS = 250;

/**
 * Largest estimated engine time of a policy version alone (its policies and their conditions),
 * in ms; above it the push is refused (ERR_POLICY_TOO_COMPLEX), so that every version leaves
 * room for the request's own entities.
 */
export const MAX_VERSION_ESTIMATE_MS = 20;

/**
 * Most candidates one search request decides. A page can hold fewer results than asked, with
 * a `next_token` to go on: a search over a large store that matches little never turns into
 * one request deciding every entity.
 */
export const MAX_SEARCH_CANDIDATES_PER_PAGE = 1_000;

/**
 * Wall-clock time (milliseconds) after which a search page stops deciding new candidates and
 * answers with what it has and a `next_token`. On a loaded machine 1,000 candidates can take
 * seconds; a page never should. Results do not depend on it: the token resumes exactly where
 * the page stopped.
 */
export const SEARCH_PAGE_BUDGET_MS = 250;

/** Candidates one search page decides at a time (their store reads and engine calls overlap). */
export const SEARCH_CANDIDATE_BATCH = 8;

/** Longest time one engine call may run before its engine instance is replaced and the call fails. */
export const ENGINE_CALL_TIMEOUT_MS = 2_000;
