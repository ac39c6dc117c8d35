/** Data-tier receipts as the SDK sees them: opaque strings from the PDP, read only for their expiry. */
import { decodeJwt } from 'jose';
import { EnforceError } from './errors.js';
import type { Decision } from './types.js';

/**
 * A cached receipt is handed on only while it has more than this left (ms): enough for the
 * handler to open its transaction and run its statements before the data tier rejects it.
 */
export const RECEIPT_MIN_REMAINING_MS = 1000;

/**
 * The receipt and its expiry (epoch ms, the `exp` claim) of an answer's `context.verity_receipt`,
 * or undefined when it is not a JWT with a numeric `exp`. Decoded, not verified: the SDK holds no
 * receipt key (the data tier verifies it), and the expiry only bounds how long it is reused.
 */
export function readReceipt(value: unknown): Pick<Decision, 'receipt' | 'receiptExpiresAt'> | undefined {
  if (typeof value !== 'string') return undefined;
  let exp: unknown;
  try {
    ({ exp } = decodeJwt(value));
  } catch {
    return undefined;
  }
  return typeof exp === 'number' && Number.isFinite(exp) ? { receipt: value, receiptExpiresAt: exp * 1000 } : undefined;
}

/** Whether `decision` carries a receipt with more than {@link RECEIPT_MIN_REMAINING_MS} left at `now` (epoch ms). */
export function hasUsableReceipt(decision: Decision, now: number): boolean {
  return decision.receipt !== undefined && decision.receiptExpiresAt !== undefined && decision.receiptExpiresAt - now > RECEIPT_MIN_REMAINING_MS;
}

/**
 * The failure of an allow that came without the receipt it was asked for: never an allow handed
 * on without it (the handler would reach the data tier with nothing to bind).
 */
export function receiptUnavailable(why: string, detail: { pdpStatus?: number; pdpCode?: string } = {}): EnforceError {
  return new EnforceError('ERR_ENFORCE_RECEIPT_UNAVAILABLE', `no receipt for the decision: ${why}`, detail);
}
