/**
 * The risk engine's one pass over a decision request, shared by the PDP and a PEP deciding from
 * its bundle: the signals gathered (each where it lives) are weighed ({@link scoreRisk}) into
 * `context.risk`, which only this sets, and into the assessment the audit records.
 */
import { parseIpAddress, type IpAddress } from './cidr.js';
import { VerityError } from './errors.js';
import { locationTableResolver, type LocationEntry, type LocationResolver } from './location-table.js';
import { isDeviceId } from './device-posture.js';
import { withEntry } from './records.js';
import { scoreRisk, type DeviceTrustSettings, type GeoLocation, type RiskAssessment, type RiskConfig, type RiskFactor, type RiskSignals } from './risk.js';
import type { AuthenticationFacts, DecisionRequest } from './decision-pipeline.js';
import type { CedarValue, RiskContext, RiskOutcome, TenantSettings } from './types.js';

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
  const acr = acrInForce(authentication, override);
  // Property by property, no spreads: this runs on every decision of a tenant with the engine on.
  const context: AuthenticationContext = { amr: authentication.amr.length === 0 ? [] : [...new Set(authentication.amr)].sort() };
  if (acr !== null && acr !== '') context.acr = acr;
  if (authTime !== null) context.age_sec = Math.max(0, Math.floor(nowMs / 1000) - authTime);
  return context;
}

/** The token's `acr`, or a later assurance level that replaces it (see {@link authenticationContextOf}). */
function acrInForce(authentication: AuthenticationFacts, override: AssuranceOverride | undefined): string | null {
  const { authTime } = authentication;
  return override !== undefined && (authTime === null || override.atMs > authTime * 1000) ? override.acr : authentication.acr;
}

/** Whether the tenant's risk engine is on (`settings.risk.enabled`). */
export function riskEnabled(settings: TenantSettings): boolean {
  return settings.risk?.enabled === true;
}

/**
 * Refuse a request that names `context.risk` itself (ERR_DECISION_INVALID_REQUEST): how risky a
 * request is, is never the caller's to say. Only for tenants whose risk engine is on.
 */
export function refuseCallerRisk(request: DecisionRequest): void {
  const context = request.request.context as Record<string, unknown> | undefined;
  if (context !== undefined && context !== null && Object.hasOwn(context, 'risk')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.risk is set by the PDP\'s risk engine, never by the request');
  }
}

/** The device id the verified token's `claim` names, or null (no token, no claim, or not a device id). */
export function deviceIdOf(request: DecisionRequest, claim: string): string | null {
  const claims = request.kind === 'authzen' ? request.token?.claims : undefined;
  const value = claims !== undefined && Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  return isDeviceId(value) ? value : null;
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

/** Each tenant table's resolver, built once per settings object (a table holds up to 10,000 ranges). */
const tableResolvers = new WeakMap<readonly LocationEntry[], LocationResolver>();

/** Where the tenant's own location table (`settings.risk.locations`) puts an address, or null. */
export function tableLocationOf(settings: TenantSettings, address: IpAddress): GeoLocation | null {
  const table = settings.risk?.locations;
  if (table === undefined) return null;
  let resolver = tableResolvers.get(table);
  if (resolver === undefined) tableResolvers.set(table, (resolver = locationTableResolver(table)));
  return resolver.locate(address);
}

/** `context.risk.location`: `{country?, city?, vpn?}` of a location (no coordinates: the travel check has them, not Cedar). */
function placeOf(location: GeoLocation): { country?: string; city?: string; vpn?: boolean } {
  const place: { country?: string; city?: string; vpn?: boolean } = {};
  if (location.country !== undefined) place.country = location.country;
  if (location.city !== undefined) place.city = location.city;
  if (location.vpn !== undefined) place.vpn = location.vpn;
  return place;
}

/** Most certificates in a device certificate chain a PEP forwards (leaf and intermediates). */
const MAX_DEVICE_CHAIN = 3;
/** One PEM certificate block, base64 and line breaks inside. */
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----/g;

/**
 * The device certificate chain a PEP's TLS handshake presented (PEM, leaf first): a gateway's
 * `X-Client-Certificate` (`deviceCertificate`), else the request's `context.device_certificate`.
 * Null when neither is given. One that is not 1–3 PEM certificates (at most 32 KiB) throws
 * ERR_DECISION_INVALID_REQUEST (fail closed: not "no certificate").
 */
export function deviceCertificateOf(request: DecisionRequest): string[] | null {
  let given: unknown = request.kind === 'authzen' ? request.deviceCertificate : undefined;
  if (given === undefined) {
    const context = request.request.context as Record<string, unknown> | undefined | null;
    if (context === undefined || context === null || !Object.hasOwn(context, 'device_certificate')) return null;
    given = context['device_certificate'];
  }
  const pem = typeof given === 'string' && given.length <= 32_768 ? given : '';
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  // Certificates and the whitespace between them, nothing else (no text, no key, no other block).
  const onlyCertificates = pem.replace(PEM_CERTIFICATE, '').trim() === '';
  if (blocks.length === 0 || blocks.length > MAX_DEVICE_CHAIN || !onlyCertificates) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', `context.device_certificate must be 1 to ${MAX_DEVICE_CHAIN} PEM certificates and nothing else, the leaf first`);
  }
  return blocks;
}

/** Checks a device certificate chain against a tenant's authorities: the device id, or a throw. */
export type DeviceCertificateVerifier = (chain: readonly string[], authorities: readonly string[], nowMs: number) => { deviceId: string; expiresAtMs: number };

/**
 * The device a request is bound to under the tenant's device trust. A tenant that names
 * `certificate_authorities` binds devices by certificate only (a device proves it holds its key
 * in the PEP's TLS handshake; a token's claim proves nothing of the kind): a chain the PEP
 * forwarded that verifies names the device (its Subject CN); one that does not verify binds none
 * (`refused`, why); no certificate binds none; `validUntilMs`: the binding lapses then (the
 * chain's earliest notAfter). Otherwise the token's claim names it.
 */
export function boundDeviceOf(request: DecisionRequest, trust: DeviceTrustSettings, nowMs: number, verify?: DeviceCertificateVerifier): { id: string | null; refused?: string; validUntilMs?: number } {
  const chain = deviceCertificateOf(request);
  if (trust.certificate_authorities === undefined) return { id: deviceIdOf(request, trust.claim) };
  if (chain === null) return { id: null };
  if (verify === undefined) return { id: null, refused: 'device certificates are not checked here' };
  try {
    const verified = verify(chain, trust.certificate_authorities, nowMs);
    // The binding ends with the chain's validity: a decision on it is not reused past that.
    return { id: verified.deviceId, validUntilMs: verified.expiresAtMs };
  } catch (error) {
    return { id: null, refused: error instanceof Error ? error.message.slice(0, 120) : 'device certificate refused' };
  }
}

/**
 * The device signal of a bound device: `unknown` when a certificate was refused, else `signal`
 * (what the registry says of the bound id), its reuse bounded by the certificate's validity too.
 */
export function certifiedDeviceSignal(bound: ReturnType<typeof boundDeviceOf>, signal: NonNullable<RiskSignals['device']>): NonNullable<RiskSignals['device']> {
  if (bound.refused !== undefined) return { state: 'unknown', refused: bound.refused };
  if (signal.state !== 'known' || bound.validUntilMs === undefined) return signal;
  return withEntry(signal, 'validUntilMs', Math.min(signal.validUntilMs ?? Number.POSITIVE_INFINITY, bound.validUntilMs));
}

/** Seconds since the verified token's `auth_time` (OIDC Core §2), or undefined when it has none. */
export function authAgeOf(request: DecisionRequest, nowMs: number): number | undefined {
  const authTime = request.kind === 'authzen' ? request.token?.authentication?.authTime : undefined;
  return authTime === undefined || authTime === null ? undefined : Math.max(0, Math.floor(nowMs / 1000) - authTime);
}

/**
 * The earliest time (epoch ms) the risk of this request changes by itself: the authentication
 * age crossing the next threshold, a device's patch level ageing out, a matched threat list
 * expiring. Changes pushed by someone
 * (a posture report, a revocation) are not counted here: they invalidate caches through the
 * change feed. Undefined when nothing measured ages.
 */
export function validUntilOf(signals: RiskSignals, config: Pick<RiskConfig, 'auth_age'>, nowMs: number): number | undefined {
  let earliest = Number.POSITIVE_INFINITY;
  const age = signals.authAgeSec;
  if (age !== undefined) {
    // scoreRisk counts an age strictly over a threshold: it changes at threshold + 1 s.
    const authTimeSec = Math.floor(nowMs / 1000) - age;
    const { aging_after_sec: aging, stale_after_sec: stale } = config.auth_age;
    if (age <= aging) earliest = Math.min(earliest, (authTimeSec + aging + 1) * 1000);
    if (age <= stale) earliest = Math.min(earliest, (authTimeSec + stale + 1) * 1000);
  }
  if (signals.device?.state === 'known' && signals.device.validUntilMs !== undefined) earliest = Math.min(earliest, signals.device.validUntilMs);
  if (signals.maliciousIp?.expiresAtMs !== undefined) earliest = Math.min(earliest, signals.maliciousIp.expiresAtMs);
  return earliest === Number.POSITIVE_INFINITY ? undefined : earliest;
}

/**
 * Weigh `signals` under the tenant's configuration into the decision's `context.risk`
 * (`{score, level, factors}`, which wins over the request's context and the token's
 * claim-mapped entries), with `location` (`{country?, city?, vpn?}`) when the client IP was
 * located and `authentication` when a verified token says how its subject authenticated
 * ({@link authenticationContextOf}; `assurance`: a later assurance level for the subject); and
 * into the assessment the audit records. Empty when the engine is off. Call
 * {@link refuseCallerRisk} first (before gathering signals).
 *
 * The `context.risk` entries are interned ({@link RiskContext}): frozen, and the same object for
 * the same configuration, factors, authentication facts (the same verified token's, in the same
 * second, under the same acr) and location. When the token's authentication is the only signal,
 * the whole outcome is: the decisions of one token in one second share it, assessment included
 * (frozen: a record takes it as its `risk`, and nothing may change it).
 */
export function assessRisk(settings: TenantSettings, request: DecisionRequest, signals: RiskSignals, nowMs: number, assurance?: AssuranceOverride): RiskOutcome {
  const config = settings.risk;
  if (config === undefined || !config.enabled) return {};
  const authentication = request.kind === 'authzen' ? request.token?.authentication : undefined;
  // The token's authentication alone (most decisions): the whole outcome follows from the
  // configuration, the token's facts, the second and the acr in force, so it is made once per
  // second for a token and shared (frozen) by its decisions.
  const tokenOnly = authentication !== undefined && signals.device === undefined && signals.location === undefined && signals.maliciousIp === undefined && signals.impossibleTravel === undefined && signals.anomalyScore === undefined;
  if (!tokenOnly) return weigh(config, signals, authentication, nowMs, assurance);
  const second = Math.floor(nowMs / 1000);
  const acr = acrInForce(authentication, assurance);
  const known = tokenOutcomes.get(authentication);
  if (known !== undefined && known.config === config && known.second === second && known.acr === acr && known.authAgeSec === signals.authAgeSec) return known.outcome;
  const outcome = freezeOutcome(weigh(config, signals, authentication, nowMs, assurance));
  tokenOutcomes.set(authentication, { config, second, acr, authAgeSec: signals.authAgeSec, outcome });
  return outcome;
}

/** The last outcome made for one verified token's facts from its authentication alone, and what it was made of. */
interface TokenOutcome {
  config: RiskConfig;
  second: number;
  acr: string | null;
  authAgeSec: number | undefined;
  outcome: RiskOutcome;
}

const tokenOutcomes = new WeakMap<AuthenticationFacts, TokenOutcome>();

/** An outcome shared by decisions: its assessment frozen through (records share it as their `risk`). */
function freezeOutcome(outcome: RiskOutcome): RiskOutcome {
  const assessment = outcome.assessment;
  if (assessment !== undefined) {
    for (const factor of assessment.factors) Object.freeze(factor);
    Object.freeze(assessment.factors);
    Object.freeze(assessment);
  }
  return Object.freeze(outcome);
}

/** {@link assessRisk}'s weighing, for an enabled configuration. */
function weigh(config: RiskConfig, signals: RiskSignals, authentication: AuthenticationFacts | undefined, nowMs: number, assurance: AssuranceOverride | undefined): RiskOutcome {
  const assessment = scoreRisk(signals, config);
  const context = internedRiskContext(
    internedBase(config, assessment),
    authentication === undefined ? NONE : internedAuthentication(authentication, nowMs, assurance),
    signals.location === undefined ? NONE : internedPlace(signals.location),
  );
  const validUntil = validUntilOf(signals, config, nowMs);
  return validUntil === undefined ? { context, assessment } : { context, assessment, validUntilMs: validUntil };
}

// ---- interned `context.risk` entries --------------------------------------------------------------

/** Stands for a part an entry does not have (no token, no location). */
const NONE: Readonly<Record<string, CedarValue>> = Object.freeze({});

/** `{score, level, factors}` of one configuration and factor list, and the entries made of it. */
interface RiskBase {
  score: number;
  level: string;
  factors: readonly string[];
  /** Entries by authentication part, then by location part (NONE when absent). */
  entries: WeakMap<object, WeakMap<object, RiskContext>>;
}

const bases = new WeakMap<RiskConfig, Map<string, RiskBase>>();

/** The base of an assessment: per configuration object, by its factor names (score and level follow from them; compared anyway). */
function internedBase(config: RiskConfig, assessment: RiskAssessment): RiskBase {
  let byFactors = bases.get(config);
  if (byFactors === undefined) bases.set(config, (byFactors = new Map()));
  const { factors } = assessment;
  // Factor names are scoreRisk's own identifiers (no commas).
  const key = factors.length === 0 ? '' : factors.length === 1 ? (factors[0] as RiskFactor).name : factors.map((factor) => factor.name).join(',');
  let base = byFactors.get(key);
  if (base === undefined || base.score !== assessment.score || base.level !== assessment.level) {
    base = { score: assessment.score, level: assessment.level, factors: Object.freeze(factors.map((factor) => factor.name)), entries: new WeakMap() };
    byFactors.set(key, base);
  }
  return base;
}

/** The last `authentication` part made of one verified token's facts: its second and acr. */
interface AuthenticationPart {
  second: number;
  acr: string | null;
  value: Readonly<Record<string, CedarValue>>;
}

const authenticationParts = new WeakMap<AuthenticationFacts, AuthenticationPart>();

function internedAuthentication(authentication: AuthenticationFacts, nowMs: number, assurance: AssuranceOverride | undefined): Readonly<Record<string, CedarValue>> {
  const second = Math.floor(nowMs / 1000);
  const acr = acrInForce(authentication, assurance);
  const known = authenticationParts.get(authentication);
  if (known !== undefined && known.second === second && known.acr === acr) return known.value;
  const made = authenticationContextOf(authentication, nowMs, assurance);
  Object.freeze(made.amr);
  const value = Object.freeze(made) as Readonly<Record<string, CedarValue>>;
  authenticationParts.set(authentication, { second, acr, value });
  return value;
}

const places = new WeakMap<GeoLocation, Readonly<Record<string, CedarValue>>>();

function internedPlace(location: GeoLocation): Readonly<Record<string, CedarValue>> {
  let place = places.get(location);
  if (place === undefined) places.set(location, (place = Object.freeze(placeOf(location))));
  return place;
}

/** The one entry of a base, authentication part and location part (each NONE when absent). */
function internedRiskContext(base: RiskBase, authentication: Readonly<Record<string, CedarValue>>, place: Readonly<Record<string, CedarValue>>): RiskContext {
  let byPlace = base.entries.get(authentication);
  if (byPlace === undefined) base.entries.set(authentication, (byPlace = new WeakMap()));
  let entry = byPlace.get(place);
  if (entry === undefined) {
    const made: Record<string, CedarValue> = { score: base.score, level: base.level, factors: base.factors as string[] };
    if (authentication !== NONE) made['authentication'] = authentication as Record<string, CedarValue>;
    if (place !== NONE) made['location'] = place as Record<string, CedarValue>;
    byPlace.set(place, (entry = Object.freeze(made)));
  }
  return entry;
}
