import { describe, expect, it } from 'vitest';
import { parseIdentitySource } from './identity-source.js';

const base = {
  id: 'corp',
  tenant: 'acme',
  issuer: 'https://idp.example.com',
  keys: { kind: 'discovery' },
  audiences: ['api://verity'],
  claims: { principalType: 'User' },
};

function code(input: unknown): string | undefined {
  try {
    parseIdentitySource(input);
  } catch (error) {
    return (error as { code: string }).code;
  }
  return undefined;
}

describe('parseIdentitySource', () => {
  it('applies conservative defaults and freezes the result', () => {
    const source = parseIdentitySource(base);
    expect(source).toEqual({
      ...base,
      keys: { kind: 'discovery' },
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      clockToleranceSec: 30,
      claims: { principalType: 'User', clientPrincipalType: 'Client', idClaim: 'sub', groupType: 'Group', attributes: {}, context: {} },
    });
    expect(Object.isFrozen(source.claims)).toBe(true);
    expect(Object.isFrozen(source.audiences)).toBe(true);
  });

  it('accepts explicit settings', () => {
    const source = parseIdentitySource({
      ...base,
      keys: { kind: 'jwks', jwksUri: 'http://127.0.0.1:8080/jwks' },
      algorithms: ['PS256', 'ES384'],
      clockToleranceSec: 0,
      claims: { principalType: 'Acme::User', idClaim: 'oid', groupsClaim: 'groups', groupType: 'Acme::Group', attributes: { email: 'email' }, context: { scopes: 'scope' } },
    });
    expect(source.algorithms).toEqual(['PS256', 'ES384']);
    expect(source.claims.groupsClaim).toBe('groups');
  });

  it.each([
    ['alg none', { ...base, algorithms: ['none'] }],
    ['HS256', { ...base, algorithms: ['RS256', 'HS256'] }],
    ['empty algorithms', { ...base, algorithms: [] }],
    ['unknown top-level key', { ...base, extra: 1 }],
    ['unknown claims key', { ...base, claims: { principalType: 'User', admin: true } }],
    ['unknown keys key', { ...base, keys: { kind: 'discovery', jwksUri: 'https://x' } }],
    ['http issuer', { ...base, issuer: 'http://idp.example.com' }],
    ['not a URL', { ...base, issuer: 'idp' }],
    ['issuer with query', { ...base, issuer: 'https://idp.example.com/?a=1' }],
    ['credentials in URL', { ...base, keys: { kind: 'jwks', jwksUri: 'https://u:p@idp.example.com/jwks' } }],
    ['fragment', { ...base, keys: { kind: 'jwks', jwksUri: 'https://idp.example.com/jwks#x' } }],
    ['file URL', { ...base, keys: { kind: 'jwks', jwksUri: 'file:///etc/passwd' } }],
    ['no audiences', { ...base, audiences: [] }],
    ['negative tolerance', { ...base, clockToleranceSec: -1 }],
    ['huge tolerance', { ...base, clockToleranceSec: 86_400 }],
    ['bad principal type', { ...base, claims: { principalType: 'User"; permit' } }],
    ['missing id', { ...base, id: undefined }],
    ['unknown key kind', { ...base, keys: { kind: 'x509' } }],
    ['symmetric inline key', { ...base, keys: { kind: 'inline', keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }],
    ['private inline key', { ...base, keys: { kind: 'inline', keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }] } }],
    ['broken inline key set', { ...base, keys: { kind: 'inline', keys: [] } }],
    ['not an object', 'corp'],
    ['a claim mapped onto the verified Txn-Token entry', { ...base, claims: { principalType: 'User', context: { txn: 'txn' } } }],
    ['a claim mapped onto the verified calling workload', { ...base, claims: { principalType: 'User', context: { caller: 'azp' } } }],
    ['a claim mapped onto the forged-caller mark', { ...base, claims: { principalType: 'User', context: { caller_forged: 'x' } } }],
  ])('rejects %s', (_name, input) => {
    expect(code(input)).toBe('ERR_IDENTITY_SOURCE_INVALID');
  });

  it('never echoes a key in its message', () => {
    try {
      parseIdentitySource({ ...base, keys: { kind: 'inline', keys: [{ kty: 'oct', k: 'super-secret-value' }] } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('super-secret-value');
    }
  });
});
