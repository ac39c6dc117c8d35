/**
 * Data-tier receipts: a short-lived statement, signed by the PDP with a per-tenant HMAC key,
 * that one decision allowed a principal an action on a resource. SQL functions installed in the
 * application's database (packages/data-tier) verify it and admit only that tenant's rows.
 * Format: a compact JWS (RFC 7515 §7.1) carrying a JWT claims set (RFC 7519), HS256.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

/** The JOSE `typ` of a receipt: never confused with an access token, a bundle or a checkpoint. */
export const RECEIPT_TYPE = 'verity-receipt+jwt';

/** What a receipt states. Every claim is required (the data tier refuses a receipt without one). */
export interface ReceiptClaims {
  /** The tenant's issuer URL (`<public base>/tenants/<tenant>`); informational. */
  iss: string;
  tenant: string;
  /** The principal's Cedar UID text, `Type::"id"` with the id JSON-escaped (formatEntityUid). */
  principal: string;
  /** The action's id only (`read`), not its type. */
  action: string;
  resource_type: string;
  resource_id: string;
  /** The decision id, which is also its audit record's id. */
  decision_id: string;
  /** The policy version that decided. */
  policy_version: number;
  /** Equals `decision_id`. */
  jti: string;
  /** NumericDate seconds (RFC 7519 §2). */
  iat: number;
  /** NumericDate seconds; `exp - iat` is the receipt's lifetime. */
  exp: number;
}

/** A receipt-signing key: `kid` names it in the header, `secret` is the 32-byte HMAC key. */
export interface ReceiptKey {
  kid: string;
  secret: Uint8Array;
}

/** Bytes in a receipt secret (HMAC-SHA-256 takes a key of the hash's size, RFC 2104 §3). */
export const RECEIPT_SECRET_BYTES = 32;

/** A new receipt key: a random 16-byte kid (base64url, unique across tenants) and a random 32-byte secret. */
export function generateReceiptKey(): ReceiptKey {
  return { kid: randomBytes(16).toString('base64url'), secret: new Uint8Array(randomBytes(RECEIPT_SECRET_BYTES)) };
}

/**
 * Sign `claims` as a receipt: protected header exactly `{"alg":"HS256","typ":"verity-receipt+jwt","kid":…}`
 * (RFC 7515 §4.1; the data tier compares it byte for byte), payload the claims in the given order.
 * Throws TypeError for a secret of the wrong size.
 */
export async function signReceipt(claims: ReceiptClaims, key: ReceiptKey): Promise<string> {
  if (key.secret.length !== RECEIPT_SECRET_BYTES) throw new TypeError(`signReceipt: the secret must be ${RECEIPT_SECRET_BYTES} bytes`);
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: RECEIPT_TYPE, kid: key.kid }).sign(key.secret);
}
