/**
 * Test fixtures for this package's tests (and other packages' e2e tests): trust domains, SVIDs,
 * and hand-built certificates for attack cases. Every key is generated on the spot.
 * Not exported from index.ts: import it by path, from tests only.
 */
import { generateCaAuthority, randomSerial, type CaAuthority } from './x509-ca.js';
import { generateSvidKey, issueX509Svid } from './x509-svid.js';
import type { X509Svid } from './svid-source.js';
import type { TrustBundle } from './trust-bundle.js';
import { crypto, toPem, x509, type CryptoKey, type CryptoKeyPair } from './x509-provider.js';

/** A trust domain with one CA generation and its bundle. */
export async function makeTrustDomain(trustDomain: string, options: { now?: () => number; lifetimeSec?: number } = {}): Promise<{ authority: CaAuthority; bundle: TrustBundle }> {
  const authority = await generateCaAuthority({ trustDomain, ...options });
  return { authority, bundle: { trustDomain, x509Authorities: [authority.rootPem], jwtAuthorities: [], sequence: 1, refreshHintSec: 300 } };
}

/** A fresh key and an SVID for `spiffeId` from `authority`. */
export async function makeSvid(authority: CaAuthority, spiffeId: string, options: { now?: () => number; ttlSec?: number } = {}): Promise<X509Svid> {
  const { privateKeyPem, publicKeyPem } = await generateSvidKey();
  const issued = await issueX509Svid({ authority, spiffeId, publicKeyPem, ttlSec: options.ttlSec ?? 3600, ...(options.now ? { now: options.now } : {}) });
  return { spiffeId, certChainPem: issued.certChainPem, privateKeyPem, expiresAtMs: issued.expiresAtMs, issuedAtMs: issued.issuedAtMs };
}

/** A certificate with its key pair, for hand-built chains. */
export interface TestCert {
  pem: string;
  der: Uint8Array;
  keys: CryptoKeyPair;
  keyPem: string;
  cert: x509.X509Certificate;
}

/** Wrap an existing PEM certificate and its PKCS#8 key as a {@link TestCert} (to sign with it). */
export async function loadTestCert(pem: string, keyPem: string): Promise<TestCert> {
  const cert = new x509.X509Certificate(pem);
  const der = new Uint8Array(cert.rawData);
  const pkcs8 = Buffer.from(keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const params = { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, params, true, ['sign']);
  const publicKey = await cert.publicKey.export(params, ['verify'], crypto);
  return { pem, der, keys: { privateKey, publicKey: publicKey as CryptoKey }, keyPem, cert };
}

/** Options of {@link buildCert}: every SVID rule can be broken on purpose. */
export interface BuildCertOptions {
  /** Signer; self-signed when absent. */
  issuer?: TestCert;
  ca?: boolean;
  pathLength?: number;
  /** Omit basicConstraints entirely. */
  noBasicConstraints?: boolean;
  uris?: string[];
  dns?: string[];
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
  extraExtensions?: x509.Extension[];
  keys?: CryptoKeyPair;
  /** The subject name (default `O=Test`), e.g. `CN=laptop-1, O=Test` for a device certificate. */
  subject?: string;
}

/** A certificate built exactly as told (P-256, ES256). */
export async function buildCert(options: BuildCertOptions): Promise<TestCert> {
  const keys = options.keys ?? ((await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair);
  const ca = options.ca ?? false;
  const extensions: x509.Extension[] = [];
  if (!options.noBasicConstraints) extensions.push(new x509.BasicConstraintsExtension(ca, options.pathLength, true));
  extensions.push(new x509.KeyUsagesExtension(options.keyUsage ?? (ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature), true));
  const names = [...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })), ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value }))];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(...(options.extraExtensions ?? []));
  const now = Date.now();
  const common = {
    serialNumber: randomSerial(),
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 3600_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  };
  const cert = options.issuer
    ? await x509.X509CertificateGenerator.create({ ...common, subject: options.subject ?? 'O=Test', issuer: options.issuer.cert.subjectName, publicKey: keys.publicKey, signingKey: options.issuer.keys.privateKey })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: options.subject ?? 'O=Test', keys });
  const keyPem = toPem(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { pem: cert.toString('pem') + '\n', der: new Uint8Array(cert.rawData), keys, keyPem, cert };
}
