/**
 * The decision path: tenant's active policy → entity slice (stored + request-time) → Cedar →
 * a DecisionRecord that names its policy version and is queued for the audit.
 */
import { randomUUID } from 'node:crypto';
import {
  formatEntityUid,
  mapEntityType,
  mapEvaluationRequest,
  resolveWithRequestEntities,
  sliceEntities,
  VerityError,
  type AuthzenEvaluationRequest,
  type CedarRequest,
  type CedarValue,
  type DecisionRecord,
  type Engine,
  type Entity,
  type EntityUid,
  type RequestEntities,
} from '@verity/core';
import type { AuditWriter } from './audit-writer.js';
import type { EntityService } from './entity-service.js';
import type { ActivePolicy, PolicyService } from './policy-service.js';

export interface DecisionMeta {
  requestId: string | null;
  tier: string | null;
  /** The PEP enforces in observe mode (`X-Verity-Observe: true`): its denies are not enforced. */
  observed?: boolean;
}

/** Which decisions go to the audit: all (default), only denies (hot-path permission checks), none (search). */
export type AuditMode = 'always' | 'deny-only' | 'never';

/** What a verified subject token adds: attributes and groups over the stored principal, and context. */
export interface VerifiedSubject {
  principal: Entity;
  context: Record<string, CedarValue>;
}

export interface DecideInput {
  tenant: string;
  cedar: CedarRequest;
  entities?: RequestEntities;
  meta: DecisionMeta;
  audit?: AuditMode;
}

export interface DecisionService {
  decide(input: DecideInput): Promise<DecisionRecord>;
  /**
   * Map an AuthZEN request with the tenant's settings and decide it. `verified` carries what a
   * verified subject token says: its principal and groups as entities, and context entries that
   * win over the caller's (they are verified, the caller's are not).
   */
  decideAuthzen(tenant: string, request: AuthzenEvaluationRequest, meta: DecisionMeta, audit?: AuditMode, verified?: VerifiedSubject): Promise<DecisionRecord>;
  /** Warm the entity cache for many requests with one store query (batches). */
  prefetch(tenant: string, requests: readonly AuthzenEvaluationRequest[]): Promise<void>;
}

export interface DecisionServiceOptions {
  engine: Engine;
  policies: PolicyService;
  entities: EntityService;
  audit: AuditWriter;
  now?: () => Date;
}

export function createDecisionService(options: DecisionServiceOptions): DecisionService {
  const { engine, policies, entities, audit } = options;
  const now = options.now ?? (() => new Date());

  function checkTypes(active: ActivePolicy, request: CedarRequest): void {
    const types = active.prepared.entityTypes;
    if (!types) return;
    for (const uid of [request.principal, request.resource]) {
      if (!types.has(uid.type)) throw new VerityError('ERR_ENTITY_UNKNOWN_TYPE', `entity type "${uid.type}" is not in the tenant's schema`);
    }
  }

  async function decideWith(active: ActivePolicy, input: DecideInput): Promise<DecisionRecord> {
    const started = performance.now();
    checkTypes(active, input.cedar);
    const { principal, action, resource } = input.cedar;
    const lookup = resolveWithRequestEntities<Promise<Entity[]>>(input.entities ?? { overlays: [], provided: [] }, (uids) => entities.getMany(input.tenant, uids));
    const slice = await sliceEntities([principal, action, resource], lookup);
    if (input.entities?.provided.length) {
      // Cedar-native callers may send entities the roots do not reach (e.g. for `in` tests).
      const present = new Set(slice.map((e) => formatEntityUid(e.uid)));
      for (const entity of input.entities.provided) if (!present.has(formatEntityUid(entity.uid))) slice.push(entity);
    }
    const result = engine.authorize(active.prepared, input.cedar, slice);
    const record: DecisionRecord = {
      decisionId: randomUUID(),
      time: now().toISOString(),
      tenant: input.tenant,
      requestId: input.meta.requestId,
      tier: input.meta.tier,
      principal,
      action,
      resource,
      decision: result.decision,
      reasons: result.reasons,
      errors: result.errors,
      policyVersion: active.version,
      latencyUs: Math.round((performance.now() - started) * 1000),
      ...(input.meta.observed ? { observed: true as const } : {}),
    };
    const mode = input.audit ?? 'always';
    if (mode === 'always' || (mode === 'deny-only' && record.decision === 'deny')) {
      const backpressure = audit.enqueue(record);
      if (backpressure) await backpressure;
    }
    return record;
  }

  return {
    async decide(input) {
      return decideWith(await policies.active(input.tenant), input);
    },

    async prefetch(tenant, requests) {
      const settings = (await policies.active(tenant)).tenant.settings;
      const uids = new Map<string, EntityUid>();
      for (const request of requests) {
        for (const uid of [request.subject, request.resource]) {
          const mapped = { type: mapEntityType(uid.type, settings), id: uid.id };
          uids.set(formatEntityUid(mapped), mapped);
        }
      }
      if (uids.size > 0) await entities.getMany(tenant, [...uids.values()]);
    },

    async decideAuthzen(tenant, request, meta, auditMode, verified) {
      const active = await policies.active(tenant);
      const mapped = mapEvaluationRequest(request, active.tenant.settings);
      const cedar = verified ? { ...mapped.cedar, context: { ...mapped.cedar.context, ...verified.context } } : mapped.cedar;
      // The token's principal overlays the stored one: stored groups and attributes still count.
      const overlays = verified ? [...mapped.overlays, { uid: verified.principal.uid, attrs: verified.principal.attrs, parents: verified.principal.parents }] : mapped.overlays;
      return decideWith(active, { tenant, cedar, entities: { overlays, provided: [] }, meta, ...(auditMode ? { audit: auditMode } : {}) });
    },
  };
}
