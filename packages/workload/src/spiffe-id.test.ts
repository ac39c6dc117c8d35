import { describe, expect, it } from 'vitest';
import { assertTrustDomain, parseSpiffeId, parseWorkloadSpiffeId, trustDomainId } from './spiffe-id.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('parseSpiffeId', () => {
  it('parses valid ids', () => {
    expect(parseSpiffeId('spiffe://acme.internal/ns/prod/sa/api')).toEqual({
      id: 'spiffe://acme.internal/ns/prod/sa/api',
      trustDomain: 'acme.internal',
      path: '/ns/prod/sa/api',
    });
    expect(parseSpiffeId('spiffe://td')).toEqual({ id: 'spiffe://td', trustDomain: 'td', path: '' });
    expect(parseSpiffeId('spiffe://a-b_c.9/A.b-C_9').path).toBe('/A.b-C_9');
  });

  const bad: Array<[string, unknown]> = [
    ['not a string', 42],
    ['empty', ''],
    ['wrong scheme', 'https://td/x'],
    ['uppercase scheme', 'SPIFFE://td/x'],
    ['missing slashes', 'spiffe:td/x'],
    ['empty trust domain', 'spiffe:///x'],
    ['uppercase trust domain', 'spiffe://TD/x'],
    ['port', 'spiffe://td:8443/x'],
    ['userinfo', 'spiffe://user@td/x'],
    ['trailing slash', 'spiffe://td/x/'],
    ['root path slash', 'spiffe://td/'],
    ['empty segment', 'spiffe://td/a//b'],
    ['dot segment', 'spiffe://td/a/./b'],
    ['dot-dot segment', 'spiffe://td/a/../b'],
    ['query', 'spiffe://td/a?b=c'],
    ['fragment', 'spiffe://td/a#b'],
    ['percent-encoding', 'spiffe://td/a%20b'],
    ['space', 'spiffe://td/a b'],
    ['non-ascii', 'spiffe://td/é'],
    ['too long', `spiffe://td/${'a'.repeat(2048)}`],
  ];
  for (const [name, input] of bad) {
    it(`refuses ${name}`, () => expect(code(() => parseSpiffeId(input))).toBe('ERR_SPIFFE_ID_INVALID'));
  }
});

describe('parseWorkloadSpiffeId', () => {
  it('needs a path and, when given, the trust domain', () => {
    expect(parseWorkloadSpiffeId('spiffe://td/w', 'td').id).toBe('spiffe://td/w');
    expect(code(() => parseWorkloadSpiffeId('spiffe://td'))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(code(() => parseWorkloadSpiffeId('spiffe://other/w', 'td'))).toBe('ERR_SPIFFE_ID_INVALID');
  });
});

describe('assertTrustDomain', () => {
  it('accepts valid names and refuses the rest', () => {
    expect(assertTrustDomain('verity.internal')).toBe('verity.internal');
    for (const bad of ['', 'Upper', 'td:1', 'spiffe://td', 'a/b', 'x'.repeat(256), null]) {
      expect(code(() => assertTrustDomain(bad))).toBe('ERR_TRUST_DOMAIN_INVALID');
    }
    expect(trustDomainId('td')).toBe('spiffe://td');
  });
});
