/** What the oracle runs: policy stores with their requests, Verity's outcomes, and the verdicts. */
import type { CedarValue, Entity, EntityUid, TemplateLink, TenantSettings, ValidationMode } from '@verity/core';
import type { OracleAnswer, OraclePolicySet } from './cedar-oracle.js';

export interface OracleRequest {
  /** Where it comes from, for reports (`corpus/<hash>#3`, `gen/docs#17`). */
  label: string;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
  /**
   * What the request says about its principal or resource (AuthZEN `properties`; the
   * Cedar-native `entities` naming them, with no parents): laid over the stored attributes.
   * The oracle gets the complete entity set with these attributes merged in.
   */
  overlay?: { on: 'principal' | 'resource'; attrs: Record<string, CedarValue> };
  /** The answer a test file expects (the corpus), to check the oracle itself. */
  expected?: { decision: 'allow' | 'deny'; reasons: string[]; errors: string[] };
}

/** One tenant's store: what Verity gets pushed, and the same thing in cedar-wasm's terms. */
export interface OracleStore {
  name: string;
  /** Tenant id (`[a-z0-9][a-z0-9-]{0,62}`). */
  tenant: string;
  schema?: string;
  validationMode: ValidationMode;
  /** Policy files pushed to Verity (`file.cedar` → text). */
  files: Record<string, string>;
  links: TemplateLink[];
  /** The tenant's complete entity set, values exact (bigint beyond 2^53). */
  entities: Entity[];
  settings: TenantSettings;
  /** The same policies for cedar-wasm. */
  oraclePolicies: OraclePolicySet;
  /** Verity policy id → the oracle's id for the same policy (absent: the same id). */
  idMap?: Record<string, string>;
  /** The oracle's policy texts by the oracle's ids, to tell a naming difference from a decision one. */
  oracleTexts: Record<string, string>;
  /** Filled in after the push: Verity id → oracle id by equal policy text. */
  idMapByText?: Record<string, string>;
  requests: OracleRequest[];
}

export type PathName = 'pdp-http' | 'pdp-authzen' | 'sdk-local' | 'policy-test';

/** What one Verity path did with one request. */
export type Outcome =
  | { kind: 'decided'; decision: 'allow' | 'deny'; reasons: string[]; errors?: string[] }
  /** A 4xx (or its in-process equivalent) with a stable code; `stage` says where. */
  | { kind: 'refused'; code: string; stage: 'push' | 'entities' | 'tenant' | 'request' | 'build'; message: string }
  /** The path cannot say this request at all (e.g. AuthZEN has no empty action name). */
  | { kind: 'inexpressible'; why: string }
  /** A 5xx, a crash, anything that is not an answer. */
  | { kind: 'failed'; message: string };

export type Verdict =
  /** Same decision, determining and erroring policies. */
  | 'agree'
  /** Cedar refused the request and Verity refused it too (4xx, or a deny for an undeclared action). */
  | 'agree-refused'
  /** Cedar decided; Verity refused with a stable code: allowed, counted by code. */
  | 'verity-refused'
  | 'inexpressible'
  | 'mismatch';

export interface Judged {
  verdict: Verdict;
  /** For refusals: the code (and stage); for mismatches: what differs. */
  detail: string;
}

export interface Mismatch {
  path: PathName;
  store: string;
  request: OracleRequest;
  oracle: OracleAnswer;
  outcome: Outcome;
  detail: string;
  /** `naming` when the ids differ only in name (the same policy texts), else `decision`. */
  kind: 'naming' | 'decision';
}
