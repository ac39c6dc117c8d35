/**
 * The risk engine in the PDP's decision path (issue 12, docs/continuous-verification.md): when
 * the tenant turns it on (`settings.risk.enabled`), the signals of a request are gathered here,
 * each from where this replica keeps it, and weighed by core's {@link assessRisk} (the same pass
 * a PEP deciding from its bundle makes) into `context.risk` and the assessment to audit.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`, and (when
 * the tenant sets `settings.risk.devices`) device trust: the device the token's claim names, as
 * its MDM last reported it. With a client IP (`context.client_ip`, or a gateway's `X-Real-IP`):
 * its location (the tenant's `settings.risk.locations`, else the server's MaxMind database) and
 * its reputation (the tenant's imported threat lists); with `settings.risk.activity`, the
 * per-subject signals: travel from the subject's last location, and its behaviour (rate against
 * its baseline, first use). `context.risk.authentication` says how the subject authenticated.
 */
import {
  assessRisk,
  authAgeOf,
  boundDeviceOf,
  clientIpOf,
  certifiedDeviceSignal,
  formatEntityUid,
  mapEntityType,
  refuseCallerRisk,
  riskEnabled,
  tableLocationOf,
  type ActivitySettings,
  type ActivitySignal,
  type AssuranceOverride,
  type DecisionRequest,
  type GeoLocation,
  type GeoPoint,
  type IpAddress,
  type RiskOutcome,
  type RiskSignals,
  type TenantSettings,
  withEntry,
} from '@verity/core';
import { verifyDeviceCertificate } from '@verity/workload/core';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** The server's IP → location resolver (the MaxMind database), consulted after the tenant's table. */
export type LocationLookup = (address: IpAddress) => GeoLocation | null;

/** The tenant's threat lists holding an address (first source, earliest expiry in ms), or null. */
export type ThreatLookup = (address: IpAddress) => Promise<{ source: string; expiresAtMs?: number } | null>;

/** One request as the per-subject signals see it. */
export interface ActivityKey {
  /** The principal's uid text (`User::"alice"`): the token's principal, else the type-mapped subject. */
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

/** Where this replica keeps the signals (absent: not measured), and the clock. */
export interface RiskLookups {
  nowMs: number;
  devices?: DeviceSignalLookup;
  locate?: LocationLookup;
  threats?: ThreatLookup;
  /** Per-subject signals; absent: not measured even when the tenant sets `settings.risk.activity`. */
  activity?: ActivitySignalLookup;
  /** A later assurance level of the request's subject (SSF), which replaces its token's `acr`. */
  assurance?: AssuranceOverride;
}

/**
 * The signals of one request that this PDP can measure now. Without a promise when none needs a
 * look-up (no client IP, no device trust, no per-subject signals): the token's authentication
 * age is all there is, and most decisions of a risk-on tenant are answered without waiting.
 */
export function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): RiskSignals | Promise<RiskSignals> {
  const signals: RiskSignals = {};
  const authAgeSec = authAgeOf(request, at.nowMs);
  if (authAgeSec !== undefined) signals.authAgeSec = authAgeSec;
  const address = clientIpOf(request);
  const devices = settings.risk?.devices;
  const activity = at.activity === undefined ? undefined : settings.risk?.activity;
  if (address === null && devices === undefined && activity === undefined) return signals;
  return lookUpSignals(signals, settings, request, at, address);
}

/** {@link riskSignalsOf}'s look-ups, in order: location and reputation, device, per-subject. */
async function lookUpSignals(signals: RiskSignals, settings: TenantSettings, request: DecisionRequest, at: RiskLookups, address: IpAddress | null): Promise<RiskSignals> {
  if (address !== null) {
    const location = tableLocationOf(settings, address) ?? at.locate?.(address) ?? null;
    if (location !== null) signals.location = location;
    const threat = await at.threats?.(address);
    if (threat !== undefined && threat !== null) signals.maliciousIp = threat;
  }
  const devices = settings.risk?.devices;
  if (devices !== undefined) {
    // Device trust on: no bound device, or one nobody registered, is an unknown device (the seed's rule).
    const bound = boundDeviceOf(request, devices, at.nowMs, verifyDeviceCertificate);
    const registered = bound.refused !== undefined || at.devices === undefined ? { state: 'unknown' as const } : await at.devices(bound.id, devices.max_patch_age_days);
    signals.device = certifiedDeviceSignal(bound, registered);
  }
  const activity = settings.risk?.activity;
  if (activity !== undefined && at.activity !== undefined) {
    const measured = await at.activity(activityKeyOf(request, settings, signals.location ?? null), activity);
    if (measured.impossibleTravel !== undefined) signals.impossibleTravel = measured.impossibleTravel;
    signals.anomalyScore = measured.anomalyScore;
  }
  return signals;
}

/** The outcome of a tenant whose risk engine is off. */
const NO_RISK: RiskOutcome = Object.freeze({});

/**
 * What the risk engine makes of the request ({@link RiskOutcome}): the decision's `context.risk`,
 * the assessment to audit, and `validUntilMs` (a PEP may not reuse the decision past it; now, when
 * the per-subject signals were measured: each request must reach them); empty when the tenant's
 * risk engine is off. A promise only when a signal needed a look-up
 * ({@link riskSignalsOf}). A request that names `context.risk` itself while the engine is on is
 * refused (throws ERR_DECISION_INVALID_REQUEST), before any signal is read; so is a client IP
 * that is no address literal (core's `clientIpOf`).
 */
export function withRisk(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): RiskOutcome | Promise<RiskOutcome> {
  if (!riskEnabled(settings)) return NO_RISK;
  refuseCallerRisk(request);
  const signals = riskSignalsOf(settings, request, at);
  return signals instanceof Promise ? signals.then((measured) => outcomeOf(settings, request, measured, at)) : outcomeOf(settings, request, signals, at);
}

function outcomeOf(settings: TenantSettings, request: DecisionRequest, signals: RiskSignals, at: RiskLookups): RiskOutcome {
  const outcome = assessRisk(settings, request, signals, at.nowMs, at.assurance);
  // The per-subject signals change with every request, and each must be seen: not reusable.
  return settings.risk?.activity === undefined || at.activity === undefined ? outcome : withEntry(outcome, 'validUntilMs', at.nowMs);
}
