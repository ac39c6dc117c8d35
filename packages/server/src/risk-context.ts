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
import { riskContextOf, scoreRisk, VerityError, type DecisionRequest, type RecordedRisk, type RiskConfig, type RiskSignals, type TenantSettings } from '@verity/core';
import { isDeviceId } from './device/posture.js';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** The device id the verified token's `claim` names, or null (no token, no claim, or not a device id). */
export function deviceIdOf(request: DecisionRequest, claim: string): string | null {
  const claims = request.kind === 'authzen' ? request.token?.claims : undefined;
  const value = claims !== undefined && Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  return isDeviceId(value) ? value : null;
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
 * The request with `context.risk` set, and the assessment to audit; the request unchanged when
 * the tenant's risk engine is off; `validUntilMs`, when the risk would change by itself
 * ({@link validUntilOf}): a PEP may not reuse the decision past it. A request that names `context.risk` itself while the engine is
 * on is refused (ERR_DECISION_INVALID_REQUEST): a caller never says how risky it is.
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: { nowMs: number; devices?: DeviceSignalLookup }): Promise<{ request: DecisionRequest; risk?: RecordedRisk; validUntilMs?: number }> {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return { request };
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
  const signals = await riskSignalsOf(settings, request, at);
  const assessment = scoreRisk(signals, config);
  const risk = riskContextOf(assessment);
  const validUntil = validUntilOf(signals, config, at.nowMs);
  const valid = validUntil === undefined ? {} : { validUntilMs: validUntil };
  if (request.kind === 'cedar') return { request: { ...request, request: { ...request.request, context: { ...request.request.context, risk } } }, risk: assessment, ...valid };
  // With a token, its claim-mapped context wins over the request's: the risk entry wins over both.
  const withContext = request.token === undefined ? request : { ...request, token: { ...request.token, context: { ...request.token.context, risk } } };
  return { request: { ...withContext, request: { ...request.request, context: { ...(context ?? {}), risk } } }, risk: assessment, ...valid };
}

/**
 * The earliest time (epoch ms) the risk of this request changes by itself: the authentication
 * age crossing the next threshold, a device's patch level ageing out. Changes pushed by someone
 * (a posture report, a revocation) are not counted here: they invalidate caches through the
 * change feed. Undefined when nothing measured ages.
 */
export function validUntilOf(signals: RiskSignals, config: Pick<RiskConfig, 'auth_age'>, nowMs: number): number | undefined {
  const candidates: number[] = [];
  const age = signals.authAgeSec;
  if (age !== undefined) {
    // scoreRisk counts an age strictly over a threshold: it changes at threshold + 1 s.
    const authTimeSec = Math.floor(nowMs / 1000) - age;
    for (const threshold of [config.auth_age.aging_after_sec, config.auth_age.stale_after_sec]) {
      if (age <= threshold) candidates.push((authTimeSec + threshold + 1) * 1000);
    }
  }
  if (signals.device?.state === 'known' && signals.device.validUntilMs !== undefined) candidates.push(signals.device.validUntilMs);
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}
