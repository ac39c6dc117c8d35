/**
 * The PDP's decisions: the tenant's active policy and entity store fed to core's one decision
 * pipeline, and the record it returns queued for the tenant's audit.
 */
import {
  createDecisionPipeline,
  formatEntityUid,
  mapEntityType,
  type AuthzenEvaluationRequest,
  type ActivitySettings,
  type DecisionMeta,
  type DecisionRecord,
  type DecisionRequest,
  type Engine,
  type EngineBudget,
  type EntityUid,
} from '@verity/core';
import type { AuditWriter } from './audit-writer.js';
import type { Freshness } from './freshness.js';
import type { EntityService } from './entity-service.js';
import type { PolicyService } from './policy-service.js';
import type { DeviceService } from './device/device-service.js';
import type { ActivityService } from './risk/activity-service.js';
import { withRisk, type ActivityKey } from './risk-context.js';
import { assertTxnFromToken, callerOf, refuseUnproven, txnSubjectOf, type WorkloadDenyList } from './workload-gate.js';

/** Which decisions go to the audit: all (default), only denies (hot-path permission checks), none (search). */
export type AuditMode = 'always' | 'deny-only' | 'never';

export interface DecideInput {
  tenant: string;
  request: DecisionRequest;
  meta: DecisionMeta;
  audit?: AuditMode;
  /** The engine-time budget the request's decisions share (batches: `createEngineBudget()`). */
  budget?: EngineBudget;
}

export interface DecisionService {
  /**
   * Decide on the tenant's active version and entities; the record is audited per `audit`.
   * Throws 503 ERR_POLICY_STALE when this replica's view of the tenant is past the staleness bound.
   */
  decide(input: DecideInput): Promise<DecisionRecord>;
  /** Warm the entity cache for many requests with one store query (batches). */
  prefetch(tenant: string, requests: readonly AuthzenEvaluationRequest[]): Promise<void>;
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
  /** Per-subject signals (from memory; each decision is observed after it is made); absent: not measured. */
  activity?: Pick<ActivityService, 'signal' | 'observe'>;
}

export function createDecisionService(options: DecisionServiceOptions): DecisionService {
  const { policies, entities, audit } = options;
  const pipeline = createDecisionPipeline({ engine: options.engine, ...(options.now ? { now: options.now } : {}) });

  return {
    async decide(input) {
      const active = await policies.active(input.tenant);
      // Checked per decision, not per request: a long batch does not outlive the bound.
      options.freshness?.assertFresh(input.tenant, active.readAt);
      const view = { tenant: input.tenant, version: active.version, settings: active.tenant.settings, prepared: active.prepared };
      assertTxnFromToken(input.request, input.meta);
      const { caller, forged } = callerOf(input.request);
      const now = (options.now ?? Date.now)();
      const { devices, activity } = options;
      /** The request as the per-subject signals saw it: observed once decided. */
      let measured: { key: ActivityKey; settings: ActivitySettings } | undefined;
      const { request, risk } = await withRisk(active.tenant.settings, input.request, {
        nowMs: now,
        ...(devices === undefined ? {} : { devices: (id: string | null, maxPatchAgeDays: number) => devices.signal(input.tenant, id, { nowMs: now, maxPatchAgeDays }) }),
        ...(activity === undefined
          ? {}
          : {
              activity: (key: ActivityKey, settings: ActivitySettings) => {
                measured = { key, settings };
                return activity.signal(input.tenant, { ...key, nowMs: now }, settings);
              },
            }),
      });
      const meta = { ...input.meta, ...(caller === undefined ? {} : { caller }), ...(risk === undefined ? {} : { risk }) };
      const decided = await pipeline.decide(view, request, (uids) => entities.getMany(input.tenant, uids), meta, input.budget);
      const txnSubject = txnSubjectOf(input.request, input.meta);
      const record = refuseUnproven(decided, { denyList: options.workloads, time: (options.now ?? Date.now)(), forged, ...(txnSubject === undefined ? {} : { txnSubject }) });
      // Memory only (the store write is queued): the answer does not wait on it. Decisions not
      // audited at all are search's candidate checks, not accesses: they are not the subject's activity.
      const mode = input.audit ?? 'always';
      if (measured !== undefined && mode !== 'never') activity?.observe(input.tenant, { ...measured.key, nowMs: now }, measured.settings);
      if (mode === 'always' || (mode === 'deny-only' && record.decision === 'deny')) {
        const backpressure = audit.enqueue(record);
        if (backpressure) await backpressure;
      }
      return record;
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
