/** Types of audit-hash.mjs (plain JavaScript, shared with the store's audit writer threads). */
import type { DecisionRecord } from './types.js';

/** The hash the first event of every tenant's chain links to. */
export declare const GENESIS_HASH: string;
/** Whether `text` can be stored: no NUL and no unpaired UTF-16 surrogate. */
export declare function isStorableText(text: string): boolean;
/** `text` with every character isStorableText refuses replaced by U+FFFD. */
export declare function storableText(text: string): string;
/** `JSON.stringify(text)`, exactly, without the serializer for a string that needs no escaping. */
export declare function quoteJson(text: string): string;
/** Serialize `value` with object keys sorted at every depth. */
export declare function canonicalJson(value: unknown): string;
/** SHA-256 of `text` (UTF-8), hex (Node's one-shot `crypto.hash` where it exists). */
export declare function sha256Hex(text: string): string;
/** sha256 of the canonical JSON of `value`, hex. */
export declare function hashCanonical(value: unknown): string;
/**
 * hash = sha256(canonical JSON of {seq, prevHash, record}); see audit-hash.mjs for which fields
 * are covered and how fields added later keep old chains verifying.
 */
export declare function computeAuditHash(record: DecisionRecord, seq: number, prevHash: string): string;
