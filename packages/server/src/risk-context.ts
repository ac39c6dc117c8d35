/**
 * The risk engine in the decision path (issue 12, docs/continuous-verification.md): when the
 * tenant turns it on (`settings.risk.enabled`), the signals of a request are weighed
 * (`scoreRisk`) into `context.risk = {score, level, factors}` for the policies, and the weighted
 * factors go to the decision's audit record. The context entry is the PDP's alone.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`, and (when
 * the tenant sets `settings.risk.devices`) device trust: the device the token's claim names, as
 * its MDM last reported it. The others (location and travel, IP reputation, behaviour) are not
 * measured yet and add nothing (docs/continuous-verification.md says what is built).
 */
import { riskContextOf, scoreRisk, VerityError, type AuthenticationFacts, type DecisionRequest, type RecordedRisk, type RiskSignals, type TenantSettings } from '@verity/core';
import { isDeviceId } from './device/posture.js';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** The device id the verified token's `claim` names, or null (no token, no claim, or not a device id). */
export function deviceIdOf(request: DecisionRequest, claim: string): string | null {
  const claims = request.kind === 'authzen' ? request.token?.claims : undefined;
  const value = claims !== undefined && Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  return isDeviceId(value) ? value : null;
}

/** An assurance level reported after the token was issued (an SSF `assurance-level-change` event), at epoch ms `atMs`. */
export interface AssuranceOverride {
  acr: string;
  atMs: number;
}

/** `context.risk.authentication` for Cedar: `{acr?: String, amr: Set<String>, age_sec?: Long}` (a type, so it is a Cedar record value). */
export type AuthenticationContext = {
  acr?: string;
  amr: string[];
  age_sec?: number;
};

/**
 * How the subject authenticated, as policies see it (`context.risk.authentication`): the
 * token's `acr` and `amr` (OIDC Core §2) and the seconds since its `auth_time` at `nowMs`
 * (never negative). An `override` newer than the token's `auth_time` (or any, when the token
 * gives none) replaces the `acr`: the identity provider has since said the session's assurance
 * changed. Absent facts stay absent (`acr`, `age_sec`); `amr` is always a set, maybe empty.
 */
export function authenticationContextOf(authentication: AuthenticationFacts, nowMs: number, override?: AssuranceOverride): AuthenticationContext {
  const { authTime } = authentication;
  const overrides = override !== undefined && (authTime === null || override.atMs > authTime * 1000);
  const acr = overrides ? override.acr : authentication.acr;
  return {
    ...(acr === null || acr === '' ? {} : { acr }),
    amr: [...new Set(authentication.amr)].sort(),
    ...(authTime === null ? {} : { age_sec: Math.max(0, Math.floor(nowMs / 1000) - authTime) }),
  };
}

/** The signals of one request that this PDP can measure now. */
export async function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: { nowMs: number; devices?: DeviceSignalLookup }): Promise<RiskSignals> {
  const signals: RiskSignals = {};
  const authTime = request.kind === 'authzen' ? request.token?.authentication?.authTime : undefined;
  if (authTime !== undefined && authTime !== null) signals.authAgeSec = Math.max(0, Math.floor(at.nowMs / 1000) - authTime);
  const devices = settings.risk?.devices;
  if (devices !== undefined) {
    // Device trust on: no bound device, or one nobody registered, is an unknown device (the seed's rule).
    const id = deviceIdOf(request, devices.claim);
    signals.device = at.devices === undefined ? { state: 'unknown' } : await at.devices(id, devices.max_patch_age_days);
  }
  return signals;
}

/**
 * The request with `context.risk` set (with `authentication` when a verified token says how its
 * subject authenticated, see {@link authenticationContextOf}), and the assessment to audit; the request unchanged when
 * the tenant's risk engine is off. A request that names `context.risk` itself while the engine is
 * on is refused (ERR_DECISION_INVALID_REQUEST): a caller never says how risky it is.
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: { nowMs: number; devices?: DeviceSignalLookup; assurance?: AssuranceOverride }): Promise<{ request: DecisionRequest; risk?: RecordedRisk }> {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return { request };
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
  const assessment = scoreRisk(await riskSignalsOf(settings, request, at), config);
  const authentication = request.kind === 'authzen' ? request.token?.authentication : undefined;
  const risk = { ...riskContextOf(assessment), ...(authentication === undefined ? {} : { authentication: authenticationContextOf(authentication, at.nowMs, at.assurance) }) };
  if (request.kind === 'cedar') return { request: { ...request, request: { ...request.request, context: { ...request.request.context, risk } } }, risk: assessment };
  // With a token, its claim-mapped context wins over the request's: the risk entry wins over both.
  const withContext = request.token === undefined ? request : { ...request, token: { ...request.token, context: { ...request.token.context, risk } } };
  return { request: { ...withContext, request: { ...request.request, context: { ...(context ?? {}), risk } } }, risk: assessment };
}
