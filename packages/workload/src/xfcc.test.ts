import { describe, expect, it } from 'vitest';
import type { PeerIdentity } from './peer-identity.js';
import { parseXfcc, peerFromXfcc } from './xfcc.js';

const PROXY: PeerIdentity = { spiffeId: 'spiffe://acme.internal/ingress', authenticated: true, via: 'mtls' };
const OTHER: PeerIdentity = { spiffeId: 'spiffe://acme.internal/api', authenticated: true, via: 'mtls' };
const NONE: PeerIdentity = { spiffeId: null, authenticated: false, via: 'none' };
const options = { immediatePeer: PROXY, trustedProxies: [PROXY.spiffeId as string], trustDomain: 'acme.internal' };

describe('parseXfcc', () => {
  it('parses Envoy examples', () => {
    // From Envoy's header documentation.
    expect(parseXfcc('By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com')).toEqual([
      { By: ['http://frontend.lyft.com'], Hash: ['468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'], Subject: ['/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client'], URI: ['http://testclient.lyft.com'] },
    ]);
    expect(parseXfcc('By=http://frontend.lyft.com;Hash=abc;URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=def;URI=http://frontend.lyft.com')).toHaveLength(2);
    expect(parseXfcc('By=http://frontend.lyft.com;Hash=abc;SAN=x')).toBeNull(); // unknown key
    expect(parseXfcc('Subject="a \\"quoted\\" b, c; d=e";URI=spiffe://td/x;DNS=a;DNS=b')).toEqual([{ Subject: ['a "quoted" b, c; d=e'], URI: ['spiffe://td/x'], DNS: ['a', 'b'] }]);
  });

  it('refuses malformed headers', () => {
    for (const bad of ['', 'URI', 'URI="unterminated', 'URI="a"x', 'URI=a"b', '=x', 'uri=a;;', 'x'.repeat(70_000)]) expect(parseXfcc(bad), bad).toBeNull();
  });
});

describe('peerFromXfcc', () => {
  it('takes the last element\'s URI from a trusted proxy', () => {
    expect(peerFromXfcc('By=spiffe://acme.internal/ingress;URI=spiffe://acme.internal/web', options)).toEqual({ spiffeId: 'spiffe://acme.internal/web', authenticated: true, via: 'xfcc' });
    // APPEND_FORWARD: an earlier element is the client's own claim; only the proxy's last one counts
    expect(peerFromXfcc('URI=spiffe://acme.internal/admin,URI=spiffe://acme.internal/web', options).spiffeId).toBe('spiffe://acme.internal/web');
    expect(peerFromXfcc(['URI=spiffe://acme.internal/admin', 'URI=spiffe://acme.internal/web'], options).spiffeId).toBe('spiffe://acme.internal/web');
  });

  it('ignores and flags the header from anyone but a trusted, mTLS-authenticated proxy', () => {
    const header = 'URI=spiffe://acme.internal/admin';
    expect(peerFromXfcc(header, { ...options, immediatePeer: OTHER })).toEqual({ ...OTHER, forged: true });
    expect(peerFromXfcc(header, { ...options, immediatePeer: NONE })).toEqual({ ...NONE, forged: true });
    expect(peerFromXfcc(header, { ...options, immediatePeer: { ...PROXY, via: 'xfcc' } })).toMatchObject({ forged: true, via: 'xfcc' });
    expect(peerFromXfcc(header, { ...options, immediatePeer: { ...PROXY, authenticated: false } })).toMatchObject({ forged: true });
    expect(peerFromXfcc(undefined, { ...options, immediatePeer: OTHER })).toEqual(OTHER);
    expect(peerFromXfcc('', options)).toEqual(PROXY);
  });

  it('is unauthenticated for a malformed header, no or two URIs, a foreign or deny-listed id', () => {
    for (const header of ['URI="x', 'Hash=abc', 'URI=spiffe://acme.internal/a;URI=spiffe://acme.internal/b', 'URI=spiffe://evil.internal/web', 'URI=https://acme.internal/web', 'URI=spiffe://acme.internal', 'URI=spiffe://acme.internal/web,Hash=abc']) {
      expect(peerFromXfcc(header, options), header).toEqual(NONE);
    }
    expect(peerFromXfcc('URI=spiffe://acme.internal/web', { ...options, denied: new Set(['spiffe://acme.internal/web']) })).toEqual(NONE);
  });
});
