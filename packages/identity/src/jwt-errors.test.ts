import { VerityError } from '@verity/core';
import { errors } from 'jose';
import { describe, expect, it } from 'vitest';
import { jwtErrorCode, toTokenError } from './jwt-errors.js';

describe('jwt error mapping', () => {
  it.each([
    [new errors.JWTExpired('x', {}, 'exp', 'check_failed'), 'ERR_TOKEN_EXPIRED'],
    [new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'check_failed'), 'ERR_TOKEN_NOT_YET_VALID'],
    [new errors.JWTClaimValidationFailed('x', {}, 'iss', 'check_failed'), 'ERR_TOKEN_ISSUER'],
    [new errors.JWTClaimValidationFailed('x', {}, 'aud', 'check_failed'), 'ERR_TOKEN_AUDIENCE'],
    [new errors.JWTClaimValidationFailed('x', {}, 'aud', 'missing'), 'ERR_TOKEN_CLAIMS'],
    [new errors.JWTClaimValidationFailed('x', {}, 'exp', 'invalid'), 'ERR_TOKEN_CLAIMS'],
    [new errors.JOSEAlgNotAllowed(), 'ERR_TOKEN_ALGORITHM'],
    [new errors.JWSSignatureVerificationFailed(), 'ERR_TOKEN_SIGNATURE'],
    [new errors.JWKSNoMatchingKey(), 'ERR_TOKEN_UNKNOWN_KEY'],
    [new errors.JWKSTimeout(), 'ERR_IDENTITY_SOURCE_UNAVAILABLE'],
    [new errors.JWSInvalid(), 'ERR_TOKEN_MALFORMED'],
    [new errors.JWTInvalid(), 'ERR_TOKEN_MALFORMED'],
    [new Error('bug'), 'ERR_INTERNAL'],
  ])('maps %o', (error, code) => {
    expect(jwtErrorCode(error)).toBe(code);
  });

  it('keeps VerityErrors and drops claim-bearing causes', () => {
    const own = new VerityError('ERR_TOKEN_HEADER', 'h');
    expect(toTokenError(own)).toBe(own);
    const mapped = toTokenError(new errors.JWTExpired('x', { sub: 'secret-subject' }, 'exp', 'check_failed'));
    expect(mapped.cause).toBeUndefined();
    expect(mapped.message).toBe('the token has expired');
  });
});
