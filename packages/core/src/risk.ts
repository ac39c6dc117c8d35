/**
 * The risk engine's scoring: signals about one request (authentication age, device posture,
 * travel, behaviour, IP reputation) into `context.risk = {score, level, factors}` for Cedar
 * policies. The default configuration reproduces the `ContinuousVerifier` of the seed
 * (`shared/seeds/003`): the same weights, the same thresholds (25 / 50 / 80), so a score can be
 * compared with it; every number is tenant configuration (`settings.risk`).
 *
 * Pure: the signals are gathered elsewhere (each from its own source); this only weighs them.
 */
import { VerityError } from './errors.js';
import { isPlainObject, storableText } from './wire-format.js';

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** A point on the earth: latitude and longitude in decimal degrees (WGS 84; lat −90..90, lon −180..180). */
export interface GeoPoint {
  lat: number;
  lon: number;
}

/**
 * Where a client IP is (a `LocationResolver`'s answer, location-table.ts): coordinates in degrees for the
 * travel check; country (ISO 3166-1 alpha-2), city and whether it is a VPN exit for policies.
 */
export interface GeoLocation extends GeoPoint {
  country?: string;
  city?: string;
  vpn?: boolean;
}

/** What is known about one request, each signal from its own source; absent means "not measured". */
export interface RiskSignals {
  /** Seconds since the subject authenticated (the token's `auth_time`); absent: the token says nothing. */
  authAgeSec?: number;
  /**
   * The device the request is bound to: `unknown` when none is bound or the bound one is not
   * registered (the seed's `get_compliance_status` returning None; `refused`: a device
   * certificate was presented and did not verify, why); `known` with its posture,
   * and `validUntilMs` (epoch ms) when the verdict will change by itself (the last patch ages past
   * the tenant's limit then).
   */
  device?: { state: 'unknown'; refused?: string } | { state: 'known'; compliant: boolean; issues: readonly string[]; validUntilMs?: number };
  /** The subject could not have travelled from its last location since its last request. */
  impossibleTravel?: boolean;
  /** Behavioural anomaly in [0, 1] (request rate against the subject's baseline, first use). */
  anomalyScore?: number;
  /**
   * The client IP is on an imported threat list (the list's source); `expiresAtMs`: the earliest
   * expiry of the lists that matched (absent: none expires), after which the signal may change.
   */
  maliciousIp?: { source: string; expiresAtMs?: number };
  /** Where the client IP is (the tenant's location table, else the server's MaxMind database). */
  location?: GeoLocation;
}

/** One reason the score went up: its name, the weight it added, and a detail for the audit. */
export interface RiskFactor {
  name: string;
  weight: number;
  detail?: string;
}

/** `context.risk` as policies read it (factor names only), plus the weighted factors for the audit. */
export interface RiskAssessment {
  score: number;
  level: RiskLevel;
  factors: RiskFactor[];
}

/** Every weight and threshold of the scoring (settings.risk; snake_case like the other settings). */
export interface RiskConfig {
  weights: {
    stale_authentication: number;
    aging_authentication: number;
    unknown_device: number;
    device_noncompliant: number;
    impossible_travel: number;
    high_behavioral_anomaly: number;
    moderate_behavioral_anomaly: number;
    known_malicious_ip: number;
  };
  /** Authentication older than `stale_after_sec` is stale, older than `aging_after_sec` aging. */
  auth_age: { stale_after_sec: number; aging_after_sec: number };
  /** Anomaly scores above `high` and `moderate` (exclusive, as the seed compares). */
  anomaly: { high: number; moderate: number };
  /** A score at or above each is that level (the seed: 25, 50, 80). */
  thresholds: { medium: number; high: number; critical: number };
}

/**
 * Device trust (`settings.risk.devices`): which claim of the verified token names the device, and
 * how old its last OS patch may be. Absent: devices are not measured.
 */
export interface DeviceTrustSettings {
  /** The token claim holding the device id (default `device_id`). */
  claim: string;
  /** A device whose last OS patch is older than this many days has the `patch_level` issue (default 30). */
  max_patch_age_days: number;
  /**
   * CA certificates (PEM) of the tenant's device certificates: devices are then bound only by a
   * certificate the PEP's handshake verified and forwarded, chaining to one of them (the device
   * its Subject CN names), never by the token's claim. Absent: devices are bound by the claim.
   */
  certificate_authorities?: string[];
}

/** Device trust's defaults: the `device_id` claim, patches at most 30 days old. */
export const DEFAULT_DEVICE_TRUST: DeviceTrustSettings = Object.freeze({ claim: 'device_id', max_patch_age_days: 30 });

/** The seed's `ContinuousVerifier`, number for number. */
export const DEFAULT_RISK_CONFIG: RiskConfig = Object.freeze({
  weights: Object.freeze({
    stale_authentication: 30,
    aging_authentication: 10,
    unknown_device: 40,
    device_noncompliant: 25,
    impossible_travel: 50,
    high_behavioral_anomaly: 35,
    moderate_behavioral_anomaly: 15,
    known_malicious_ip: 60,
  }),
  auth_age: Object.freeze({ stale_after_sec: 12 * 3600, aging_after_sec: 4 * 3600 }),
  anomaly: Object.freeze({ high: 0.8, moderate: 0.5 }),
  thresholds: Object.freeze({ medium: 25, high: 50, critical: 80 }),
}) as RiskConfig;

/** The level of a score under `thresholds` (at or above each). */
export function riskLevelOf(score: number, thresholds: RiskConfig['thresholds']): RiskLevel {
  if (score >= thresholds.critical) return 'critical';
  if (score >= thresholds.high) return 'high';
  if (score >= thresholds.medium) return 'medium';
  return 'low';
}

/**
 * One weighed factor, its `detail` only when there is one, made storable here (a threat list's
 * source, a device's issues): the assessment goes into the audit record as it is.
 */
function addFactor(factors: RiskFactor[], config: RiskConfig, name: keyof RiskConfig['weights'], detail: string | undefined): void {
  const weight = config.weights[name];
  factors.push(detail === undefined ? { name, weight } : { name, weight, detail: storableText(detail) });
}

/**
 * Weigh the signals. Factors come in the seed's order (authentication, device, travel,
 * behaviour, IP); a signal that was not measured adds nothing — except the device, which the
 * seed counts as unknown when none is bound, so `device: {state: 'unknown'}` must be passed
 * for that (the caller decides whether device trust is in use).
 *
 * @example
 * scoreRisk({ authAgeSec: 13 * 3600, device: { state: 'unknown' } });
 * // { score: 70, level: 'high', factors: [{name: 'stale_authentication', weight: 30, …}, {name: 'unknown_device', weight: 40}] }
 */
export function scoreRisk(signals: RiskSignals, config: RiskConfig = DEFAULT_RISK_CONFIG): RiskAssessment {
  // No closures or spreads: this runs on every decision (and tsx wraps each closure made in `__name`).
  const factors: RiskFactor[] = [];
  const age = signals.authAgeSec;
  if (age !== undefined) {
    if (age > config.auth_age.stale_after_sec) addFactor(factors, config, 'stale_authentication', `${Math.floor(age)} s`);
    else if (age > config.auth_age.aging_after_sec) addFactor(factors, config, 'aging_authentication', `${Math.floor(age)} s`);
  }
  const device = signals.device;
  if (device?.state === 'unknown') addFactor(factors, config, 'unknown_device', device.refused);
  else if (device?.state === 'known' && !device.compliant) addFactor(factors, config, 'device_noncompliant', device.issues.join(', ').slice(0, 200));
  if (signals.impossibleTravel === true) addFactor(factors, config, 'impossible_travel', undefined);
  const anomaly = signals.anomalyScore;
  if (anomaly !== undefined) {
    if (anomaly > config.anomaly.high) addFactor(factors, config, 'high_behavioral_anomaly', anomaly.toFixed(2));
    else if (anomaly > config.anomaly.moderate) addFactor(factors, config, 'moderate_behavioral_anomaly', anomaly.toFixed(2));
  }
  if (signals.maliciousIp !== undefined) addFactor(factors, config, 'known_malicious_ip', signals.maliciousIp.source.slice(0, 100));
  let score = 0;
  for (const factor of factors) score += factor.weight;
  return { score, level: riskLevelOf(score, config.thresholds), factors };
}

const invalid = (message: string) => new VerityError('ERR_TENANT_INVALID', `settings.risk ${message}`);

/** A whole number in [0, max]. */
function bounded(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) throw invalid(`${name} must be a whole number from 0 to ${max}`);
  return value;
}

/**
 * `settings.risk`: a partial {@link RiskConfig} over the defaults (each group merged key by key),
 * checked: weights 0–1000, ages in seconds up to a year with aging ≤ stale, anomaly bounds in
 * [0, 1] with moderate ≤ high, thresholds ascending. Unknown keys are refused. Throws
 * ERR_TENANT_INVALID.
 */
export function parseRiskConfig(value: unknown): RiskConfig {
  if (!isPlainObject(value)) throw invalid('must be an object');
  const groups = ['weights', 'auth_age', 'anomaly', 'thresholds'] as const;
  for (const key of Object.keys(value)) if (!(groups as readonly string[]).includes(key)) throw invalid(`has an unknown key: ${key.slice(0, 40)}`);
  const group = <K extends (typeof groups)[number]>(name: K, check: (key: keyof RiskConfig[K] & string, v: unknown) => number): RiskConfig[K] => {
    const given = value[name];
    const base = DEFAULT_RISK_CONFIG[name] as unknown as Record<string, number>;
    if (given === undefined) return { ...base } as unknown as RiskConfig[K];
    if (!isPlainObject(given)) throw invalid(`.${name} must be an object`);
    const out: Record<string, number> = { ...base };
    for (const [key, v] of Object.entries(given)) {
      if (!Object.hasOwn(base, key)) throw invalid(`.${name} has an unknown key: ${key.slice(0, 40)}`);
      out[key] = check(key as keyof RiskConfig[K] & string, v);
    }
    return out as unknown as RiskConfig[K];
  };
  const config: RiskConfig = {
    weights: group('weights', (key, v) => bounded(v, `.weights.${key}`, 1000)),
    auth_age: group('auth_age', (key, v) => bounded(v, `.auth_age.${key}`, 365 * 86_400)),
    anomaly: group('anomaly', (key, v) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw invalid(`.anomaly.${key} must be a number from 0 to 1`);
      return v;
    }),
    thresholds: group('thresholds', (key, v) => bounded(v, `.thresholds.${key}`, 100_000)),
  };
  if (config.auth_age.aging_after_sec > config.auth_age.stale_after_sec) throw invalid('.auth_age.aging_after_sec must not exceed stale_after_sec');
  if (config.anomaly.moderate > config.anomaly.high) throw invalid('.anomaly.moderate must not exceed high');
  const { medium, high, critical } = config.thresholds;
  if (!(medium <= high && high <= critical)) throw invalid('.thresholds must ascend: medium ≤ high ≤ critical');
  return config;
}

/**
 * `settings.risk.devices`: `{claim?, max_patch_age_days?, certificate_authorities?}` over
 * {@link DEFAULT_DEVICE_TRUST}. The claim is a name of 1–256 characters; the age whole days from
 * 1 to 3650; the authorities 1–8 PEM certificates. Unknown keys are
 * refused. Throws ERR_TENANT_INVALID.
 */
export function parseDeviceTrustSettings(value: unknown): DeviceTrustSettings {
  if (!isPlainObject(value)) throw invalid('.devices must be an object');
  const unknown = Object.keys(value).find((key) => key !== 'claim' && key !== 'max_patch_age_days' && key !== 'certificate_authorities');
  if (unknown !== undefined) throw invalid(`.devices has an unknown key: ${unknown.slice(0, 40)}`);
  const { claim = DEFAULT_DEVICE_TRUST.claim, max_patch_age_days = DEFAULT_DEVICE_TRUST.max_patch_age_days, certificate_authorities: authorities } = value;
  if (typeof claim !== 'string' || claim === '' || claim.length > 256) throw invalid('.devices.claim must be a claim name of 1 to 256 characters');
  if (bounded(max_patch_age_days, '.devices.max_patch_age_days', 3650) < 1) throw invalid('.devices.max_patch_age_days must be a whole number from 1 to 3650');
  if (authorities === undefined) return { claim, max_patch_age_days: max_patch_age_days as number };
  // The shape here; that each is a CA certificate, the server checks (core parses no X.509).
  if (!Array.isArray(authorities) || authorities.length === 0 || authorities.length > 8 || authorities.some((pem) => typeof pem !== 'string' || pem.length > 16_384 || !pem.includes('-----BEGIN CERTIFICATE-----'))) {
    throw invalid('.devices.certificate_authorities must be 1 to 8 PEM CA certificates of at most 16 KiB each');
  }
  return { claim, max_patch_age_days: max_patch_age_days as number, certificate_authorities: [...(authorities as string[])] };
}
