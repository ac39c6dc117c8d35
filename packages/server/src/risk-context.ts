/**
 * The risk engine in the PDP's decision path (issue 12, docs/continuous-verification.md): when
 * the tenant turns it on (`settings.risk.enabled`), the signals of a request are gathered here,
 * each from where this replica keeps it, and weighed by core's {@link assessRisk} (the same pass
 * a PEP deciding from its bundle makes) into `context.risk` and the assessment to audit.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`, and (when
 * the tenant sets `settings.risk.devices`) device trust: the device the token's claim names, as
 * its MDM last reported it. `context.risk.authentication` says how the subject authenticated.
 */
import { assessRisk, authAgeOf, deviceIdOf, refuseCallerRisk, riskEnabled, type AssuranceOverride, type DecisionRequest, type RiskOutcome, type RiskSignals, type TenantSettings } from '@verity/core';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** Where this replica keeps the signals, and the clock. */
export interface RiskLookups {
  nowMs: number;
  devices?: DeviceSignalLookup;
  /** A later assurance level of the request's subject (SSF), which replaces its token's `acr`. */
  assurance?: AssuranceOverride;
}

/** The signals of one request that this PDP can measure now. */
export async function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): Promise<RiskSignals> {
  const signals: RiskSignals = {};
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
 * (ERR_DECISION_INVALID_REQUEST), before any signal is read.
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: RiskLookups): Promise<RiskOutcome> {
  if (!riskEnabled(settings)) return { request };
  refuseCallerRisk(request);
  return assessRisk(settings, request, await riskSignalsOf(settings, request, at), at.nowMs, at.assurance);
}
