import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateJwtAuthority } from './jwt-svid.js';
import { buildCert, makeSvid, makeTrustDomain } from './test-helpers.js';
import { parseSpiffeBundleJson, toSpiffeBundleJson, type TrustBundle } from './trust-bundle.js';

let bundle: TrustBundle;
let json: Record<string, unknown>;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

beforeAll(async () => {
  const a = await makeTrustDomain('acme.internal');
  const b = await makeTrustDomain('acme.internal');
  const jwt = await generateJwtAuthority();
  bundle = { trustDomain: 'acme.internal', x509Authorities: [a.authority.rootPem, b.authority.rootPem], jwtAuthorities: [jwt.publicJwk], sequence: 7, refreshHintSec: 120 };
  json = toSpiffeBundleJson(bundle);
});

describe('SPIFFE bundle JSON', () => {
  it('writes a JWK set with x509-svid and jwt-svid keys and round-trips', () => {
    const keys = json.keys as Array<Record<string, unknown>>;
    expect(keys.map((k) => k.use)).toEqual(['x509-svid', 'x509-svid', 'jwt-svid']);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect((keys[0]?.x5c as string[])[0]).toBe(new X509Certificate(bundle.x509Authorities[0] as string).raw.toString('base64'));
    expect(keys[2]?.d).toBeUndefined();
    expect(json).toMatchObject({ spiffe_sequence: 7, spiffe_refresh_hint: 120 });
    const parsed = parseSpiffeBundleJson('acme.internal', JSON.parse(JSON.stringify(json)));
    expect(parsed.x509Authorities.map((p) => new X509Certificate(p).fingerprint256)).toEqual(bundle.x509Authorities.map((p) => new X509Certificate(p).fingerprint256));
    expect(parsed.jwtAuthorities[0]).toMatchObject({ kid: bundle.jwtAuthorities[0]?.kid, use: 'jwt-svid' });
    expect([parsed.sequence, parsed.refreshHintSec, parsed.trustDomain]).toEqual([7, 120, 'acme.internal']);
  });

  it('ignores keys of unknown use and defaults sequence and refresh hint', () => {
    const parsed = parseSpiffeBundleJson('td', { keys: [{ use: 'enc', kty: 'oct' }, { kty: 'EC' }] });
    expect(parsed).toEqual({ trustDomain: 'td', x509Authorities: [], jwtAuthorities: [], sequence: 0, refreshHintSec: 300 });
  });

  it('refuses malformed documents', async () => {
    const keys = json.keys as Array<Record<string, unknown>>;
    const [x509Key, otherRoot, jwtKey] = keys as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    const leafSvid = await makeSvid((await makeTrustDomain('acme.internal')).authority, 'spiffe://acme.internal/w');
    const leafDer = new X509Certificate(leafSvid.certChainPem[0] as string).raw.toString('base64');
    const bad: Array<[string, unknown]> = [
      ['not an object', []],
      ['keys not an array', { keys: {} }],
      ['two certificates in x5c', { keys: [{ ...x509Key, x5c: [...(x509Key.x5c as string[]), ...(otherRoot.x5c as string[])] }] }],
      ['x5c not base64', { keys: [{ ...x509Key, x5c: ['!!!'] }] }],
      ['x5c not a certificate', { keys: [{ ...x509Key, x5c: ['AAAA'] }] }],
      ['x5c key differs from the JWK', { keys: [{ ...x509Key, x5c: otherRoot.x5c }] }],
      ['a leaf as root', { keys: [{ ...x509Key, x: undefined, y: undefined, ...new X509Certificate(leafSvid.certChainPem[0] as string).publicKey.export({ format: 'jwk' }), x5c: [leafDer] }] }],
      ['private jwt key', { keys: [{ ...jwtKey, d: 'AAAA' }] }],
      ['jwt key without kid', { keys: [{ ...jwtKey, kid: undefined }] }],
      ['duplicate kid', { keys: [jwtKey, jwtKey] }],
      ['symmetric jwt key', { keys: [{ use: 'jwt-svid', kty: 'oct', kid: 'k' }] }],
      ['bad jwt key', { keys: [{ ...jwtKey, x: 'AAAA' }] }],
      ['negative sequence', { keys: [], spiffe_sequence: -1 }],
      ['zero refresh hint', { keys: [], spiffe_refresh_hint: 0 }],
    ];
    for (const [name, doc] of bad) expect(codeOf(() => parseSpiffeBundleJson('acme.internal', doc)), name).toBe('ERR_SVID_INVALID');
    expect(codeOf(() => parseSpiffeBundleJson('Bad TD', { keys: [] }))).toBe('ERR_TRUST_DOMAIN_INVALID');
    // a self-signed CA is fine as a root: it is what the bundle says to trust
    const ca = await buildCert({ ca: true });
    const caKey = { ...new X509Certificate(ca.pem).publicKey.export({ format: 'jwk' }), use: 'x509-svid', x5c: [Buffer.from(ca.der).toString('base64')] };
    expect(parseSpiffeBundleJson('acme.internal', { keys: [caKey] }).x509Authorities).toHaveLength(1);
  });
});
