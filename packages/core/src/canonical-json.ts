/**
 * Canonical JSON (sorted keys, no whitespace) so that equal values hash equally. The code is in
 * audit-hash.mjs, plain JavaScript shared with the threads that hash and write audit records.
 */
export { canonicalJson, hashCanonical, quoteJson, sha256Hex } from './audit-hash.mjs';
