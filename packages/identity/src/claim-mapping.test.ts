import { describe, expect, it } from 'vitest';
import { mapClaims, readActors, readScopes } from './claim-mapping.js';
import type { ClaimMapping } from './types.js';

const mapping: ClaimMapping = {
  principalType: 'User',
  clientPrincipalType: 'Client',
  idClaim: 'sub',
  groupsClaim: 'groups',
  groupType: 'Group',
  attributes: { email: 'email', profile: 'profile', score: 'score' },
  context: { scopes: 'scope', tier: 'tier' },
};

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code: string }).code;
  }
  return undefined;
}

describe('claim mapping', () => {
  it('builds the principal, parents and context', () => {
    const mapped = mapClaims(
      { sub: 'alice', groups: ['admins', 'devs'], email: 'a@x', profile: { team: 'core', nick: null }, score: 1.5, scope: 'read  write read', tier: 'gold' },
      mapping,
    );
    expect(mapped.principal).toEqual({
      uid: { type: 'User', id: 'alice' },
      attrs: { email: 'a@x', profile: { team: 'core' }, score: { __extn: { fn: 'decimal', arg: '1.5' } } },
      parents: [{ type: 'Group', id: 'admins' }, { type: 'Group', id: 'devs' }],
    });
    expect(mapped.parents).toEqual([
      { uid: { type: 'Group', id: 'admins' }, attrs: {}, parents: [] },
      { uid: { type: 'Group', id: 'devs' }, attrs: {}, parents: [] },
    ]);
    expect(mapped.context).toEqual({ scopes: ['read', 'write'], tier: 'gold' });
    expect(mapped.scopes).toEqual(['read', 'write']);
  });

  it('leaves out missing claims and accepts a single group string', () => {
    const mapped = mapClaims({ sub: 'bob', groups: 'ops' }, mapping);
    expect(mapped.principal.attrs).toEqual({});
    expect(mapped.context).toEqual({});
    expect(mapped.parents.map((parent) => parent.uid.id)).toEqual(['ops']);
  });

  it('reads scopes from scope, or scp as an array or string', () => {
    expect(readScopes({ scope: 'a b' })).toEqual(['a', 'b']);
    expect(readScopes({ scp: ['a', 'b', 'a'] })).toEqual(['a', 'b']);
    expect(readScopes({ scp: 'a b' })).toEqual(['a', 'b']);
    expect(readScopes({})).toEqual([]);
    expect(code(() => readScopes({ scope: ['a'] }))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => readScopes({ scp: [1] }))).toBe('ERR_TOKEN_CLAIMS');
  });

  it('reads the act chain outermost first (RFC 8693 §4.1)', () => {
    expect(readActors({ act: { sub: 'svc-c', act: { sub: 'svc-b', act: { sub: 'svc-a' } } } })).toEqual(['svc-c', 'svc-b', 'svc-a']);
    expect(readActors({})).toEqual([]);
    expect(code(() => readActors({ act: 'svc' }))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => readActors({ act: { act: { sub: 'x' } } }))).toBe('ERR_TOKEN_CLAIMS');
    let deep: Record<string, unknown> = { sub: 'last' };
    for (let i = 0; i < 20; i += 1) deep = { sub: `a${i}`, act: deep };
    expect(code(() => readActors({ act: deep }))).toBe('ERR_TOKEN_CLAIMS');
  });

  it('uses the configured id claim and refuses a missing or non-string id', () => {
    expect(mapClaims({ sub: 'x', oid: 'o-1' }, { ...mapping, idClaim: 'oid' }).principal.uid.id).toBe('o-1');
    expect(code(() => mapClaims({ sub: 'x' }, { ...mapping, idClaim: 'oid' }))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => mapClaims({ sub: 42 }, mapping))).toBe('ERR_TOKEN_CLAIMS');
  });

  it('refuses claims that would smuggle Cedar entity or extension escapes', () => {
    expect(code(() => mapClaims({ sub: 'x', profile: { __entity: { type: 'Admin', id: 'root' } } }, mapping))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => mapClaims({ sub: 'x', tier: [{ nested: { __extn: { fn: 'ip', arg: '1.1.1.1' } } }] }, mapping))).toBe('ERR_TOKEN_CLAIMS');
  });

  it('refuses malformed groups', () => {
    expect(code(() => mapClaims({ sub: 'x', groups: [1] }, mapping))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => mapClaims({ sub: 'x', groups: { a: 1 } }, mapping))).toBe('ERR_TOKEN_CLAIMS');
    expect(code(() => mapClaims({ sub: 'x', groups: Array.from({ length: 300 }, (_, i) => `g${i}`) }, mapping))).toBe('ERR_TOKEN_CLAIMS');
  });
});
