/**
 * The risk engine in the decision path (issue 12, docs/continuous-verification.md): when the
 * tenant turns it on (`settings.risk.enabled`), the signals of a request are weighed
 * (`scoreRisk`) into `context.risk = {score, level, factors}` for the policies, and the weighted
 * factors go to the decision's audit record. The context entry is the PDP's alone.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`. The others
 * (device posture, location and travel, IP reputation, behaviour) are not measured yet and add
 * nothing (docs/continuous-verification.md says what is built).
 */
import { riskContextOf, scoreRisk, VerityError, type DecisionRequest, type RecordedRisk, type RiskSignals, type TenantSettings } from '@verity/core';

/** The signals of one request that this PDP can measure now. */
export function riskSignalsOf(request: DecisionRequest, nowMs: number): RiskSignals {
  const authTime = request.kind === 'authzen' ? request.token?.authentication?.authTime : undefined;
  return authTime === undefined || authTime === null ? {} : { authAgeSec: Math.max(0, Math.floor(nowMs / 1000) - authTime) };
}

/**
 * The request with `context.risk` set, and the assessment to audit; the request unchanged when
 * the tenant's risk engine is off. A request that names `context.risk` itself while the engine is
 * on is refused (ERR_DECISION_INVALID_REQUEST): a caller never says how risky it is.
 */
export function withRisk(settings: TenantSettings, request: DecisionRequest, nowMs: number): { request: DecisionRequest; risk?: RecordedRisk } {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return { request };
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
  const assessment = scoreRisk(riskSignalsOf(request, nowMs), config);
  const risk = riskContextOf(assessment);
  if (request.kind === 'cedar') return { request: { ...request, request: { ...request.request, context: { ...request.request.context, risk } } }, risk: assessment };
  // With a token, its claim-mapped context wins over the request's: the risk entry wins over both.
  const withContext = request.token === undefined ? request : { ...request, token: { ...request.token, context: { ...request.token.context, risk } } };
  return { request: { ...withContext, request: { ...request.request, context: { ...(context ?? {}), risk } } }, risk: assessment };
}
