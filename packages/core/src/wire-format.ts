/**
 * The wire formats every package checks alike — tenant ids, request ids, tier labels, plain
 * JSON objects — so the PDP, the SDK, the CLI and the store never disagree on what is valid.
 */

/** 1-63 lower-case letters, digits or dashes, starting with a letter or digit (a DNS label). */
const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * What the audit keeps as a request id (`X-Request-ID`, AuthZEN §10) and a PEP-made decision
 * id: a short token that cannot split a header or a log line.
 */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** A calling tier's label in the audit (`X-Verity-Tier`, the SDK's `tier`). */
const TIER_LABEL = /^[A-Za-z0-9._:/-]{1,64}$/;

/**
 * Whether `value` is a tenant id. The reserved `_system` tenant is not one: it cannot be created
 * or written through any API.
 *
 * @example
 * isTenantId('acme'); // true
 * isTenantId('_system'); // false
 */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID.test(value);
}

/**
 * Whether `value` is a request id (or decision id) the audit keeps as it is; anything else is
 * replaced by a fresh id or recorded as null.
 *
 * @example
 * isRequestId('req-42'); // true
 * isRequestId('a b'); // false
 */
export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

/**
 * Whether `value` is a tier label (`[A-Za-z0-9._:/-]{1,64}`).
 *
 * @example
 * isTierLabel('gateway'); // true
 */
export function isTierLabel(value: unknown): value is string {
  return typeof value === 'string' && TIER_LABEL.test(value);
}

/**
 * Whether `value` is a JSON object: not null, not an array.
 *
 * @example
 * isPlainObject({ a: 1 }); // true
 * isPlainObject([1]); // false
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `isStorableText(text)`: no NUL and no unpaired UTF-16 surrogate (PostgreSQL refuses the first,
 * UTF-8 cannot encode the second). `storableText(text)`: those characters replaced by U+FFFD,
 * for records that must be written whatever they quote (an audit record quoting a Cedar error
 * message). In audit-hash.mjs, plain JavaScript, so the audit writer's threads make every record
 * storable with the same code.
 *
 * @example
 * isStorableText('a\u0000b'); // false
 * storableText('a\u0000b'); // 'a\uFFFDb'
 */
export { isStorableText, storableText } from './audit-hash.mjs';
