/**
 * The PDP's decisions: the tenant's active policy and entity store fed to core's one decision
 * pipeline, and the record it returns queued for the tenant's audit.
 */
import {
  type AssuranceOverride,
  createDecisionPipeline,
  formatEntityUid,
  mapEntityType,
  refuseCallerRisk,
  riskEnabled,
  type AuthzenEvaluationRequest,
  type ActivitySettings,
  type ActivitySignal,
  type DecideOptions,
  type DecisionMeta,
  type DecisionRecord,
  type DecisionRequest,
  type Engine,
  type EngineBudget,
  type EntityUid,
  type IpAddress,
  type TenantSettings,
  withEntry,
} from '@verity/core';
import type { AuditWriter } from './audit-writer.js';
import type { Freshness } from './freshness.js';
import type { EntityService } from './entity-service.js';
import type { PolicyService } from './policy-service.js';
import type { DeviceService } from './device/device-service.js';
import type { AssuranceService } from './ssf/assurance-service.js';
import type { ThreatListService } from './network/threat-list-service.js';
import type { ActivityService, SubjectRequest } from './risk/activity-service.js';
import { withRisk, type ActivityKey, type LocationLookup, type RiskLookups } from './risk-context.js';
import { findStepUp, reasonsOf, type DecisionExplanation } from './step-up.js';
import { recordSecurityEvent } from './security-event.js';
import { assertTxnFromToken, callerOf, refuseUnproven, txnSubjectOf, type GateFacts, type WorkloadDenyList } from './workload-gate.js';

/** Which decisions go to the audit: all (default), only denies (hot-path permission checks), none (search, explain: not even a refusal's security event). */
export type AuditMode = 'always' | 'deny-only' | 'never';

export interface DecideInput {
  tenant: string;
  request: DecisionRequest;
  meta: DecisionMeta;
  audit?: AuditMode;
  /** The engine-time budget the request's decisions share (batches: `createEngineBudget()`). */
  budget?: EngineBudget;
  /**
   * Where a batch collects its audit waits: the record's commit is added here instead of
   * awaited, and the caller awaits them all before it answers (one group commit for the
   * batch, not one per item). Absent: the decision waits for its own record.
   */
  auditWaits?: Array<Promise<void>>;
}

/**
 * Wait for a batch's audit waits (`DecideInput.auditWaits`); rejects with the first failure
 * (ERR_AUDIT_UNAVAILABLE) once all have settled, so the batch is answered only when every
 * record it decided is audited.
 */
export async function settleAuditWaits(waits: ReadonlyArray<Promise<void>>): Promise<void> {
  const settled = await Promise.allSettled(waits);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

export interface DecisionService {
  /**
   * Decide on the tenant's active version and entities; the record is audited per `audit`.
   * Throws 503 ERR_POLICY_STALE when this replica's view of the tenant is past the staleness bound.
   */
  decide(input: DecideInput): Promise<DecisionRecord>;
  /**
   * `decide`, with what the answer says beyond allow or deny: a deny's reasons and step-up level
   * from the policies' annotations (step-up.ts). The step-up is also noted in the one audit
   * record (`risk.stepUp`); its re-evaluations are never audited. Only this searches for a
   * step-up (`decide` does not: its callers, e.g. the gateway, do not answer one).
   */
  decideExplained(input: DecideInput): Promise<{ record: DecisionRecord; explanation: DecisionExplanation }>;
  /** Warm the entity cache for many requests with one store query (batches). */
  prefetch(tenant: string, requests: readonly AuthzenEvaluationRequest[]): Promise<void>;
  /**
   * What every decision checks first, for callers that may make none (a search with no
   * candidate): a request naming `context.risk` itself while the tenant's risk engine is on is
   * audited as a security event and rejected with ERR_DECISION_INVALID_REQUEST (400).
   */
  screen(tenant: string, request: DecisionRequest, meta: DecisionMeta): Promise<void>;
}

export interface DecisionServiceOptions {
  engine: Engine;
  policies: PolicyService;
  entities: EntityService;
  audit: AuditWriter;
  /** The staleness bound every decision is held to (absent: never stale, as on PGlite). */
  freshness?: Freshness;
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number;
  /** Deregistered workloads: a decision with one as caller or principal is a deny. */
  workloads?: WorkloadDenyList;
  /** Device trust's signal (from memory); absent: every device is unknown to a tenant that measures them. */
  devices?: Pick<DeviceService, 'signal'>;
  /** Assurance levels reported after login (SSF `assurance-level-change`), per subject; absent: none. */
  assurance?: Pick<AssuranceService, 'of'>;
  /** The server's IP → location resolver (MaxMind database); absent: only tenants' tables locate. */
  locate?: LocationLookup;
  /** IP reputation from the tenant's threat lists (from memory); absent: not measured. */
  threats?: Pick<ThreatListService, 'match'>;
  /** Per-subject signals (from memory; each decision is observed after it is made); absent: not measured. */
  activity?: Pick<ActivityService, 'signal' | 'observe'>;
}

/** What {@link DecisionService.decide} (which answers no reasons) leaves unexplained. */
const NO_EXPLANATION: DecisionExplanation = Object.freeze({});

export function createDecisionService(options: DecisionServiceOptions): DecisionService {
  const { policies, entities, audit } = options;
  const pipeline = createDecisionPipeline({ engine: options.engine, ...(options.now ? { now: options.now } : {}) });

  /** The principal, action and resource of a request as its decision would record them. */
  const uidsOf = (request: DecisionRequest, settings: TenantSettings): { principal: EntityUid; action: EntityUid; resource: EntityUid } => {
    if (request.kind === 'cedar') return { principal: request.request.principal, action: request.request.action, resource: request.request.resource };
    const { subject, action, resource } = request.request;
    return {
      principal: request.token?.principal.uid ?? { type: mapEntityType(subject.type, settings), id: subject.id },
      action: { type: settings.actionType ?? 'Action', id: action.name },
      resource: { type: mapEntityType(resource.type, settings), id: resource.id },
    };
  };

  /**
   * A caller naming its own risk is a security failure, audited like a refused token (see
   * `screen`) unless `audited` is false: a decision not audited at all (audit mode `never`: an
   * admin's explain, search's candidates, screened once before) is refused without a record.
   */
  async function screenRisk(tenant: string, settings: TenantSettings, request: DecisionRequest, meta: DecisionMeta, now: number, audited = true): Promise<void> {
    if (!riskEnabled(settings)) return;
    try {
      refuseCallerRisk(request);
    } catch (error) {
      if (audited) await recordSecurityEvent(audit, { tenant, ...uidsOf(request, settings), code: 'ERR_DECISION_INVALID_REQUEST', check: 'risk', meta, now });
      throw error;
    }
  }

  /** The subject's later assurance level (SSF), for a request that carries a verified token. */
  const assuranceOf = (tenant: string, request: DecisionRequest) =>
    request.kind === 'authzen' && request.token !== undefined ? options.assurance?.of(tenant, request.token.principal.uid.id) : undefined;

  /** One decision, audited; with `explain`, a deny's step-up is searched for (only callers that answer it pay). */
  async function decideWith(input: DecideInput, explain: boolean): Promise<{ record: DecisionRecord; explanation: DecisionExplanation }> {
    const active = await policies.active(input.tenant);
    // Checked per decision, not per request: a long batch does not outlive the bound.
    options.freshness?.assertFresh(input.tenant, active.readAt);
    const settings = active.tenant.settings;
    const view = { tenant: input.tenant, version: active.version, settings, prepared: active.prepared };
    assertTxnFromToken(input.request, input.meta);
    const { caller, forged } = callerOf(input.request);
    const now = (options.now ?? Date.now)();
    const { devices, locate, threats, activity } = options;
    /** The request as the per-subject signals saw it: observed once decided (the original request only). */
    let measured: { request: SubjectRequest; settings: ActivitySettings; signal: Promise<ActivitySignal> } | undefined;
    const lookup = (uids: EntityUid[]) => entities.getMany(input.tenant, uids);
    const txnSubject = txnSubjectOf(input.request, input.meta);
    const gate: GateFacts = { denyList: options.workloads, now: options.now ?? Date.now, forged };
    if (txnSubject !== undefined) gate.txnSubject = txnSubject;
    /**
     * One decision of `original` (or of a stepped-up form of it), through the pipeline and the
     * workload gate. An assurance override (SSF `assurance-level-change`, `withRisk`'s
     * `assurance`) belongs to the original request only: a stepped-up one's acr is the level asked.
     */
    /** Where the risk engine reads this decision's signals (made only when the tenant's engine is on). */
    const lookupsFor = (assurance: AssuranceOverride | undefined): RiskLookups => {
      const at: RiskLookups = { nowMs: now };
      if (devices !== undefined) at.devices = (id: string | null, maxPatchAgeDays: number) => devices.signal(input.tenant, id, { nowMs: now, maxPatchAgeDays });
      if (locate !== undefined) at.locate = locate;
      if (threats !== undefined) at.threats = (address: IpAddress) => threats.match(input.tenant, address, now);
      if (assurance !== undefined) at.assurance = assurance;
      if (activity !== undefined) {
        // Measured once, for the original request; a stepped-up form weighs the same behaviour.
        at.activity = (key: ActivityKey, activitySettings: ActivitySettings) => {
          if (measured !== undefined) return measured.signal;
          const request: SubjectRequest = { subject: key.subject, action: key.action, resourceType: key.resourceType, location: key.location, nowMs: now };
          measured = { request, settings: activitySettings, signal: activity.signal(input.tenant, request, activitySettings) };
          return measured.signal;
        };
      }
      return at;
    };
    const meta = caller === undefined ? input.meta : withEntry(input.meta, 'caller', caller);
    const decideOne = async (request: DecisionRequest): Promise<{ record: DecisionRecord; validUntilMs?: number }> => {
      const options: DecideOptions = input.budget === undefined ? {} : { budget: input.budget };
      if (riskEnabled(settings)) {
        const assurance = request === input.request ? assuranceOf(input.tenant, request) : undefined;
        const assessed = withRisk(settings, request, lookupsFor(assurance));
        options.risk = assessed instanceof Promise ? await assessed : assessed;
      }
      const record = refuseUnproven(await pipeline.decide(view, request, lookup, meta, options), gate);
      const validUntilMs = options.risk?.validUntilMs;
      return validUntilMs === undefined ? { record } : { record, validUntilMs };
    };
    const mode = input.audit ?? 'always';
    if (riskEnabled(settings)) await screenRisk(input.tenant, settings, input.request, input.meta, now, mode !== 'never');
    const first = await decideOne(input.request);
    let record = first.record;
    // Only denies pay for step-up: at most MAX_STEP_UP_LEVELS more evaluations, none audited.
    const stepUp = explain ? await findStepUp(record, input.request, { settings, annotations: active.prepared.annotations, nowMs: now }, async (stepped) => (await decideOne(stepped)).record) : undefined;
    if (stepUp !== undefined && record.risk !== undefined) record = withEntry(record, 'risk', withEntry(record.risk, 'stepUp', stepUp));
    // How long the decision may be reused: on the record the caller gets. Not audited: the store
    // keeps exactly the audited fields (audit-append's normalizeRecord), so it is set here, once.
    if (first.validUntilMs !== undefined) record.validUntilMs = first.validUntilMs;
    // Memory only (the store write is queued): the answer does not wait on it. Decisions not
    // audited at all are search's candidate checks, not accesses: they are not the subject's activity.
    if (measured !== undefined && mode !== 'never') activity?.observe(input.tenant, measured.request, measured.settings);
    if (mode === 'always' || (mode === 'deny-only' && record.decision === 'deny')) {
      const backpressure = audit.enqueue(record);
      if (backpressure) {
        if (input.auditWaits) input.auditWaits.push(backpressure);
        else await backpressure;
      }
    }
    // Only callers that answer reasons (decideExplained) pay for them.
    if (!explain) return { record, explanation: NO_EXPLANATION };
    const explanation: DecisionExplanation = reasonsOf(record, active.prepared.annotations, settings);
    if (stepUp !== undefined) explanation.stepUp = stepUp;
    return { record, explanation };
  }

  return {
    async decide(input) {
      return (await decideWith(input, false)).record;
    },

    decideExplained: (input) => decideWith(input, true),

    async screen(tenant, request, meta) {
      const active = await policies.active(tenant);
      await screenRisk(tenant, active.tenant.settings, request, meta, (options.now ?? Date.now)());
    },

    async prefetch(tenant, requests) {
      const active = await policies.active(tenant);
      options.freshness?.assertFresh(tenant, active.readAt);
      const settings = active.tenant.settings;
      const uids = new Map<string, EntityUid>();
      for (const request of requests) {
        for (const uid of [request.subject, request.resource]) {
          const mapped = { type: mapEntityType(uid.type, settings), id: uid.id };
          uids.set(formatEntityUid(mapped), mapped);
        }
      }
      if (uids.size > 0) await entities.getMany(tenant, [...uids.values()]);
    },
  };
}
