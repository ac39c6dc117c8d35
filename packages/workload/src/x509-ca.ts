/**
 * A trust domain's X.509 certificate authority: a self-signed root and an intermediate that signs
 * X.509-SVIDs (SPIFFE X509-SVID §3 signing certificates; RFC 5280 §4.2.1.9 basicConstraints).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { trustDomainId, assertTrustDomain } from './spiffe-id.js';
import { crypto, toPem, x509, type CryptoKey, type CryptoKeyPair } from './x509-provider.js';

/** One CA generation of a trust domain: root and intermediate with their keys (PKCS#8 PEM). */
export interface CaAuthority {
  /** Random id naming this generation (a UUID). */
  id: string;
  trustDomain: string;
  /** Self-signed root, PEM: URI SAN `spiffe://<td>`, cA=true, keyCertSign|cRLSign. Goes in the bundle. */
  rootPem: string;
  /** Root private key, PKCS#8 PEM. A secret: store it encrypted. */
  rootKeyPem: string;
  /** Intermediate signed by the root, PEM: cA=true pathLen 0. Second element of every SVID chain. */
  intermediatePem: string;
  /** Intermediate private key, PKCS#8 PEM. A secret: store it encrypted. */
  intermediateKeyPem: string;
  /** Epoch ms; the end of both certificates (no SVID it issues outlives it). */
  notAfterMs: number;
  /** Epoch ms; when it was made. */
  createdAtMs: number;
}

/** Options of {@link generateCaAuthority}. */
export interface GenerateCaAuthorityOptions {
  trustDomain: string;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Lifetime of root and intermediate, seconds. Default 365 days; 1 hour to 10 years. */
  lifetimeSec?: number;
}

/** Default CA lifetime: 365 days, in seconds. */
export const DEFAULT_CA_LIFETIME_SEC = 365 * 24 * 3600;
/** Certificates start this much before "now" so that a peer whose clock lags a little accepts them (ms). */
export const BACKDATE_MS = 10_000;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A random positive serial of 16 bytes, hex (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B: ≥ 64 random bits). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01; // positive and no leading zero byte
  return bytes.toString('hex');
}

/** Whole seconds: X.509 times carry no milliseconds (RFC 5280 §4.1.2.5). */
export function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

async function exportPkcs8(key: CryptoKey): Promise<string> {
  return toPem(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/**
 * Make a new CA generation for `trustDomain`: a P-256 root (self-signed, URI SAN `spiffe://<td>`,
 * basicConstraints cA=true critical, keyUsage keyCertSign|cRLSign critical) and a P-256
 * intermediate signed by it (cA=true pathLen 0 critical, same key usage and SAN). Both valid from
 * now − 10 s for `lifetimeSec`.
 * @throws VerityError `ERR_TRUST_DOMAIN_INVALID`; TypeError for a bad lifetime.
 */
export async function generateCaAuthority(options: GenerateCaAuthorityOptions): Promise<CaAuthority> {
  const trustDomain = assertTrustDomain(options.trustDomain);
  const lifetimeSec = options.lifetimeSec ?? DEFAULT_CA_LIFETIME_SEC;
  if (!Number.isSafeInteger(lifetimeSec) || lifetimeSec < 3600 || lifetimeSec > 10 * DEFAULT_CA_LIFETIME_SEC) {
    throw new TypeError('generateCaAuthority: lifetimeSec must be an integer from 3600 to 10 years');
  }
  const nowMs = (options.now ?? Date.now)();
  const notBefore = new Date(floorToSecond(nowMs - BACKDATE_MS));
  const notAfterMs = floorToSecond(nowMs + lifetimeSec * 1000);
  const notAfter = new Date(notAfterMs);
  const san = new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }]);
  const caUsage = new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true);

  const rootKeys = (await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ O: ['Verity'] }, { CN: [`${trustDomain} root CA`] }],
    notBefore,
    notAfter,
    signingAlgorithm: ES256,
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      caUsage,
      san,
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });

  const intermediateKeys = (await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ O: ['Verity'] }, { CN: [`${trustDomain} intermediate CA`] }],
    issuer: root.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: ES256,
    publicKey: intermediateKeys.publicKey,
    signingKey: rootKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      caUsage,
      san,
      await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });

  return {
    id: randomUUID(),
    trustDomain,
    rootPem: root.toString('pem') + '\n',
    rootKeyPem: await exportPkcs8(rootKeys.privateKey),
    intermediatePem: intermediate.toString('pem') + '\n',
    intermediateKeyPem: await exportPkcs8(intermediateKeys.privateKey),
    notAfterMs,
    createdAtMs: nowMs,
  };
}
