/** Maps jose's errors to Verity's stable token error codes, with messages that never carry the token. */
import { VerityError, type ErrorCode } from '@verity/core';
import { errors } from 'jose';

/** Short, safe messages per code: jose's own messages are not shown, as a future one might quote input. */
const MESSAGES: Partial<Record<ErrorCode, string>> = {
  ERR_TOKEN_MALFORMED: 'the token is not a well-formed JWT',
  ERR_TOKEN_ALGORITHM: 'the token algorithm is not allowed',
  ERR_TOKEN_SIGNATURE: 'the token signature is invalid',
  ERR_TOKEN_UNKNOWN_KEY: 'the token was signed by a key the issuer does not publish',
  ERR_TOKEN_HEADER: 'the token header is not acceptable',
  ERR_TOKEN_EXPIRED: 'the token has expired',
  ERR_TOKEN_NOT_YET_VALID: 'the token is not valid yet',
  ERR_TOKEN_ISSUER: 'the token issuer is not trusted',
  ERR_TOKEN_AUDIENCE: 'the token audience is not accepted',
  ERR_TOKEN_CLAIMS: 'the token claims are invalid',
  ERR_IDENTITY_SOURCE_UNAVAILABLE: 'the identity source keys could not be fetched',
};

/** A token error with the code's standard message, optionally more specific (still token-free). */
export function tokenError(code: ErrorCode, detail?: string, cause?: unknown): VerityError {
  const message = detail ?? MESSAGES[code] ?? 'the token was rejected';
  return new VerityError(code, message, cause === undefined ? undefined : { cause });
}

function claimCode(error: errors.JWTClaimValidationFailed): ErrorCode {
  if (error.reason === 'missing' || error.reason === 'invalid') return 'ERR_TOKEN_CLAIMS';
  switch (error.claim) {
    case 'nbf':
      return 'ERR_TOKEN_NOT_YET_VALID';
    case 'iss':
      return 'ERR_TOKEN_ISSUER';
    case 'aud':
      return 'ERR_TOKEN_AUDIENCE';
    case 'typ':
      return 'ERR_TOKEN_HEADER';
    default:
      return 'ERR_TOKEN_CLAIMS';
  }
}

/**
 * The Verity code for an error thrown while verifying a JWT. Order matters: jose's error classes
 * extend one another's base, so the specific ones are tested first.
 */
export function jwtErrorCode(error: unknown): ErrorCode {
  if (error instanceof VerityError) return error.code;
  if (error instanceof errors.JWTExpired) return 'ERR_TOKEN_EXPIRED';
  if (error instanceof errors.JWTClaimValidationFailed) return claimCode(error);
  if (error instanceof errors.JOSEAlgNotAllowed) return 'ERR_TOKEN_ALGORITHM';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'ERR_TOKEN_SIGNATURE';
  if (error instanceof errors.JWKSNoMatchingKey) return 'ERR_TOKEN_UNKNOWN_KEY';
  // Two published keys match the header (no kid, same kty): the issuer must use kids.
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'ERR_TOKEN_UNKNOWN_KEY';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) {
    return 'ERR_IDENTITY_SOURCE_UNAVAILABLE';
  }
  // jose throws JOSENotSupported both for an unrecognized `crit` extension and for an algorithm or
  // key type it cannot use; the verifier rejects `crit` itself first, so what is left is algorithm.
  if (error instanceof errors.JOSENotSupported) return 'ERR_TOKEN_ALGORITHM';
  // A published key WebCrypto cannot import (an EC point off its curve), or one jose will not
  // verify with (an RSA key under 2048 bits): no usable key verifies the token.
  if (error instanceof DOMException && (error.name === 'DataError' || error.name === 'NotSupportedError')) return 'ERR_TOKEN_UNKNOWN_KEY';
  if (error instanceof TypeError && /requires key modulusLength to be \d+ bits or larger/.test(error.message)) return 'ERR_TOKEN_UNKNOWN_KEY';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'ERR_TOKEN_MALFORMED';
  return 'ERR_INTERNAL';
}

/**
 * Convert anything thrown while verifying into a VerityError with a token-free message. jose's
 * claim errors carry the whole claims set, so they are not kept as `cause` (a logger would print
 * them); fetch failures and unexpected errors are, for operators.
 */
export function toTokenError(error: unknown): VerityError {
  if (error instanceof VerityError) return error;
  const code = jwtErrorCode(error);
  if (code === 'ERR_INTERNAL') return new VerityError('ERR_INTERNAL', 'token verification failed unexpectedly', { cause: error });
  return tokenError(code, undefined, code === 'ERR_IDENTITY_SOURCE_UNAVAILABLE' ? error : undefined);
}
