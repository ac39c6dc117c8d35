import { createHash } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSvidProof, SVID_PROOF_TYPE, verifySvidProof } from './svid-proof.js';
import type { X509Svid } from './svid-source.js';
import { makeSvid, makeTrustDomain } from './test-helpers.js';
import type { TrustBundle } from './trust-bundle.js';
import type { CaAuthority } from './x509-ca.js';
import { fromPem } from './x509-provider.js';
import { createCsr, verifyCsr } from './x509-svid.js';

const AUD = 'https://pdp.example/workload/v1/tenants/acme/renew';
const ID = 'spiffe://acme.internal/api';
let authority: CaAuthority;
let bundle: TrustBundle;
let svid: X509Svid;
let x5c: string[];

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
  return undefined;
}

/** A proof with any header and claims, signed by `keyPem` (the SVID's by default). */
async function handMade(header: Record<string, unknown>, claims: Record<string, unknown>, keyPem = svid.privateKeyPem): Promise<string> {
  const key = await importPKCS8(keyPem, 'ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: SVID_PROOF_TYPE, x5c, ...header } as never).sign(key);
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  ({ authority, bundle } = await makeTrustDomain('acme.internal'));
  svid = await makeSvid(authority, ID);
  x5c = svid.certChainPem.map((pem) => Buffer.from(fromPem(pem, 'CERTIFICATE') as Uint8Array).toString('base64'));
});

describe('SVID proofs', () => {
  it('round-trips with and without a CSR hash', async () => {
    const { der } = await verifyCsr(await createCsr(svid.privateKeyPem));
    const proof = await createSvidProof({ svid, audience: AUD, csrDer: der });
    const result = await verifySvidProof(proof, { bundle, audience: AUD });
    expect(result.spiffeId).toBe(ID);
    expect(result.csrSha256).toBe(createHash('sha256').update(der).digest('base64url'));
    expect(result.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const plain = await verifySvidProof(await createSvidProof({ svid, audience: AUD }), { bundle, audience: AUD });
    expect(plain.csrSha256).toBeUndefined();
    expect('csrSha256' in plain).toBe(false);
  });

  it('refuses a wrong or widened audience', async () => {
    expect(await codeOf(async () => verifySvidProof(await createSvidProof({ svid, audience: `${AUD}x` }), { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
    const t = nowSec();
    const widened = await handMade({}, { aud: [AUD, 'https://other'], iat: t, exp: t + 30, jti: 'j' });
    expect(await codeOf(() => verifySvidProof(widened, { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
    const single = await handMade({}, { aud: [AUD], iat: t, exp: t + 30, jti: 'j' });
    expect((await verifySvidProof(single, { bundle, audience: AUD })).jti).toBe('j');
  });

  it('refuses a proof signed by another key than the chain\'s leaf (stolen certificate)', async () => {
    const thief = await makeSvid(authority, 'spiffe://acme.internal/thief');
    const t = nowSec();
    const proof = await handMade({}, { aud: AUD, iat: t, exp: t + 30, jti: 'j' }, thief.privateKeyPem);
    expect(await codeOf(() => verifySvidProof(proof, { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
  });

  it('refuses a chain that does not verify, or an expired SVID', async () => {
    const other = await makeTrustDomain('acme.internal');
    const proof = await createSvidProof({ svid, audience: AUD });
    expect(await codeOf(() => verifySvidProof(proof, { bundle: other.bundle, audience: AUD }))).toBe('ERR_SVID_UNTRUSTED');
    const at = svid.expiresAtMs + 1000;
    const late = await createSvidProof({ svid, audience: AUD, now: () => at });
    expect(await codeOf(() => verifySvidProof(late, { bundle, audience: AUD, now: () => at }))).toBe('ERR_SVID_EXPIRED');
  });

  it('refuses bad timing: expired, too long-lived, issued in the future', async () => {
    const t = nowSec();
    const cases: Array<[string, Record<string, unknown>]> = [
      ['expired', { aud: AUD, iat: t - 40, exp: t - 1, jti: 'j' }],
      ['lives longer than 60 s', { aud: AUD, iat: t, exp: t + 61, jti: 'j' }],
      ['iat 10 s ahead', { aud: AUD, iat: t + 10, exp: t + 40, jti: 'j' }],
      ['no iat', { aud: AUD, exp: t + 30, jti: 'j' }],
      ['no exp', { aud: AUD, iat: t, jti: 'j' }],
    ];
    for (const [name, claims] of cases) expect(await codeOf(async () => verifySvidProof(await handMade({}, claims), { bundle, audience: AUD })), name).toBe('ERR_SVID_INVALID');
    // 3 s ahead is within the skew
    expect((await verifySvidProof(await handMade({}, { aud: AUD, iat: t + 3, exp: t + 30, jti: 'j' }), { bundle, audience: AUD })).spiffeId).toBe(ID);
    // maxAgeSec narrows the window
    expect(await codeOf(async () => verifySvidProof(await handMade({}, { aud: AUD, iat: t, exp: t + 30, jti: 'j' }), { bundle, audience: AUD, maxAgeSec: 10 }))).toBe('ERR_SVID_INVALID');
  });

  it('refuses a bad jti, csr_sha256, typ, alg or x5c', async () => {
    const t = nowSec();
    const ok = { aud: AUD, iat: t, exp: t + 30, jti: 'j' };
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['no jti', {}, { ...ok, jti: undefined }],
      ['numeric jti', {}, { ...ok, jti: 5 }],
      ['empty jti', {}, { ...ok, jti: '' }],
      ['long jti', {}, { ...ok, jti: 'x'.repeat(129) }],
      ['bad csr_sha256', {}, { ...ok, csr_sha256: 'abc' }],
      ['typ JWT', { typ: 'JWT' }, ok],
      ['no typ', { typ: undefined }, ok],
      ['no x5c', { x5c: undefined }, ok],
      ['empty x5c', { x5c: [] }, ok],
      ['x5c base64url', { x5c: x5c.map((c) => c.replaceAll('+', '-').replaceAll('/', '_')).map((c) => (c.includes('-') || c.includes('_') ? c : `${c}-`)) }, ok],
      ['x5c of 4', { x5c: [...x5c, ...x5c] }, ok],
    ];
    for (const [name, header, claims] of cases) expect(await codeOf(async () => verifySvidProof(await handMade(header, claims), { bundle, audience: AUD })), name).toBe('ERR_SVID_INVALID');
    const [h, p] = (await handMade({}, ok)).split('.') as [string, string];
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: SVID_PROOF_TYPE, x5c })).toString('base64url')}.${p}.`;
    const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: SVID_PROOF_TYPE, x5c })).toString('base64url')}.${p}.${Buffer.from('sig').toString('base64url')}`;
    for (const bad of [none, hs, 'garbage', '', 42, `${h}.${p}`, 'a'.repeat(40_000)]) {
      expect(await codeOf(() => verifySvidProof(bad, { bundle, audience: AUD }))).toBe('ERR_SVID_INVALID');
    }
  });
});
