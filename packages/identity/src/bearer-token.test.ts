import { describe, expect, it } from 'vitest';
import { parseBearerToken } from './bearer-token.js';

describe('parseBearerToken', () => {
  it('reads an RFC 6750 b64token after the case-insensitive Bearer scheme', () => {
    expect(parseBearerToken('Bearer a.b.c')).toBe('a.b.c');
    expect(parseBearerToken('bearer  vrt_AZaz09-_')).toBe('vrt_AZaz09-_');
    expect(parseBearerToken('BEARER abc+/~==')).toBe('abc+/~==');
    expect(parseBearerToken(['Bearer first', 'Bearer second'])).toBe('first');
  });

  it('is undefined for no header, another scheme, or a value that is not a b64token', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic YWxpY2U6eA==', 'Bearer a b', 'Bearer a=b', 'Bearer\ta', 'Bearer a\n', 'Bearer é', 'Token a', []]) {
      expect(parseBearerToken(header), JSON.stringify(header)).toBeUndefined();
    }
  });
});
