/** A token's `exp`, read without verifying: used only to shorten how long a decision is cached. */

/**
 * The token's expiry in epoch milliseconds, or undefined when it is not a JWT with a numeric
 * `exp`. Unverified on purpose: it can only make a cache entry live shorter, never longer, and
 * the PDP verifies the token itself.
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16_384) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
