/** Decisions in memory from one content and entity set: `verity policy test`, `verity eval` and embedded use. */
import type { Engine, PreparedPolicySet } from './engine.js';
import type { DecisionRecord, Entity, PolicyStoreContent, TenantSettings } from './types.js';
import type { AuthzenEvaluationRequest } from './authzen.js';
import { formatEntityUid } from './entity-uid.js';
import { hashPolicyContent } from './policy-content.js';
import { createDecisionPipeline, type DecisionRequest } from './decision-pipeline.js';
import { assertNoDuplicateEntities } from './request-entities.js';

export interface LocalDeciderOptions {
  engine: Engine;
  content: PolicyStoreContent;
  entities: readonly Entity[];
  settings?: TenantSettings;
  /** The tenant the records name (default `local`). */
  tenant?: string;
}

export interface LocalDecider {
  readonly prepared: PreparedPolicySet;
  /** Decide one AuthZEN request through the same pipeline the PDP uses. */
  evaluate(request: AuthzenEvaluationRequest): Promise<DecisionRecord>;
  /** Decide one request in either wire form (Cedar-native with its request entities, as `is-authorized` takes them). */
  decide(request: DecisionRequest): Promise<DecisionRecord>;
}

/**
 * Prepare `content` and decide requests against it and `entities`, exactly as the PDP would
 * with the same store. Rejects like {@link Engine.prepare} when the content does not prepare.
 */
export async function createLocalDecider(options: LocalDeciderOptions): Promise<LocalDecider> {
  const { engine, content, settings = {} } = options;
  assertNoDuplicateEntities(options.entities, 'the entities');
  const prepared = await engine.prepare(`local@0#${hashPolicyContent(content).slice(0, 16)}`, content);
  const byUid = new Map(options.entities.map((e) => [formatEntityUid(e.uid), e]));
  const lookup = (uids: Entity['uid'][]) => uids.flatMap((uid) => byUid.get(formatEntityUid(uid)) ?? []);
  const pipeline = createDecisionPipeline({ engine });
  const view = { tenant: options.tenant ?? 'local', version: 0, settings, prepared };
  const meta = { requestId: null, tier: null };
  return {
    prepared,
    evaluate: (request) => pipeline.decide(view, { kind: 'authzen', request }, lookup, meta),
    decide: (request) => pipeline.decide(view, request, lookup, meta),
  };
}
