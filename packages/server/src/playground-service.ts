/**
 * The policy playground and the admin explain (issue 14, docs/explain.md): a request decided on
 * DRAFT policies, or on the tenant's active version, through core's one decision pipeline and
 * never recorded as a decision — it is an admin's question about the policies, not an access.
 */
import {
  assertNoDuplicateEntities,
  buildPolicyStoreContent,
  createDecisionPipeline,
  explainDecision,
  riskEnabled,
  hashPolicyContent,
  parseDecisionInput,
  UidMap,
  VerityError,
  type AuthzenEvaluationRequest,
  type DecisionMeta,
  type PolicyExplanation,
  type DecisionRecord,
  type Engine,
  type Entity,
  type EntityLookup,
  type PolicyStoreContent,
  type PolicyView,
  type TenantSettings,
} from '@verity/core';
import type { EntityService } from './entity-service.js';
import type { PolicyService } from './policy-service.js';
import type { TenantService } from './tenant-service.js';
import type { DecisionService } from './decision-service.js';

/** The file name draft policy text is split under: ids are `@id` annotations, else `playground.<n>`. */
export const PLAYGROUND_FILE = 'playground.cedar';

/** What the playground and explain answer (docs/http-api.md, "Playground and explain"). */
export interface PlaygroundAnswer {
  decision: 'allow' | 'deny';
  /** The determining policies' ids (Cedar's `reason`). */
  determining: string[];
  /** Policies that errored while evaluated (skipped, as Cedar does). */
  errors: Array<{ policyId: string; message: string }>;
  /** Advisory: why (core's explain.ts, docs/explain.md); never changes `decision`. */
  explanation: PolicyExplanation;
}

export interface PlaygroundInput {
  /** Draft Cedar policy text (any number of policies and templates). */
  policies: string;
  request: AuthzenEvaluationRequest;
  /** Cedar entities laid over the tenant's stored ones (same uid: the given one wins). */
  entities: readonly Entity[];
  meta: DecisionMeta;
}

export interface PlaygroundService {
  /**
   * Decide `input.request` on the draft policies with the tenant's active schema, validation
   * mode and settings, and its stored entities under `input.entities`. Stores, activates and
   * audits nothing. Rejects as a push does for policies that do not parse or validate
   * (ERR_POLICY_PARSE, ERR_POLICY_VALIDATION, ERR_POLICY_TOO_COMPLEX: 400), as a decision does
   * for a request that cannot be decided (ERR_DECISION_INVALID_REQUEST, ERR_ENTITY_UNKNOWN_TYPE,
   * ERR_DECISION_LIMIT), ERR_ENTITY_INVALID for malformed or repeated entities, and
   * ERR_TENANT_NOT_FOUND.
   */
  playground(tenant: string, input: PlaygroundInput): Promise<PlaygroundAnswer>;
  /**
   * The decision the PDP would make on the tenant's active version now (its risk engine,
   * workload gate and staleness bound included), not audited, with its explanation. Rejects as
   * a decision does (ERR_DECISION_INVALID_REQUEST, ERR_POLICY_NO_ACTIVE_VERSION, …).
   */
  explain(tenant: string, request: AuthzenEvaluationRequest, meta: DecisionMeta): Promise<PlaygroundAnswer & { policyVersion: number }>;
}

export interface PlaygroundServiceOptions {
  engine: Engine;
  tenants: Pick<TenantService, 'get'>;
  policies: Pick<PolicyService, 'active'>;
  entities: Pick<EntityService, 'getMany'>;
  decisions: Pick<DecisionService, 'decide'>;
}

/** The tenant's schema and validation mode (none without an active version) and its settings. */
async function groundOf(options: PlaygroundServiceOptions, tenant: string): Promise<{ settings: TenantSettings; base: Pick<PolicyStoreContent, 'schema' | 'validationMode'> | null }> {
  try {
    const active = await options.policies.active(tenant);
    return { settings: active.tenant.settings, base: active.content };
  } catch (error) {
    if (!(error instanceof VerityError && error.code === 'ERR_POLICY_NO_ACTIVE_VERSION')) throw error;
    return { settings: (await options.tenants.get(tenant)).settings, base: null };
  }
}

/** Stored entities with `overlay` laid over them, by uid. */
function overlaid(stored: EntityLookup, overlay: readonly Entity[]): EntityLookup {
  if (overlay.length === 0) return stored;
  const given = new UidMap<Entity>();
  for (const entity of overlay) given.set(entity.uid, entity);
  return async (uids) => {
    const rest = uids.filter((uid) => !given.has(uid));
    const found = rest.length === 0 ? [] : await stored(rest);
    return [...uids.flatMap((uid) => given.get(uid) ?? []), ...found];
  };
}

const answerOf = (record: DecisionRecord, explanation: PolicyExplanation): PlaygroundAnswer => ({
  decision: record.decision,
  determining: record.reasons,
  errors: record.errors,
  explanation,
});

export function createPlaygroundService(options: PlaygroundServiceOptions): PlaygroundService {
  const { engine } = options;
  const pipeline = createDecisionPipeline({ engine });

  return {
    async playground(tenant, input) {
      const { settings, base } = await groundOf(options, tenant);
      const content = await buildPolicyStoreContent(engine, {
        files: { [PLAYGROUND_FILE]: input.policies },
        ...(base?.schema === undefined ? {} : { schema: base.schema }),
        ...(base === null ? {} : { validationMode: base.validationMode }),
      });
      // Its own engine lane (`<tenant>~draft`): drafts never evict or share the tenant's active
      // set, and a draft that trips the engine strikes only the tenant's playground.
      const prepared = await engine.prepare(`${tenant}~draft@${hashPolicyContent(content).slice(0, 16)}`, content);
      const view: PolicyView = { tenant, version: 0, settings, prepared };
      assertNoDuplicateEntities(input.entities, 'entities');
      const lookup = overlaid((uids) => options.entities.getMany(tenant, uids), input.entities);
      const request = { kind: 'authzen', request: input.request } as const;
      const record = await pipeline.decide(view, request, lookup, input.meta);
      return answerOf(record, await explainDecision({ engine, pipeline, view, request, lookup, record }));
    },

    async explain(tenant, evaluation, meta) {
      const request = { kind: 'authzen', request: evaluation } as const;
      // The decision is the PDP's own, made as for a PEP but not audited (it is an admin's question).
      const record = await options.decisions.decide({ tenant, request, meta, audit: 'never' });
      const active = await options.policies.active(tenant);
      const view: PolicyView = { tenant, version: active.version, settings: active.tenant.settings, prepared: active.prepared };
      const lookup: EntityLookup = (uids) => options.entities.getMany(tenant, uids);
      // Explained on what the decision was made on (its recorded input: the context with
      // `context.risk`, the request's own entities), so the variants see what the decision saw.
      const input = parseDecisionInput(record.input);
      const { principal, action, resource } = record;
      const explanation = await explainDecision({ engine, pipeline, view, request: input === null ? request : { kind: 'recorded', principal, action, resource, input }, lookup, record });
      if (active.version !== record.policyVersion) explanation.notes.push(`version ${active.version} became active after the decision on version ${record.policyVersion}: the explanation is of version ${active.version}`);
      if (input === null && riskEnabled(active.tenant.settings)) explanation.notes.push("the decision's input was too large to keep: the explanation's evaluations did not see its context.risk");
      return { ...answerOf(record, explanation), policyVersion: record.policyVersion };
    },
  };
}
