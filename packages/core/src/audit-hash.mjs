// @ts-check
/**
 * Canonical JSON and the audit chain's hash, in plain JavaScript so that a worker thread (which
 * starts without a TypeScript loader) runs exactly the code the server and verification run:
 * the store's audit writer threads import it as `@verity/core/audit-hash`, and
 * canonical-json.ts and audit-chain.ts re-export it. Types: audit-hash.d.mts.
 */
import * as crypto from 'node:crypto';

/** The hash the first event of every tenant's chain links to. */
export const GENESIS_HASH = '0'.repeat(64);

/** NUL, or a UTF-16 surrogate without its pair: text neither PostgreSQL nor UTF-8 can hold. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/**
 * Whether `text` can be stored: no NUL and no unpaired UTF-16 surrogate (PostgreSQL refuses
 * the first, UTF-8 cannot encode the second).
 * @param {string} text
 * @returns {boolean}
 */
export function isStorableText(text) {
  return !UNSTORABLE.test(text);
}

/**
 * `text` with every character {@link isStorableText} refuses replaced by U+FFFD, for records
 * that must be written whatever they quote (an audit record quoting a Cedar error message).
 * @param {string} text
 * @returns {string}
 */
export function storableText(text) {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\uFFFD') : text;
}

/** Strings JSON.stringify writes as they are, between quotes: no quote, backslash, control character or surrogate. */
const PLAIN_STRING = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/**
 * `JSON.stringify(text)`, exactly (ECMA-262 §25.5.2.3 QuoteJSONString), with the common string
 * that needs no escaping written without the serializer: about half its cost, and keys are made
 * of such strings on every decision (the SDK's cache key, the entity uid key).
 * @param {string} text
 * @returns {string}
 */
export function quoteJson(text) {
  return PLAIN_STRING.test(text) ? `"${text}"` : JSON.stringify(text);
}

/**
 * Serialize `value` as `JSON.stringify` does (ECMA-262 §25.5.2.2 SerializeJSONProperty: `toJSON`,
 * boxed primitives unwrapped, non-finite numbers as null, `undefined`, functions and symbols
 * left out of objects and null in arrays), with object keys sorted at every depth, and a bigint
 * (a Long beyond 2^53, see json.ts) written as the JSON number it is. So the text is the
 * canonical form of exactly what `JSON.stringify` would send: a key made from it cannot tell
 * apart two values the wire carries alike, nor take alike two it carries differently.
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  return canonicalValue(value, '') ?? 'null';
}

/**
 * @param {unknown} given
 * @param {string} key the property name or array index `toJSON` is called with
 * @returns {string | undefined} undefined: left out (as JSON.stringify leaves it out)
 */
function canonicalValue(given, key) {
  // A plain object or array with no own toJSON (the common case: every key the SDK's cache
  // makes, every audit record): none of JSON.stringify's conversions apply to it itself.
  if (given !== null && typeof given === 'object') {
    const proto = Object.getPrototypeOf(given);
    if ((proto === Object.prototype || proto === null) && typeof (/** @type {{ toJSON?: unknown }} */ (given).toJSON) !== 'function') return objectText(/** @type {Record<string, unknown>} */ (given));
    if (proto === Array.prototype && typeof (/** @type {{ toJSON?: unknown }} */ (given).toJSON) !== 'function') return arrayText(/** @type {unknown[]} */ (given));
  }
  let value = given;
  if (value !== null && (typeof value === 'object' || typeof value === 'bigint')) {
    const toJSON = /** @type {{ toJSON?: unknown }} */ (value).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  if (value !== null && typeof value === 'object') {
    if (value instanceof Number) value = Number(value);
    else if (value instanceof String) value = String(value);
    else if (value instanceof Boolean || value instanceof BigInt) value = value.valueOf();
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return quoteJson(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      // undefined, a function, a symbol
      return undefined;
  }
  if (Array.isArray(value)) return arrayText(value);
  return objectText(/** @type {Record<string, unknown>} */ (value));
}

/**
 * @param {unknown[]} array
 * @returns {string}
 */
function arrayText(array) {
  let out = '[';
  for (let i = 0; i < array.length; i++) out += (i === 0 ? '' : ',') + (element(array[i], i) ?? 'null');
  return `${out}]`;
}

/**
 * An array element: its index is made into text (the key `toJSON` is called with) only when it
 * has a `toJSON`, which is rare.
 * @param {unknown} item
 * @param {number} index
 * @returns {string | undefined}
 */
function element(item, index) {
  switch (typeof item) {
    case 'string':
      return quoteJson(item);
    case 'boolean':
      return item ? 'true' : 'false';
    case 'number':
      return Number.isFinite(item) ? JSON.stringify(item) : 'null';
    default:
      return canonicalValue(item, String(index));
  }
}

/**
 * @param {Record<string, unknown>} record
 * @returns {string}
 */
function objectText(record) {
  const names = Object.keys(record);
  // Default sort compares UTF-16 code units: the same order on every platform.
  if (names.length > 1) names.sort();
  let out = '{';
  for (const name of names) {
    const item = record[name];
    const text = typeof item === 'string' ? quoteJson(item) : canonicalValue(item, name);
    if (text === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${quoteJson(name)}:${text}`;
  }
  return `${out}}`;
}

/**
 * SHA-256 of `text` (UTF-8), hex. Node's one-shot `crypto.hash` (Node 20.12+: about 2.4× faster
 * than a `createHash` object for a token-sized input, which every cached token check pays), else
 * `createHash`.
 * @type {(text: string) => string}
 */
export const sha256Hex =
  typeof (/** @type {{ hash?: unknown }} */ (crypto).hash) === 'function'
    ? (text) => /** @type {{ hash: (algorithm: string, data: string, encoding: string) => string }} */ (/** @type {unknown} */ (crypto)).hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * sha256 of the canonical JSON of `value`, hex.
 * @param {unknown} value
 * @returns {string}
 */
export function hashCanonical(value) {
  return sha256Hex(canonicalJson(value));
}

/**
 * hash = sha256(canonical JSON of {seq, prevHash, record}). Every field of the record is
 * covered, so editing any of them, removing an event (seq gap, prevHash mismatch) or
 * reordering events (prevHash mismatch) is detected by verifyAuditChain (audit-chain.ts).
 *
 * Fields added after the first release (`observed`, `reportedBy`, `caller`, `txn`, `actors`, `risk`, `input`) join the hashed record only
 * when set: canonical JSON drops absent keys, so a record written before they existed hashes
 * exactly as it did then and old chains verify unchanged, while a record that has one cannot
 * lose it without its hash changing.
 * @param {import('./types.js').DecisionRecord} record
 * @param {number} seq
 * @param {string} prevHash
 * @returns {string}
 */
export function computeAuditHash(record, seq, prevHash) {
  const { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs } = record;
  const observed = record.observed === true ? true : undefined;
  const { reportedBy, caller, txn, actors, risk, input } = record;
  return hashCanonical({
    seq,
    prevHash,
    record: { decisionId, time, tenant, requestId, tier, principal, action, resource, decision, reasons, errors, policyVersion, latencyUs, observed, reportedBy, caller, txn, actors, risk, input },
  });
}
