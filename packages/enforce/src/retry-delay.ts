/** When to ask the PDP again after a failure: full jitter, never before its `Retry-After`, never past the budget. */

export interface RetryDelayInput {
  /** Retries already made (0 before the first retry). */
  attempt: number;
  /** The jitter ceiling of the first retry, doubled per retry up to `maxMs`, in ms. */
  initialMs: number;
  maxMs: number;
  /** The PDP's `Retry-After`, in seconds, when it sent one. */
  retryAfterSec?: number | undefined;
  /** What is left of the caller's budget, in ms. */
  remainingMs: number;
  /** Uniform in [0, 1). */
  random: () => number;
}

/**
 * The delay before the next attempt in ms, or null when it would not fit in the budget. "Full
 * jitter" (uniform in [0, ceiling]) spreads the retries of many PEPs that failed together, so an
 * overloaded PDP is not hit again in step; a `Retry-After` is a floor, because the PDP asked for
 * it. Waiting until the budget is gone could only end in a timeout, so that is not retried: the
 * caller fails closed at once.
 *
 * @example
 * ```ts
 * const wait = retryDelayMs({ attempt: 0, initialMs: 50, maxMs: 500, retryAfterSec: error.retryAfterSec, remainingMs: 800, random: Math.random });
 * if (wait === null) throw error;
 * ```
 */
export function retryDelayMs(input: RetryDelayInput): number | null {
  const ceiling = Math.min(input.maxMs, input.initialMs * 2 ** input.attempt);
  const delay = Math.max(input.random() * ceiling, (input.retryAfterSec ?? 0) * 1000);
  return delay < input.remainingMs ? delay : null;
}
