/** The data model shared by every Verity package: entities, policy stores, decisions, audit. */
import type { DeviceTrustSettings, RiskConfig } from './risk.js';
import type { LocationEntry } from './location-table.js';
import type { ActivitySettings } from './activity.js';

/** A Cedar entity uid (`Type::"id"`). */
export interface EntityUid {
  type: string;
  id: string;
}

/** A Cedar attribute value in Cedar's JSON entity format. */
export type CedarValue =
  | { __entity: EntityUid }
  | { __extn: { fn: string; arg: CedarValue } | { fn: string; args: CedarValue[] } }
  | boolean
  | number
  /** A Long beyond ±2^53, kept exact (JSON numbers are parsed to bigint there). */
  | bigint
  | string
  | CedarValue[]
  | { [key: string]: CedarValue }
  | null;

/** A Cedar entity in Cedar's JSON entity format. */
export interface Entity {
  uid: EntityUid;
  attrs: Record<string, CedarValue>;
  parents: EntityUid[];
  tags?: Record<string, CedarValue>;
}

export type ValidationMode = 'strict' | 'off';

/** A template-linked policy: `templateId` instantiated with slot values as `id`. */
export interface TemplateLink {
  id: string;
  templateId: string;
  values: { '?principal'?: EntityUid; '?resource'?: EntityUid };
}

/**
 * The whole content of one policy-store version. Immutable once stored. Policy and template
 * ids are stable names (from `@id` annotations or file name and position).
 */
export interface PolicyStoreContent {
  /** Cedar schema in Cedar's human-readable syntax; absent means no schema. */
  schema?: string;
  validationMode: ValidationMode;
  /** Static policies by id, each one Cedar policy text. */
  policies: Record<string, string>;
  /** Templates by id, each one Cedar template text. */
  templates: Record<string, string>;
  links: TemplateLink[];
}

/** Metadata of one stored version. */
export interface PolicyVersionInfo {
  tenant: string;
  version: number;
  /** sha256 over the canonical JSON of the content, hex. */
  hash: string;
  createdAt: string;
  createdBy: string;
  message: string;
  active: boolean;
}

export interface PolicyVersion extends PolicyVersionInfo {
  content: PolicyStoreContent;
}

/** A tenant and its settings. */
export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
  activeVersion: number | null;
  settings: TenantSettings;
  /** The version of `settings` (1 at creation; every change makes the next; docs/http-api.md, "Tenant settings versions"). */
  settingsVersion: number;
  /** Set on a deleted tenant (read only where deleted ones are asked for: its kept audit). */
  deletedAt?: string;
}

/** One stored version of a tenant's settings, without them: who made it, when and why. */
export interface TenantSettingsVersionInfo {
  tenant: string;
  /** 1 at creation, then one more per change (a rollback too). */
  version: number;
  createdAt: string;
  /** The label (else the id) of the credential that made it; `verity` for Verity itself. */
  createdBy: string;
  /** Empty when none was given. */
  message: string;
  /** A rollback: the version whose settings this one restored; null otherwise. */
  restoredFrom: number | null;
  /** Whether these are the tenant's settings now (the newest version). */
  current: boolean;
}

/** A stored version of a tenant's settings, with them. */
export interface TenantSettingsVersion extends TenantSettingsVersionInfo {
  settings: TenantSettings;
}

export interface TenantSettings {
  /**
   * AuthZEN subject/resource `type` to Cedar entity type. Types not listed map to themselves
   * (identity mapping).
   */
  typeMapping?: Record<string, string>;
  /** The Cedar entity type of actions (default `Action`; `NS::Action` for a namespaced schema). */
  actionType?: string;
  /** The principal type of tokens this tenant's token service issues (default `User`). */
  stsPrincipalType?: string;
  /**
   * Route templates (`/todos/{todoId}`) the gateway endpoints match a forwarded path to; the
   * matched template is the resource id of the decision. At most 500.
   */
  gatewayRoutes?: string[];
  /**
   * The audience a token must be issued for at the gateway endpoints (nginx, Envoy, Caddy): the
   * audience of the API the gateway route set fronts. Default: the tenant's public base URL
   * (`{publicUrl}/tenants/{tenant}`, its issuer), so a token exchanged for another service is
   * never accepted at the gateway.
   */
  gatewayAudience?: string;
  /**
   * Audiences per gateway route: a template of `gatewayRoutes` → the audience a token must be
   * issued for when the forwarded path matches it (a gateway fronting several APIs). Routes not
   * named here take `gatewayAudience` (or its default).
   */
  gatewayRouteAudiences?: Record<string, string>;
  /**
   * Validate every decision request against the tenant's schema (Cedar's request validation:
   * principal, resource and context types must match the action's `appliesTo`). Off by
   * default; without a schema it has no effect.
   */
  validateRequests?: boolean;
  /**
   * Keep each decision's input (its context, request-given properties and risk context) in its
   * audit record, so `policy replay` can decide it again (docs/policy-rollout.md). On by default;
   * `false` records none, at the PDP, in the SDK's local mode and from PEP reports, and replay
   * counts the decisions made meanwhile as skipped.
   */
  recordDecisionInputs?: boolean;
  /**
   * The SPIFFE trust domain of the tenant's workloads (the name in their `spiffe://` ids). Default:
   * the server's `trustDomain`. Each tenant has its own CA whatever the name.
   */
  trust_domain?: string;
  /**
   * Tenants of this deployment whose workloads this tenant trusts besides its own (federation,
   * one way): a JWT-SVID of such a tenant's trust domain (whatever it is now) authenticates at
   * this tenant's token service (a Txn-Token request), verified against that tenant's trust
   * bundle and deny list. Tenant ids, never names another tenant could claim.
   */
  federated_tenants?: string[];
  /**
   * The risk engine (docs/continuous-verification.md): when `enabled`, every decision gets
   * `context.risk = {score, level, factors}` from the signals, weighed with this configuration
   * (the seed's defaults for what is not set), and its record the weighted factors. Off when absent.
   * With `devices`, the device the verified token names is weighed too (device trust); with
   * `locations`, the client IP is located by this table before the server's MaxMind database. With
   * `activity`, the per-subject signals (impossible travel, rate and behaviour).
   */
  risk?: { enabled: boolean; devices?: DeviceTrustSettings; locations?: LocationEntry[]; activity?: ActivitySettings } & RiskConfig;
  /**
   * The reasons a deny that no policy determined gives (AuthZEN `reason_user` / `reason_admin`,
   * docs/continuous-verification.md "Reasons"); a determined deny takes its forbid policies'
   * `@reason_user` / `@reason_admin` annotations instead. Absent: such a deny says no reason.
   */
  reasons?: { default_user?: string; default_admin?: string };
  /**
   * The Kubernetes cluster whose projected service-account tokens attest the tenant's workloads
   * (attestor `k8s_psat`): the tokens' issuer (its OIDC discovery gives the keys) and audience.
   */
  k8s_psat?: { issuer: string; audience: string };
}

/** A Cedar authorization request, as the engine sees it. */
export interface CedarRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
}

/** The engine's answer. Deny is a value; errors are diagnostics, not exceptions. */
export interface EngineResult {
  decision: 'allow' | 'deny';
  /** Ids of the policies that determined the decision. */
  reasons: string[];
  /** Policies that errored during evaluation (they were skipped, per Cedar semantics). */
  errors: Array<{ policyId: string; message: string }>;
  /** Which evaluator decided: the compiled one, or cedar-wasm (a set or request it does not take). */
  evaluator?: 'compiled' | 'cedar-wasm';
}

/** A recorded decision, as returned to callers and written to the audit log. */
export interface DecisionRecord {
  decisionId: string;
  time: string;
  tenant: string;
  requestId: string | null;
  /** The PEP or tier label the caller sent (x-verity-tier), if any. */
  tier: string | null;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: Array<{ policyId: string; message: string }>;
  policyVersion: number;
  latencyUs: number;
  /**
   * Set (true) when the PEP enforced in observe mode: a deny here was recorded but not
   * enforced (a would-have-denied decision). Absent otherwise.
   */
  observed?: true;
  /**
   * Set on records a PEP reported through the audit ingest (decisions it made in-process): the
   * id of the PEP credential that sent them. Absent on decisions the PDP made itself.
   */
  reportedBy?: string;
  /**
   * The calling workload's SPIFFE id (`spiffe://…`), as the PEP verified it on the connection
   * (mTLS peer, or a trusted proxy's `x-forwarded-client-cert`). Absent when no workload was
   * proven: a user calling directly, or a permissive-mode caller without a certificate.
   */
  caller?: string;
  /**
   * The transaction id (`txn`) of the verified Txn-Token the request carried
   * (draft-ietf-oauth-transaction-tokens §4): the join key of one call chain across tiers.
   */
  txn?: string;
  /**
   * The delegation chain: who acts for the principal, outermost first (RFC 8693 §4.1 `act`, and
   * the workloads a Txn-Token passed through). Absent when nobody acted for anyone.
   */
  actors?: string[];
  /**
   * The risk engine's assessment the decision was made with (`context.risk`), its factors with
   * their weights. Absent when the tenant's risk engine is off.
   */
  risk?: RecordedRisk;
  /**
   * What the decision was made on besides the tenant's stored entities and policies: the
   * JSON text of core's `DecisionInput` (context, request-time entities,
   * `context.risk`), or of its omission past MAX_DECISION_INPUT_CHARS. Hashed into the audit
   * chain as this text; replay (`verity policy replay`) decides from it again. Absent on
   * refusals made before the request was mapped, and on records written before it existed.
   */
  input?: string;
  /**
   * Not audited: the earliest time (epoch ms) the signals this decision read change by
   * themselves (an authentication ageing past a threshold, a device's patch level ageing out). A
   * PEP reuses the decision only until then. Absent: nothing it read ages.
   */
  validUntilMs?: number;
}

/**
 * `context.risk` as the risk engine set it (core's `assessRisk`): Cedar values already, put in
 * the Cedar context after the caller's and the token's entries (it wins over both). Only the
 * risk pass sets it; a caller's own `context.risk` is refused before (`refuseCallerRisk`).
 * Frozen and interned: equal inputs give the same object, so what a decision derives from it
 * (its scan for the limits, the compiled evaluator's value) is derived once per object.
 */
export type RiskContext = Readonly<Record<string, CedarValue>>;

/** What the risk engine made of one request (`assessRisk`); empty when the tenant's engine is off. */
export interface RiskOutcome {
  /** `context.risk` for the policies; present exactly when `assessment` is. */
  context?: RiskContext;
  /** The assessment the audit records (the record's `risk`). */
  assessment?: RecordedRisk;
  /** Epoch ms: the risk changes by itself then (see `validUntilOf`); absent when nothing ages. */
  validUntilMs?: number;
}

/** A decision's risk as audited: score, level and the weighted factors. */
export interface RecordedRisk {
  score: number;
  level: string;
  factors: Array<{ name: string; weight: number; detail?: string }>;
  /**
   * On a deny a stronger authentication would lift (step-up, RFC 9470): the level the answer
   * asked for (`acr`, and `maxAgeSec` in seconds). Absent otherwise.
   */
  stepUp?: { acr: string; maxAgeSec?: number };
}

/** One stored audit event: a decision record in its tenant's hash chain. */
export interface AuditEvent extends DecisionRecord {
  seq: number;
  prevHash: string;
  hash: string;
}
