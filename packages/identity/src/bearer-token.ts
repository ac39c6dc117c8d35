/** The bearer credential of an `Authorization` header, parsed one way for the PDP and the SDK. */

/** RFC 6750 §2.1: `"Bearer" 1*SP b64token`; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * The token of an `Authorization: Bearer <b64token>` header (RFC 6750 §2.1), or undefined
 * when there is no header, another scheme, or a value that is not a b64token. A header given
 * more than once (an array) is read by its first value.
 *
 * @example
 * parseBearerToken('Bearer eyJhbGciOi…'); // 'eyJhbGciOi…'
 * parseBearerToken('Basic YWxpY2U6eA=='); // undefined
 */
export function parseBearerToken(authorization: string | readonly string[] | undefined): string | undefined {
  const value = typeof authorization === 'string' ? authorization : authorization?.[0];
  return value === undefined ? undefined : BEARER.exec(value)?.[1];
}
