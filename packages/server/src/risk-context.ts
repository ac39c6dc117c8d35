/**
 * The risk engine in the decision path (issue 12, docs/continuous-verification.md): when the
 * tenant turns it on (`settings.risk.enabled`), the signals of a request are weighed
 * (`scoreRisk`) into `context.risk = {score, level, factors}` for the policies, and the weighted
 * factors go to the decision's audit record. The context entry is the PDP's alone.
 *
 * Signals measured so far: authentication age from the verified token's `auth_time`, and (when
 * the tenant sets `settings.risk.devices`) device trust: the device the token's claim names, as
 * its MDM last reported it. With a client IP (`context.client_ip`, or a gateway's `X-Real-IP`):
 * its location (the tenant's `settings.risk.locations`, else the server's MaxMind database) and
 * its reputation (the tenant's imported threat lists). The others (travel, behaviour) are not
 * measured yet and add nothing (docs/continuous-verification.md says what is built).
 */
import {
  locationTableResolver,
  parseIpAddress,
  riskContextOf,
  scoreRisk,
  VerityError,
  type DecisionRequest,
  type GeoLocation,
  type IpAddress,
  type RecordedRisk,
  type RiskSignals,
  type TenantSettings,
} from '@verity/core';
import { isDeviceId } from './device/posture.js';

/** The device signal of a tenant's device id (null: none bound), at the tenant's patch-age limit. */
export type DeviceSignalLookup = (id: string | null, maxPatchAgeDays: number) => Promise<NonNullable<RiskSignals['device']>>;

/** The device id the verified token's `claim` names, or null (no token, no claim, or not a device id). */
export function deviceIdOf(request: DecisionRequest, claim: string): string | null {
  const claims = request.kind === 'authzen' ? request.token?.claims : undefined;
  const value = claims !== undefined && Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  return isDeviceId(value) ? value : null;
}

/** The server's IP → location resolver (the MaxMind database), consulted after the tenant's table. */
export type LocationLookup = (address: IpAddress) => GeoLocation | null;

/** The tenant's threat lists holding an address (first source, earliest expiry in ms), or null. */
export type ThreatLookup = (address: IpAddress) => Promise<{ source: string; expiresAtMs?: number } | null>;

/** When and with what the signals are measured: the clock, and the in-memory sources (absent: not measured). */
export interface RiskSignalSources {
  nowMs: number;
  devices?: DeviceSignalLookup;
  locate?: LocationLookup;
  threats?: ThreatLookup;
}

/**
 * The client IP of a request, parsed: a gateway's `X-Real-IP` (`clientIp`), else the request's
 * `context.client_ip` (as the PEP saw the connection). Null when neither is given. One that is
 * not an IPv4/IPv6 literal throws ERR_DECISION_INVALID_REQUEST (fail closed: not "no IP").
 */
export function clientIpOf(request: DecisionRequest): IpAddress | null {
  let given: unknown = request.kind === 'authzen' ? request.clientIp : undefined;
  if (given === undefined) {
    const context = request.request.context as Record<string, unknown> | undefined | null;
    if (context === undefined || context === null || !Object.hasOwn(context, 'client_ip')) return null;
    given = context['client_ip'];
  }
  const address = parseIpAddress(given);
  if (address === null) throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.client_ip must be an IPv4 or IPv6 address literal (no port, no zone)');
  return address;
}

/** The signals of one request that this PDP can measure now. */
export async function riskSignalsOf(settings: TenantSettings, request: DecisionRequest, at: RiskSignalSources): Promise<RiskSignals> {
  const signals: RiskSignals = {};
  const address = clientIpOf(request);
  if (address !== null) {
    const table = settings.risk?.locations;
    const location = (table === undefined ? null : locationTableResolver(table).locate(address)) ?? at.locate?.(address) ?? null;
    if (location !== null) signals.location = location;
    const threat = await at.threats?.(address);
    if (threat !== undefined && threat !== null) signals.maliciousIp = threat;
  }
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
 * the tenant's risk engine is off. A request that names `context.risk` itself while the engine is
 * on is refused (ERR_DECISION_INVALID_REQUEST): a caller never says how risky it is; so is a
 * client IP that is no address literal ({@link clientIpOf}). `signalsExpireAtMs`: the earliest
 * expiry (epoch ms) of a signal the assessment used (a matched threat list); a decision that read
 * `context.risk` is good only until then. Absent: no signal used expires.
 */
export async function withRisk(settings: TenantSettings, request: DecisionRequest, at: RiskSignalSources): Promise<{ request: DecisionRequest; risk?: RecordedRisk; signalsExpireAtMs?: number }> {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return { request };
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
  const signals = await riskSignalsOf(settings, request, at);
  const assessment = scoreRisk(signals, config);
  // Where the client is, for policies: no coordinates (the travel check has them, not Cedar).
  const risk = { ...riskContextOf(assessment), ...(signals.location === undefined ? {} : { location: placeOf(signals.location) }) };
  // The decision may be reused only until the earliest expiry of a signal it read.
  const expiry = signals.maliciousIp?.expiresAtMs === undefined ? {} : { signalsExpireAtMs: signals.maliciousIp.expiresAtMs };
  if (request.kind === 'cedar') return { request: { ...request, request: { ...request.request, context: { ...request.request.context, risk } } }, risk: assessment, ...expiry };
  // With a token, its claim-mapped context wins over the request's: the risk entry wins over both.
  const withContext = request.token === undefined ? request : { ...request, token: { ...request.token, context: { ...request.token.context, risk } } };
  return { request: { ...withContext, request: { ...request.request, context: { ...(context ?? {}), risk } } }, risk: assessment, ...expiry };
}

/** `context.risk.location`: `{country?, city?, vpn?}` of a location. */
function placeOf(location: GeoLocation): { country?: string; city?: string; vpn?: boolean } {
  return {
    ...(location.country === undefined ? {} : { country: location.country }),
    ...(location.city === undefined ? {} : { city: location.city }),
    ...(location.vpn === undefined ? {} : { vpn: location.vpn }),
  };
}
