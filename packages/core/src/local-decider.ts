/** Decisions in memory from one content and entity set: `verity policy test` and embedded use. */
import type { Engine, PreparedPolicySet } from './engine.js';
import type { Entity, EngineResult, PolicyStoreContent, TenantSettings } from './types.js';
import { mapEvaluationRequest, type AuthzenEvaluationRequest } from './authzen.js';
import { formatEntityUid } from './entity-uid.js';
import { sliceEntitiesSync } from './entity-slice.js';
import { resolveWithRequestEntities } from './request-entities.js';
import { hashPolicyContent } from './policy-content.js';

export interface LocalDeciderOptions {
  engine: Engine;
  content: PolicyStoreContent;
  entities: readonly Entity[];
  settings?: TenantSettings;
}

export interface LocalDecider {
  readonly prepared: PreparedPolicySet;
  /** Decide one AuthZEN request with the same mapping the server uses. */
  evaluate(request: AuthzenEvaluationRequest): EngineResult;
}

export function createLocalDecider(options: LocalDeciderOptions): LocalDecider {
  const { engine, content, settings = {} } = options;
  const prepared = engine.prepare(`local:${hashPolicyContent(content)}`, content);
  const byUid = new Map(options.entities.map((e) => [formatEntityUid(e.uid), e]));
  return {
    prepared,
    evaluate(request) {
      const mapped = mapEvaluationRequest(request, settings);
      const fetch = resolveWithRequestEntities({ overlays: mapped.overlays, provided: [] }, (uids) => uids.flatMap((uid) => byUid.get(formatEntityUid(uid)) ?? []));
      const { principal, action, resource } = mapped.cedar;
      return engine.authorize(prepared, mapped.cedar, sliceEntitiesSync([principal, action, resource], fetch));
    },
  };
}
