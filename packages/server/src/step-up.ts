/**
 * Step-up (RFC 9470, docs/continuous-verification.md "Step-up") and deny reasons: what a deny's
 * answer adds from the policies' annotations. A deny of a request with a verified user token is
 * decided again, through the same pipeline, as if the user had just re-authenticated at each
 * level a policy names (`@step_up_acr`); the first level that allows is the answer's `step_up`.
 */
import { reasonTextsOf, type DecisionRecord, type DecisionRequest, type PolicyAnnotationFacts, type StepUpLevel, type TenantSettings, withEntry } from '@verity/core';

/** What a decision's answer says beyond allow or deny (the AuthZEN response context). */
export interface DecisionExplanation {
  /** For the user: the deny's reason (AuthZEN `reason_user`). */
  reasonUser?: string;
  /** For the admin: the deny's reason text (under a language key of AuthZEN `reason_admin`). */
  reasonAdmin?: string;
  /** The authentication that would turn this deny into an allow (RFC 9470 §3). */
  stepUp?: StepUpLevel;
}

/**
 * The request as if its subject had authenticated at `level`: the token's `acr` is the level's,
 * its `amr` unchanged, and its `auth_time` now (epoch seconds of `nowMs`) only when the level
 * asks for a fresh login (`max_age`, RFC 9470 §3). A level without `max_age` promises only the
 * `acr`: the identity provider may answer from its session with the same `auth_time`, so the
 * token's stays (a hint that a fresh login alone would lift is never given without `max_age`,
 * else the client would loop). Undefined when the request has no verified token that says how
 * its subject authenticated.
 */
export function steppedUpRequest(request: DecisionRequest, level: StepUpLevel, nowMs: number): DecisionRequest | undefined {
  if (request.kind !== 'authzen' || request.token?.authentication === undefined) return undefined;
  const { authTime, amr } = request.token.authentication;
  const authentication = { authTime: level.maxAgeSec === undefined ? authTime : Math.floor(nowMs / 1000), acr: level.acr, amr };
  return withEntry(request, 'token', withEntry(request.token, 'authentication', authentication));
}

/**
 * The first step-up level (in the order of {@link PolicyAnnotationFacts.stepUps}) under which
 * `decide` allows the request, or undefined. Only for a deny, with the tenant's risk engine on
 * (policies see the authentication only in `context.risk`) and a token that says how its
 * subject authenticated. `decide` is the real decision of the stepped-up request, not audited;
 * any error it throws ends the search with no answer (fail closed: a plain deny).
 */
export async function findStepUp(
  record: DecisionRecord,
  request: DecisionRequest,
  facts: { settings: TenantSettings; annotations: PolicyAnnotationFacts; nowMs: number },
  decide: (stepped: DecisionRequest) => Promise<DecisionRecord>,
): Promise<StepUpLevel | undefined> {
  if (record.decision !== 'deny' || facts.settings.risk?.enabled !== true) return undefined;
  for (const level of facts.annotations.stepUps) {
    const stepped = steppedUpRequest(request, level, facts.nowMs);
    if (stepped === undefined) return undefined;
    try {
      if ((await decide(stepped)).decision === 'allow') return level;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * A deny's reasons: its determining policies' `@reason_user` / `@reason_admin` texts; where
 * they give none (or no policy determined the deny), the tenant's `settings.reasons` defaults.
 * An allow has none.
 */
export function reasonsOf(record: DecisionRecord, annotations: PolicyAnnotationFacts, settings: TenantSettings): Pick<DecisionExplanation, 'reasonUser' | 'reasonAdmin'> {
  if (record.decision !== 'deny') return {};
  const texts = reasonTextsOf(annotations, record.reasons);
  const user = texts.user ?? settings.reasons?.default_user;
  const admin = texts.admin ?? settings.reasons?.default_admin;
  const reasons: Pick<DecisionExplanation, 'reasonUser' | 'reasonAdmin'> = {};
  if (user !== undefined) reasons.reasonUser = user;
  if (admin !== undefined) reasons.reasonAdmin = admin;
  return reasons;
}
