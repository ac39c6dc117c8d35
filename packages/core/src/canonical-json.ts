/**
 * Canonical JSON (sorted keys, no whitespace) so that equal values hash equally. The code is in
 * audit-hash.mjs, plain JavaScript shared with the threads that hash and write audit records.
 */
export { canonicalJson, hashCanonical, quoteJson } from './audit-hash.mjs';
