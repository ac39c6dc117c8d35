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

  it('takes a published key that cannot verify (off its curve, RSA under 2048 bits) as no usable key, not an internal error', async () => {
    const { createLocalJWKSet, generateKeyPair, jwtVerify, SignJWT } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).sign(privateKey);
    const offCurve = { kty: 'EC', crv: 'P-256', kid: 'k', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', y: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    const thrown = await jwtVerify(token, createLocalJWKSet({ keys: [offCurve] })).then(() => undefined, (error: unknown) => error);
    expect(jwtErrorCode(thrown)).toBe('ERR_TOKEN_UNKNOWN_KEY');
    expect(jwtErrorCode(new TypeError('RS256 requires key modulusLength to be 2048 bits or larger'))).toBe('ERR_TOKEN_UNKNOWN_KEY');
    expect(jwtErrorCode(new TypeError('something else'))).toBe('ERR_INTERNAL');
  });

  it('keeps VerityErrors and drops claim-bearing causes', () => {
    const own = new VerityError('ERR_TOKEN_HEADER', 'h');
    expect(toTokenError(own)).toBe(own);
    const mapped = toTokenError(new errors.JWTExpired('x', { sub: 'secret-subject' }, 'exp', 'check_failed'));
    expect(mapped.cause).toBeUndefined();
    expect(mapped.message).toBe('the token has expired');
  });
});
