/** Workload registration and join-token requests from untrusted JSON, checked once here. Unknown keys are errors. */
import { isPlainObject, VerityError } from '@verity/core';
import type { WorkloadAttestor } from '@verity/store';
import { MAX_JWT_SVID_TTL_SEC, MAX_X509_SVID_TTL_SEC, parseWorkloadSpiffeId } from '@verity/workload/core';

/** A registration as asked for, checked (the trust domain is checked by the caller, which knows it). */
export interface RegistrationInput {
  spiffeId: string;
  trustDomain: string;
  selectors: string[];
  attestor: WorkloadAttestor;
  x509TtlSec: number;
  jwtTtlSec: number;
}

export const DEFAULT_X509_TTL_SEC = 3600;
export const DEFAULT_JWT_TTL_SEC = 300;
/**
 * An X.509-SVID shorter-lived than this leaves its workload no time to renew (renewal is at half
 * the lifetime). Short lifetimes are for tests and drills; production keeps the hour default.
 */
export const MIN_X509_TTL_SEC = 5;
export const MIN_JWT_TTL_SEC = 10;
export const MAX_SELECTORS = 32;
/** A join token's lifetime: default and bounds, seconds. */
export const DEFAULT_JOIN_TOKEN_TTL_SEC = 300;
export const MAX_JOIN_TOKEN_TTL_SEC = 3600;

/** `type:value`: a lower-case type, then printable ASCII without spaces (`k8s:ns:payments`, `unix:uid:1000`). */
const SELECTOR = /^[a-z0-9_-]{1,32}:[\x21-\x7e]{1,256}$/;
/** The Kubernetes selectors the `k8s_psat` attestor derives from a service-account token. */
const K8S_SELECTOR_TYPES = ['k8s:ns:', 'k8s:sa:', 'k8s:pod-name:', 'k8s:pod-uid:'];
const REGISTRATION_KEYS = new Set(['spiffe_id', 'selectors', 'attestor', 'x509_ttl_sec', 'jwt_ttl_sec']);

function invalid(message: string): VerityError {
  return new VerityError('ERR_WORKLOAD_INVALID', message);
}

function ttl(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) throw invalid(`${name} must be a whole number of seconds from ${min} to ${max}`);
  return value as number;
}

function parseSelectors(value: unknown, attestor: WorkloadAttestor): string[] {
  if (value === undefined) value = [];
  if (!Array.isArray(value) || value.length > MAX_SELECTORS || value.some((s) => typeof s !== 'string' || !SELECTOR.test(s))) {
    throw invalid(`selectors must be at most ${MAX_SELECTORS} strings "type:value" (a lower-case type, then printable ASCII without spaces)`);
  }
  const selectors = value as string[];
  if (new Set(selectors).size !== selectors.length) throw invalid('selectors must not repeat');
  if (attestor === 'k8s_psat') {
    // Without both, any pod of a namespace (or any namespace's account of that name) would match.
    const count = (prefix: string) => selectors.filter((s) => s.startsWith(prefix)).length;
    if (count('k8s:ns:') !== 1 || count('k8s:sa:') !== 1) throw invalid('a k8s_psat registration needs exactly one k8s:ns:<namespace> and one k8s:sa:<service account> selector');
    const other = selectors.find((s) => !K8S_SELECTOR_TYPES.some((prefix) => s.startsWith(prefix)));
    if (other !== undefined) throw invalid(`a k8s_psat registration may only have selectors ${K8S_SELECTOR_TYPES.map((p) => `${p}…`).join(', ')}`);
  }
  return selectors;
}

/**
 * A registration body: `{spiffe_id, selectors?, attestor?, x509_ttl_sec?, jwt_ttl_sec?}`.
 * Throws ERR_SPIFFE_ID_INVALID for a malformed id, ERR_WORKLOAD_INVALID otherwise.
 *
 * @example
 * parseRegistration({ spiffe_id: 'spiffe://prod.example/api', attestor: 'k8s_psat', selectors: ['k8s:ns:prod', 'k8s:sa:api'] });
 */
export function parseRegistration(body: unknown): RegistrationInput {
  if (!isPlainObject(body)) throw invalid('the body must be a JSON object');
  const unknown = Object.keys(body).filter((key) => !REGISTRATION_KEYS.has(key));
  if (unknown.length > 0) throw invalid(`unknown keys: ${unknown.slice(0, 5).join(', ')}`);
  const id = parseWorkloadSpiffeId(body.spiffe_id);
  const attestor = body.attestor ?? 'join_token';
  if (attestor !== 'join_token' && attestor !== 'k8s_psat') throw invalid('attestor must be "join_token" or "k8s_psat"');
  return {
    spiffeId: id.id,
    trustDomain: id.trustDomain,
    selectors: parseSelectors(body.selectors, attestor),
    attestor,
    x509TtlSec: ttl(body.x509_ttl_sec, 'x509_ttl_sec', MIN_X509_TTL_SEC, MAX_X509_SVID_TTL_SEC, DEFAULT_X509_TTL_SEC),
    jwtTtlSec: ttl(body.jwt_ttl_sec, 'jwt_ttl_sec', MIN_JWT_TTL_SEC, MAX_JWT_SVID_TTL_SEC, DEFAULT_JWT_TTL_SEC),
  };
}

/** A join-token body: `{ttl_sec?}` (absent body: the default), in seconds. */
export function parseJoinTokenRequest(body: unknown): number {
  if (body === undefined || body === null) return DEFAULT_JOIN_TOKEN_TTL_SEC;
  if (!isPlainObject(body) || Object.keys(body).some((key) => key !== 'ttl_sec')) throw invalid('the body must be {ttl_sec?}');
  return ttl(body.ttl_sec, 'ttl_sec', 1, MAX_JOIN_TOKEN_TTL_SEC, DEFAULT_JOIN_TOKEN_TTL_SEC);
}
