/**
 * The risk engine in the decision path (issue 12, docs/continuous-verification.md): when the
 * tenant turns it on (`settings.risk.enabled`), the signals of a request are weighed
 * (`scoreRisk`) into `context.risk = {score, level, factors}` for the policies, and the weighted
 * factors go to the decision's audit record. The context entry is the PDP's alone.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`, (when
 * the tenant sets `settings.risk.devices`) device trust: the device the token's claim names, as
 * its MDM last reported it, and (with `settings.risk.activity`) the per-subject signals: travel
 * from the subject's last location, and its behaviour (rate against its baseline, first use).
 * The others (IP reputation, the request's location) are not measured yet and add nothing
 * (docs/continuous-verification.md says what is built).
 */
import {
  formatEntityUid,
  mapEntityType,
  riskContextOf,
  scoreRisk,
  VerityError,
  type ActivitySettings,
  type ActivitySignal,
  type DecisionRequest,
  type GeoPoint,
  type RecordedRisk,
  type RiskSignals,
  type TenantSettings,
} from '@verity/core';
import { isDeviceId } from './device/posture.js';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** Whose request it is and what it does, as the per-subject signals key it (Cedar uid text). */
export interface ActivityKey {
  /** The principal the decision will be made for: the token's, else the request's (type-mapped). */
  subject: string;
  /** The action's uid text (`Action::"read"`). */
  action: string;
  /** The resource's (type-mapped) entity type. */
  resourceType: string;
  /** Where the request comes from; null when it is not located. */
  location: GeoPoint | null;
}

/** The per-subject signals of one request (from memory), under the tenant's activity settings. */
export type ActivitySignalLookup = (key: ActivityKey, settings: ActivitySettings) => Promise<ActivitySignal>;

/** What the risk engine reads of one request besides the request: the clock and the signals' sources. */
export interface RiskInputs {
  nowMs: number;
  devices?: DeviceSignalLookup;
  /** Per-subject signals; absent: not measured even when the tenant sets `settings.risk.activity`. */
  activity?: ActivitySignalLookup;
  /** Where the request comes from (IP → location, not built yet): absent or null, not located. */
  location?: GeoPoint | null;
}

/** The subject, action and resource type of a request as the decision will see them (the pipeline's mapping). */
export function activityKeyOf(request: DecisionRequest, settings: TenantSettings, location: GeoPoint | null): ActivityKey {
  if (request.kind === 'cedar') {
    const { principal, action, resource } = request.request;
    return { subject: formatEntityUid(principal), action: formatEntityUid(action), resourceType: resource.type, location };
  }
  const { subject, action, resource } = request.request;
  const principal = request.token?.principal.uid ?? { type: mapEntityType(subject.type, settings), id: subject.id };
  return {
    subject: formatEntityUid(principal),
    action: formatEntityUid({ type: settings.actionType ?? 'Action', id: action.name }),
    resourceType: mapEntityType(resource.type, settings),
    location,
  };
}

/** The device id the verified token's `claim` names, or null (no token, no claim, or not a device id). */
export function deviceIdOf(request: DecisionRequest, claim: string): string | null {
  const claims = request.kind === 'authzen' ? request.token?.claims : undefined;
  const value = claims !== undefined && Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  return isDeviceId(value) ? value : null;
}

/** The signals of one request that this PDP can measure now. */
export async function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: RiskInputs): Promise<RiskSignals> {
  const signals: RiskSignals = {};
  const authTime = request.kind === 'authzen' ? request.token?.authentication?.authTime : undefined;
  if (authTime !== undefined && authTime !== null) signals.authAgeSec = Math.max(0, Math.floor(at.nowMs / 1000) - authTime);
  const devices = settings.risk?.devices;
  if (devices !== undefined) {
    // Device trust on: no bound device, or one nobody registered, is an unknown device (the seed's rule).
    const id = deviceIdOf(request, devices.claim);
    signals.device = at.devices === undefined ? { state: 'unknown' } : await at.devices(id, devices.max_patch_age_days);
  }
  const activity = settings.risk?.activity;
  if (activity !== undefined && at.activity !== undefined) {
    const measured = await at.activity(activityKeyOf(request, settings, at.location ?? null), activity);
    if (measured.impossibleTravel !== undefined) signals.impossibleTravel = measured.impossibleTravel;
    signals.anomalyScore = measured.anomalyScore;
  }
  return signals;
}

/**
 * The request with `context.risk` set, and the assessment to audit; the request unchanged when
 * the tenant's risk engine is off. A request that names `context.risk` itself while the engine is
 * on is refused (ERR_DECISION_INVALID_REQUEST): a caller never says how risky it is.
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: RiskInputs): Promise<{ request: DecisionRequest; risk?: RecordedRisk }> {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return { request };
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
  const assessment = scoreRisk(await riskSignalsOf(settings, request, at), config);
  const risk = riskContextOf(assessment);
  if (request.kind === 'cedar') return { request: { ...request, request: { ...request.request, context: { ...request.request.context, risk } } }, risk: assessment };
  // With a token, its claim-mapped context wins over the request's: the risk entry wins over both.
  const withContext = request.token === undefined ? request : { ...request, token: { ...request.token, context: { ...request.token.context, risk } } };
  return { request: { ...withContext, request: { ...request.request, context: { ...(context ?? {}), risk } } }, risk: assessment };
}
