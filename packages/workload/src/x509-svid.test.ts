import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCert, loadTestCert, makeSvid, makeTrustDomain, type TestCert } from './test-helpers.js';
import type { TrustBundle } from './trust-bundle.js';
import type { CaAuthority } from './x509-ca.js';
import { crypto, toPem, x509, type CryptoKeyPair } from './x509-provider.js';
import { createCsr, generateSvidKey, issueX509Svid, verifyCsr, verifyX509Svid } from './x509-svid.js';

const TD = 'acme.internal';
const ID = 'spiffe://acme.internal/ns/prod/sa/api';

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
  return undefined;
}

let authority: CaAuthority;
let bundle: TrustBundle;
let root: TestCert;
let intermediate: TestCert;

beforeAll(async () => {
  ({ authority, bundle } = await makeTrustDomain(TD));
  root = await loadTestCert(authority.rootPem, authority.rootKeyPem);
  intermediate = await loadTestCert(authority.intermediatePem, authority.intermediateKeyPem);
});

describe('generateSvidKey / createCsr / verifyCsr', () => {
  it('makes a P-256 CSR that verifies and carries the key', async () => {
    const { privateKeyPem, publicKeyPem } = await generateSvidKey();
    const csr = await createCsr(privateKeyPem);
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const verified = await verifyCsr(csr);
    expect(verified.publicKeyPem.replace(/\s/g, '')).toBe(publicKeyPem.replace(/\s/g, ''));
    expect(verified.der.length).toBeGreaterThan(50);
  });

  it('accepts RSA 2048 and refuses RSA 1024, P-384 and a bad signature', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    await expect(verifyCsr(await createCsr(rsa))).resolves.toBeDefined();

    for (const algorithm of [
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      { name: 'ECDSA', namedCurve: 'P-384' },
    ]) {
      const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
      const signingAlgorithm = algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-384' } : algorithm;
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm });
      expect(await codeOf(() => verifyCsr(csr.toString('pem')))).toBe('ERR_CSR_INVALID');
    }

    const { privateKeyPem } = await generateSvidKey();
    const der = Buffer.from((await createCsr(privateKeyPem)).replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01; // inside the signature
    expect(await codeOf(() => verifyCsr(toPem(der, 'CERTIFICATE REQUEST')))).toBe('ERR_CSR_INVALID');
  });

  it('refuses garbage, two blocks, another label', async () => {
    const { privateKeyPem } = await generateSvidKey();
    const csr = await createCsr(privateKeyPem);
    for (const bad of [undefined, 42, '', 'garbage', csr + csr, csr.replaceAll('CERTIFICATE REQUEST', 'CERTIFICATE'), 'x'.repeat(20_000), toPem(Buffer.from('nonsense'), 'CERTIFICATE REQUEST')]) {
      expect(await codeOf(() => verifyCsr(bad))).toBe('ERR_CSR_INVALID');
    }
  });
});

describe('issueX509Svid', () => {
  it('issues an SVID as the X509-SVID spec and the contract say', async () => {
    const { publicKeyPem } = await generateSvidKey();
    const now = Date.UTC(2030, 0, 1);
    const { authority: a2 } = await makeTrustDomain(TD, { now: () => now - 1000 });
    const issued = await issueX509Svid({ authority: a2, spiffeId: ID, publicKeyPem, ttlSec: 600, now: () => now });
    expect(issued.certChainPem).toHaveLength(2);
    expect(issued.certChainPem[1]).toBe(a2.intermediatePem);
    expect(issued.issuedAtMs).toBe(now);
    expect(issued.expiresAtMs).toBe(now + 600_000);
    expect(issued.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    const leaf = new x509.X509Certificate(issued.certChainPem[0] as string);
    expect(leaf.serialNumber.toLowerCase()).toBe(issued.serial);
    const bc = leaf.getExtension(x509.BasicConstraintsExtension);
    expect([bc?.ca, bc?.critical]).toEqual([false, true]);
    const ku = leaf.getExtension(x509.KeyUsagesExtension);
    expect([ku?.usages, ku?.critical]).toEqual([x509.KeyUsageFlags.digitalSignature, true]);
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([{ type: 'url', value: ID }]);
    expect(leaf.notAfter.getTime()).toBe(now + 600_000);
    expect(verifyX509Svid(issued.certChainPem, { ...bundle, x509Authorities: [a2.rootPem] }, { now: () => now }).spiffeId).toBe(ID);
  });

  it('caps the lifetime at the authority end', async () => {
    const { authority: shortLived } = await makeTrustDomain(TD, { lifetimeSec: 3600 });
    const { publicKeyPem } = await generateSvidKey();
    const issued = await issueX509Svid({ authority: shortLived, spiffeId: ID, publicKeyPem, ttlSec: 86_400 });
    expect(issued.expiresAtMs).toBe(shortLived.notAfterMs);
  });

  it('refuses another trust domain, the trust domain id, a bad key and a bad ttl', async () => {
    const { publicKeyPem, privateKeyPem } = await generateSvidKey();
    expect(await codeOf(() => issueX509Svid({ authority, spiffeId: 'spiffe://evil.internal/x', publicKeyPem, ttlSec: 60 }))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(await codeOf(() => issueX509Svid({ authority, spiffeId: `spiffe://${TD}`, publicKeyPem, ttlSec: 60 }))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(await codeOf(() => issueX509Svid({ authority, spiffeId: ID, publicKeyPem: 'garbage', ttlSec: 60 }))).toBe('ERR_CSR_INVALID');
    expect(await codeOf(() => issueX509Svid({ authority, spiffeId: ID, publicKeyPem: privateKeyPem, ttlSec: 60 }))).toBe('ERR_CSR_INVALID');
    for (const ttlSec of [0, 86_401, 1.5, Number.NaN]) {
      expect(await codeOf(() => issueX509Svid({ authority, spiffeId: ID, publicKeyPem, ttlSec }))).toBe('TypeError');
    }
  });
});

describe('verifyX509Svid', () => {
  it('accepts a valid chain as PEM, as DER, and with the root appended', async () => {
    const svid = await makeSvid(authority, ID);
    const result = verifyX509Svid(svid.certChainPem, bundle);
    expect(result.spiffeId).toBe(ID);
    expect(result.expiresAtMs).toBe(svid.expiresAtMs);
    const ders = svid.certChainPem.map((pem) => new Uint8Array(new x509.X509Certificate(pem).rawData));
    expect(verifyX509Svid(ders, bundle).serial).toBe(result.serial);
    expect(verifyX509Svid([...svid.certChainPem, authority.rootPem], bundle).spiffeId).toBe(ID);
  });

  it('accepts any root of the bundle (CA rotation)', async () => {
    const { authority: next } = await makeTrustDomain(TD);
    const svid = await makeSvid(next, ID);
    expect(() => verifyX509Svid(svid.certChainPem, bundle)).toThrow(expect.objectContaining({ code: 'ERR_SVID_UNTRUSTED' }));
    expect(verifyX509Svid(svid.certChainPem, { ...bundle, x509Authorities: [authority.rootPem, next.rootPem] }).spiffeId).toBe(ID);
  });

  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (error) {
      return (error as { code?: string }).code;
    }
    return undefined;
  };

  it('refuses an expired leaf (ERR_SVID_EXPIRED), and a leaf not yet valid', async () => {
    const issuedAt = Date.now() - 3600_000;
    const old = await makeTrustDomain(TD, { now: () => issuedAt - 60_000 });
    const svid = await makeSvid(old.authority, ID, { now: () => issuedAt, ttlSec: 60 });
    expect(code(() => verifyX509Svid(svid.certChainPem, old.bundle))).toBe('ERR_SVID_EXPIRED');
    expect(code(() => verifyX509Svid(svid.certChainPem, old.bundle, { now: () => issuedAt }))).toBeUndefined();
    expect(code(() => verifyX509Svid(svid.certChainPem, old.bundle, { now: () => issuedAt - 30_000 }))).toBe('ERR_SVID_INVALID');
  });

  it('refuses an expired intermediate and an expired root', async () => {
    const past = new Date(Date.now() - 1000);
    const oldIntermediate = await buildCert({ issuer: root, ca: true, pathLength: 0, notBefore: new Date(Date.now() - 7200_000), notAfter: past });
    const leaf = await buildCert({ issuer: oldIntermediate, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf.pem, oldIntermediate.pem], bundle))).toBe('ERR_SVID_EXPIRED');

    const oldRoot = await buildCert({ ca: true, notBefore: new Date(Date.now() - 7200_000), notAfter: past });
    const inter = await buildCert({ issuer: oldRoot, ca: true, pathLength: 0 });
    const leaf2 = await buildCert({ issuer: inter, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf2.pem, inter.pem], { ...bundle, x509Authorities: [oldRoot.pem] }))).toBe('ERR_SVID_EXPIRED');
  });

  it('refuses a chain that does not end at a root of the bundle', async () => {
    const svid = await makeSvid(authority, ID);
    expect(code(() => verifyX509Svid([svid.certChainPem[0] as string], bundle))).toBe('ERR_SVID_UNTRUSTED'); // intermediate left out
    expect(code(() => verifyX509Svid(svid.certChainPem, { ...bundle, x509Authorities: [] }))).toBe('ERR_SVID_UNTRUSTED');
    const { authority: impostor } = await makeTrustDomain(TD); // same trust domain name, another CA
    const impostorSvid = await makeSvid(impostor, ID);
    expect(code(() => verifyX509Svid(impostorSvid.certChainPem, bundle))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('refuses a self-signed leaf carrying the right SPIFFE id', async () => {
    const selfSigned = await buildCert({ uris: [ID] });
    expect(code(() => verifyX509Svid([selfSigned.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
    // …and a self-signed one dressed as a CA, appended as its own "root"
    const fakeRoot = await buildCert({ ca: true });
    const leaf = await buildCert({ issuer: fakeRoot, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf.pem, fakeRoot.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('refuses an SVID of another trust domain', async () => {
    const other = await makeTrustDomain('other.internal');
    const svid = await makeSvid(other.authority, 'spiffe://other.internal/api');
    expect(code(() => verifyX509Svid(svid.certChainPem, bundle))).toBe('ERR_SVID_UNTRUSTED');
    // even when the bundle also holds the other root: the id is not in this trust domain
    expect(code(() => verifyX509Svid(svid.certChainPem, { ...bundle, x509Authorities: [authority.rootPem, other.authority.rootPem] }))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('refuses a leaf whose SPIFFE id is in another trust domain even though it chains', async () => {
    const leaf = await buildCert({ issuer: intermediate, uris: ['spiffe://evil.internal/api'] });
    expect(code(() => verifyX509Svid([leaf.pem, intermediate.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('refuses a leaf that is a CA, or may sign certificates', async () => {
    const caLeaf = await buildCert({ issuer: intermediate, ca: true, uris: [ID] });
    expect(code(() => verifyX509Svid([caLeaf.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
    const caLeafSigningOnly = await buildCert({ issuer: intermediate, ca: true, uris: [ID], keyUsage: x509.KeyUsageFlags.digitalSignature });
    expect(code(() => verifyX509Svid([caLeafSigningOnly.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
    const signer = await buildCert({ issuer: intermediate, uris: [ID], keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign });
    expect(code(() => verifyX509Svid([signer.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
    const noDigitalSignature = await buildCert({ issuer: intermediate, uris: [ID], keyUsage: x509.KeyUsageFlags.keyEncipherment });
    expect(code(() => verifyX509Svid([noDigitalSignature.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
  });

  it('refuses 0 or 2 URI SANs, a non-spiffe URI, the trust domain id', async () => {
    for (const uris of [[], [ID, 'spiffe://acme.internal/other'], ['https://acme.internal/api'], [`spiffe://${TD}`], ['spiffe://acme.internal/a/../b']]) {
      const leaf = await buildCert({ issuer: intermediate, uris, dns: ['api.acme.internal'] });
      expect(code(() => verifyX509Svid([leaf.pem, intermediate.pem], bundle)), JSON.stringify(uris)).toBe('ERR_SVID_INVALID');
    }
  });

  it('refuses an intermediate that is not a CA (a workload minting SVIDs with its own key)', async () => {
    const svid = await makeSvid(authority, ID);
    const victim = await loadTestCert(svid.certChainPem[0] as string, svid.privateKeyPem);
    const forged = await buildCert({ issuer: victim, uris: ['spiffe://acme.internal/admin'] });
    expect(code(() => verifyX509Svid([forged.pem, victim.pem, intermediate.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
    // a CA without basicConstraints is not a CA either
    const noBc = await buildCert({ issuer: root, noBasicConstraints: true, keyUsage: x509.KeyUsageFlags.keyCertSign });
    const leaf = await buildCert({ issuer: noBc, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf.pem, noBc.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
  });

  it('enforces pathLen and refuses a chain longer than 3', async () => {
    // the real intermediate has pathLen 0: it may not sign another CA
    const sub = await buildCert({ issuer: intermediate, ca: true });
    const leaf = await buildCert({ issuer: sub, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf.pem, sub.pem, intermediate.pem], bundle))).toBe('ERR_SVID_UNTRUSTED');
    // a root with pathLen 0 may not have an intermediate under it
    const strictRoot = await buildCert({ ca: true, pathLength: 0 });
    const inter = await buildCert({ issuer: strictRoot, ca: true, pathLength: 0 });
    const leaf2 = await buildCert({ issuer: inter, uris: [ID] });
    expect(code(() => verifyX509Svid([leaf2.pem, inter.pem], { ...bundle, x509Authorities: [strictRoot.pem] }))).toBe('ERR_SVID_UNTRUSTED');
    const svid = await makeSvid(authority, ID);
    expect(code(() => verifyX509Svid([...svid.certChainPem, authority.rootPem, authority.rootPem], bundle))).toBe('ERR_SVID_INVALID');
  });

  it('refuses an unknown critical extension and a repeated extension', async () => {
    const leaf = await buildCert({ issuer: intermediate, uris: [ID], extraExtensions: [new x509.Extension('1.2.3.4.5', true, new Uint8Array([5, 0]))] });
    expect(code(() => verifyX509Svid([leaf.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
    const eku = (): x509.Extension => new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]);
    const twice = await buildCert({ issuer: intermediate, uris: [ID], extraExtensions: [eku(), eku()] });
    expect(code(() => verifyX509Svid([twice.pem, intermediate.pem], bundle))).toBe('ERR_SVID_INVALID');
  });

  it('refuses garbage', async () => {
    const svid = await makeSvid(authority, ID);
    const twoInOne = (svid.certChainPem[0] as string) + (svid.certChainPem[1] as string);
    for (const bad of [[], ['garbage'], [new Uint8Array([48, 3, 1, 1, 1])], [twoInOne], [42], 'not an array']) {
      expect(code(() => verifyX509Svid(bad as never, bundle))).toBe('ERR_SVID_INVALID');
    }
    const tampered = new Uint8Array(new x509.X509Certificate(svid.certChainPem[0] as string).rawData);
    tampered[tampered.length - 3] = (tampered[tampered.length - 3] as number) ^ 0x01; // inside the signature
    expect(code(() => verifyX509Svid([tampered, svid.certChainPem[1] as string], bundle))).toBe('ERR_SVID_UNTRUSTED');
  });
});
