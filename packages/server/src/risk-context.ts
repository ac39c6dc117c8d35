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
 * its reputation (the tenant's imported threat lists). `context.risk.authentication` says how
 * the subject authenticated.
 */
import {
  assessRisk,
  authAgeOf,
  clientIpOf,
  deviceIdOf,
  refuseCallerRisk,
  riskEnabled,
  tableLocationOf,
  type AssuranceOverride,
  type DecisionRequest,
  type GeoLocation,
  type IpAddress,
  type RiskOutcome,
  type RiskSignals,
  type TenantSettings,
} from '@verity/core';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** The server's IP → location resolver (the MaxMind database), consulted after the tenant's table. */
export type LocationLookup = (address: IpAddress) => GeoLocation | null;

/** The tenant's threat lists holding an address (first source, earliest expiry in ms), or null. */
export type ThreatLookup = (address: IpAddress) => Promise<{ source: string; expiresAtMs?: number } | null>;

/** Where this replica keeps the signals (absent: not measured), and the clock. */
export interface RiskLookups {
  nowMs: number;
  devices?: DeviceSignalLookup;
  locate?: LocationLookup;
  threats?: ThreatLookup;
  /** A later assurance level of the request's subject (SSF), which replaces its token's `acr`. */
  assurance?: AssuranceOverride;
}

/** The signals of one request that this PDP can measure now. */
export async function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): Promise<RiskSignals> {
  const signals: RiskSignals = {};
  const address = clientIpOf(request);
  if (address !== null) {
    const location = tableLocationOf(settings, address) ?? at.locate?.(address) ?? null;
    if (location !== null) signals.location = location;
    const threat = await at.threats?.(address);
    if (threat !== undefined && threat !== null) signals.maliciousIp = threat;
  }
  const authAgeSec = authAgeOf(request, at.nowMs);
  if (authAgeSec !== undefined) signals.authAgeSec = authAgeSec;
  const devices = settings.risk?.devices;
  if (devices !== undefined) {
    // Device trust on: no bound device, or one nobody registered, is an unknown device (the seed's rule).
    const id = deviceIdOf(request, devices.claim);
    signals.device = at.devices === undefined ? { state: 'unknown' } : await at.devices(id, devices.max_patch_age_days);
  }
  return signals;
}

/**
 * The request with `context.risk` set, the assessment to audit, and `validUntilMs` (a PEP may
 * not reuse the decision past it); the request unchanged when the tenant's risk engine is off. A
 * request that names `context.risk` itself while the engine is on is refused
 * (ERR_DECISION_INVALID_REQUEST), before any signal is read; so is a client IP that is no
 * address literal (core's `clientIpOf`).
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): Promise<RiskOutcome> {
  if (!riskEnabled(settings)) return { request };
  refuseCallerRisk(request);
  return assessRisk(settings, request, await riskSignalsOf(settings, request, at), at.nowMs, at.assurance);
}
