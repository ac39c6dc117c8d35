/**
 * Tenant settings from untrusted JSON: one validator for creation and for updates, so a
 * setting means the same thing however it was given. Unknown keys are errors. And what
 * changed between two versions of them.
 */
import { canonicalJson, isPlainObject, isTenantId, parseActivitySettings, parseDeviceTrustSettings, parseLocationTable, parseRiskConfig, VerityError, type TenantSettings } from '@verity/core';
import { validateSourceUrl } from '@verity/identity';
import { assertTrustDomain, deviceAuthoritiesProblem } from '@verity/workload/core';
import { routeTemplatesProblem } from './gateway/route-match.js';

/** Every setting a tenant may have (docs/http-api.md, "Tenant settings"). */
export const SETTING_KEYS: ReadonlySet<string> = new Set(['typeMapping', 'actionType', 'stsPrincipalType', 'gatewayRoutes', 'gatewayAudience', 'gatewayRouteAudiences', 'validateRequests', 'recordDecisionInputs', 'trust_domain', 'federated_tenants', 'k8s_psat', 'risk', 'reasons']);

/** A settings change: keys to set (each replaces that setting whole) and keys to remove. */
export interface SettingsChange {
  set: TenantSettings;
  remove: string[];
}

function invalid(message: string): VerityError {
  return new VerityError('ERR_TENANT_INVALID', message);
}

function typeName(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 256) throw invalid(`settings.${name} must be a non-empty string of at most 256 characters`);
  return value;
}

function unknownKeys(value: Record<string, unknown>): void {
  const unknown = Object.keys(value).filter((key) => !SETTING_KEYS.has(key));
  if (unknown.length > 0) throw invalid(`unknown settings: ${unknown.slice(0, 5).join(', ')}`);
}

/**
 * Settings as given at tenant creation (absent means none), or ERR_TENANT_INVALID.
 *
 * @example
 * parseTenantSettings({ gatewayRoutes: ['/todos/{id}'], validateRequests: true });
 */
export function parseTenantSettings(value: unknown): TenantSettings {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalid('settings must be an object');
  unknownKeys(value);
  const { typeMapping, actionType, stsPrincipalType, gatewayRoutes, gatewayAudience, gatewayRouteAudiences, validateRequests, recordDecisionInputs, trust_domain, federated_tenants, k8s_psat, risk, reasons } = value;
  const settings: TenantSettings = {};
  if (typeMapping !== undefined) {
    if (!isPlainObject(typeMapping) || Object.values(typeMapping).some((v) => typeof v !== 'string' || v === '')) {
      throw invalid('settings.typeMapping must map strings to non-empty strings');
    }
    settings.typeMapping = { ...(typeMapping as Record<string, string>) };
  }
  if (actionType !== undefined) settings.actionType = typeName(actionType, 'actionType');
  if (stsPrincipalType !== undefined) settings.stsPrincipalType = typeName(stsPrincipalType, 'stsPrincipalType');
  if (gatewayRoutes !== undefined) {
    const problem = routeTemplatesProblem(gatewayRoutes);
    if (problem) throw invalid(`settings.gatewayRoutes ${problem}`);
    settings.gatewayRoutes = [...(gatewayRoutes as string[])];
  }
  if (gatewayAudience !== undefined) {
    // The same bound as the evaluation API's `audience`.
    if (typeof gatewayAudience !== 'string' || gatewayAudience === '' || gatewayAudience.length > 512) throw invalid('settings.gatewayAudience must be a non-empty string of at most 512 characters');
    settings.gatewayAudience = gatewayAudience;
  }
  if (gatewayRouteAudiences !== undefined) {
    // Keys are route templates, checked as gatewayRoutes are. One that is not in gatewayRoutes
    // never matches, and a path no route matches is denied anyway.
    if (!isPlainObject(gatewayRouteAudiences)) throw invalid('settings.gatewayRouteAudiences must map route templates to audiences');
    const problem = routeTemplatesProblem(Object.keys(gatewayRouteAudiences));
    if (problem) throw invalid(`settings.gatewayRouteAudiences keys: ${problem}`);
    for (const audience of Object.values(gatewayRouteAudiences)) {
      if (typeof audience !== 'string' || audience === '' || audience.length > 512) throw invalid('settings.gatewayRouteAudiences values must be non-empty strings of at most 512 characters');
    }
    settings.gatewayRouteAudiences = { ...(gatewayRouteAudiences as Record<string, string>) };
  }
  if (validateRequests !== undefined) {
    if (typeof validateRequests !== 'boolean') throw invalid('settings.validateRequests must be true or false');
    settings.validateRequests = validateRequests;
  }
  if (recordDecisionInputs !== undefined) {
    if (typeof recordDecisionInputs !== 'boolean') throw invalid('settings.recordDecisionInputs must be true or false');
    settings.recordDecisionInputs = recordDecisionInputs;
  }
  if (trust_domain !== undefined) {
    try {
      settings.trust_domain = assertTrustDomain(trust_domain);
    } catch {
      throw invalid('settings.trust_domain must be a SPIFFE trust domain name: lower-case letters, digits, ".", "-" and "_", at most 255 characters');
    }
  }
  if (federated_tenants !== undefined) settings.federated_tenants = parseFederatedTenants(federated_tenants);
  if (k8s_psat !== undefined) settings.k8s_psat = parseK8sPsat(k8s_psat);
  if (risk !== undefined) settings.risk = parseRiskSettings(risk);
  if (reasons !== undefined) settings.reasons = parseReasonSettings(reasons);
  return settings;
}

/** The most trust domains one tenant federates with. */
const MAX_FEDERATED = 32;

/** `federated_tenants`: distinct tenant ids, at most {@link MAX_FEDERATED}. */
function parseFederatedTenants(value: unknown): string[] {
  const message = `settings.federated_tenants must be a list of at most ${MAX_FEDERATED} distinct tenant ids`;
  if (!Array.isArray(value) || value.length > MAX_FEDERATED || !value.every(isTenantId) || new Set(value).size !== value.length) throw invalid(message);
  return [...(value as string[])];
}

/** `risk.devices`, with each device certificate authority checked to be one CA certificate. */
function parseDevices(value: unknown): ReturnType<typeof parseDeviceTrustSettings> {
  const devices = parseDeviceTrustSettings(value);
  const problem = devices.certificate_authorities === undefined ? null : deviceAuthoritiesProblem(devices.certificate_authorities);
  if (problem !== null) throw invalid(`settings.risk.devices.certificate_authorities: ${problem}`);
  return devices;
}

/** The longest default reason text, in characters. */
const MAX_REASON_TEXT = 500;

/** `reasons`: `{default_user?, default_admin?}`, each a non-empty text of at most {@link MAX_REASON_TEXT} characters. */
function parseReasonSettings(value: unknown): NonNullable<TenantSettings['reasons']> {
  if (!isPlainObject(value)) throw invalid('settings.reasons must be an object');
  const reasons: NonNullable<TenantSettings['reasons']> = {};
  for (const [key, text] of Object.entries(value)) {
    if (key !== 'default_user' && key !== 'default_admin') throw invalid(`settings.reasons has an unknown key: ${key.slice(0, 40)}`);
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_REASON_TEXT) throw invalid(`settings.reasons.${key} must be a non-empty text of at most ${MAX_REASON_TEXT} characters`);
    reasons[key] = text.trim();
  }
  return reasons;
}

/** `risk`: `{enabled, devices?, locations?, activity?, …RiskConfig}`, the configuration checked and completed with the defaults. */
function parseRiskSettings(value: unknown): NonNullable<TenantSettings['risk']> {
  if (!isPlainObject(value)) throw invalid('settings.risk must be an object');
  const { enabled, devices, locations, activity, ...config } = value;
  if (typeof enabled !== 'boolean') throw invalid('settings.risk.enabled must be true or false');
  return {
    enabled,
    ...parseRiskConfig(config),
    ...(devices === undefined ? {} : { devices: parseDevices(devices) }),
    ...(locations === undefined ? {} : { locations: parseLocationTable(locations) }),
    ...(activity === undefined ? {} : { activity: parseActivitySettings(activity) }),
  };
}

/** `k8s_psat`: `{issuer, audience}`, the issuer an https URL (http on loopback only) whose discovery names its keys. */
function parseK8sPsat(value: unknown): { issuer: string; audience: string } {
  if (!isPlainObject(value) || Object.keys(value).some((key) => key !== 'issuer' && key !== 'audience')) throw invalid('settings.k8s_psat must be {issuer, audience}');
  const { issuer, audience } = value;
  try {
    if (typeof issuer !== 'string' || issuer.length > 1024) throw new Error('too long');
    validateSourceUrl(issuer, 'issuer');
  } catch {
    throw invalid('settings.k8s_psat.issuer must be an https URL of at most 1024 characters (http only on loopback), without credentials or fragment');
  }
  if (typeof audience !== 'string' || audience === '' || audience.length > 512) throw invalid('settings.k8s_psat.audience must be a non-empty string of at most 512 characters');
  return { issuer, audience };
}

/**
 * A settings update (a JSON merge patch one level deep, like RFC 7396): a key with a value
 * replaces that setting whole, validated exactly as at creation; a key with `null` removes it;
 * keys not named stay as they are.
 *
 * @example
 * parseSettingsChange({ validateRequests: true, gatewayRoutes: null });
 * // { set: { validateRequests: true }, remove: ['gatewayRoutes'] }
 */
export function parseSettingsChange(value: unknown): SettingsChange {
  if (!isPlainObject(value)) throw invalid('settings must be an object');
  unknownKeys(value);
  const remove = Object.keys(value).filter((key) => value[key] === null);
  const given = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
  return { set: parseTenantSettings(given), remove };
}

/** One setting that differs between two versions of a tenant's settings. */
export interface SettingsChangeEntry {
  key: string;
  kind: 'added' | 'removed' | 'changed';
  /** The value in the older version (absent when `added`). */
  before?: unknown;
  /** The value in the newer version (absent when `removed`). */
  after?: unknown;
}

/**
 * The settings that differ from `before` to `after`, by key (sorted): each whole value on both
 * sides, as settings are replaced whole. Values are compared as canonical JSON, so key order
 * inside a value does not count as a change.
 *
 * @example
 * diffSettings({ validateRequests: false, actionType: 'A' }, { validateRequests: true });
 * // [{ key: 'actionType', kind: 'removed', before: 'A' },
 * //  { key: 'validateRequests', kind: 'changed', before: false, after: true }]
 */
export function diffSettings(before: TenantSettings, after: TenantSettings): SettingsChangeEntry[] {
  const old = before as Record<string, unknown>;
  const now = after as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])].sort();
  const changes: SettingsChangeEntry[] = [];
  for (const key of keys) {
    const [was, is] = [old[key], now[key]];
    if (was === undefined) changes.push({ key, kind: 'added', after: is });
    else if (is === undefined) changes.push({ key, kind: 'removed', before: was });
    else if (canonicalJson(was) !== canonicalJson(is)) changes.push({ key, kind: 'changed', before: was, after: is });
  }
  return changes;
}
