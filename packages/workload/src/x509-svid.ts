/**
 * X.509-SVIDs (SPIFFE X509-SVID specification): workload keys and CSRs, issuing a leaf from a
 * {@link CaAuthority}, and verifying a presented chain against a {@link TrustBundle}.
 */
import { createPublicKey, X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import { VerityError } from '@verity/core';
import { parseWorkloadSpiffeId } from './spiffe-id.js';
import type { TrustBundle } from './trust-bundle.js';
import { BACKDATE_MS, floorToSecond, randomSerial, type CaAuthority } from './x509-ca.js';
import { crypto, fromPem, importSigningKey, MAX_OBJECT_BYTES, toPem, x509, type CryptoKey, type CryptoKeyPair } from './x509-provider.js';

/** Longest SVID lifetime we issue (seconds), the registration's `x509_ttl_sec` maximum. */
export const MAX_X509_SVID_TTL_SEC = 86_400;
/** Most certificates in a presented chain: leaf and at most two intermediates. */
export const MAX_CHAIN_LENGTH = 3;

/** Extensions this verifier understands; any other marked critical makes the certificate invalid (RFC 5280 §4.2). */
const KNOWN_CRITICAL = new Set(['2.5.29.19', '2.5.29.15', '2.5.29.17', '2.5.29.37', '2.5.29.14', '2.5.29.35']);
const SAN_OID = '2.5.29.17';

/** A new P-256 key pair for a workload: PKCS#8 and SPKI PEM. */
export async function generateSvidKey(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return {
    privateKeyPem: toPem(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'),
    publicKeyPem: toPem(await crypto.subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY'),
  };
}

/**
 * A PKCS#10 CSR (RFC 2986) signed by `privateKeyPem` (P-256 or RSA ≥ 2048, PKCS#8 PEM), PEM. Its
 * subject is empty: the CA ignores subject and SANs; the CSR only proves possession of the key.
 * @throws TypeError for another kind of key.
 */
export async function createCsr(privateKeyPem: string): Promise<string> {
  const { key, publicKey, algorithm } = await importSigningKey(privateKeyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys: { privateKey: key, publicKey }, signingAlgorithm: algorithm });
  return csr.toString('pem') + '\n';
}

function csrInvalid(why: string): VerityError {
  return new VerityError('ERR_CSR_INVALID', `invalid CSR: ${why}`);
}

/** A public key we accept for an SVID: ECDSA P-256 or RSA of at least 2048 bits; else null. */
function acceptedKey(key: KeyObject): KeyObject | null {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return key;
  return null;
}

/**
 * Check a PEM PKCS#10 CSR: one `CERTIFICATE REQUEST` block, a valid self-signature (proof of
 * possession), and a P-256 or RSA ≥ 2048 key. Subject and requested extensions are ignored.
 * Returns the key (SPKI PEM) and the CSR's DER (for `csr_sha256` in a renew proof).
 * @throws VerityError `ERR_CSR_INVALID`
 */
export async function verifyCsr(csrPem: unknown): Promise<{ publicKeyPem: string; der: Uint8Array }> {
  if (typeof csrPem !== 'string' || csrPem.length > MAX_OBJECT_BYTES) throw csrInvalid('not a PEM text of a sane size');
  const der = fromPem(csrPem, 'CERTIFICATE REQUEST');
  if (der === null) throw csrInvalid('not one PEM "CERTIFICATE REQUEST" block');
  let csr: x509.Pkcs10CertificateRequest;
  let key: KeyObject | null;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    key = acceptedKey(createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }));
  } catch {
    throw csrInvalid('not a PKCS#10 request');
  }
  if (key === null) throw csrInvalid('the key must be ECDSA P-256 or RSA of at least 2048 bits');
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw csrInvalid('the signature does not verify');
  return { publicKeyPem: key.export({ format: 'pem', type: 'spki' }) as string, der };
}

/** Options of {@link issueX509Svid}. */
export interface IssueX509SvidOptions {
  authority: CaAuthority;
  /** The workload's SPIFFE id; must be in the authority's trust domain and have a path. */
  spiffeId: string;
  /** The workload's public key (SPKI PEM), usually from {@link verifyCsr}. */
  publicKeyPem: string;
  /** Lifetime, seconds: an integer from 1 to 86400. Capped at the authority's end. */
  ttlSec: number;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

const signerCache = new WeakMap<CaAuthority, Promise<{ key: CryptoKey; cert: x509.X509Certificate }>>();

function signerOf(authority: CaAuthority): Promise<{ key: CryptoKey; cert: x509.X509Certificate }> {
  let signer = signerCache.get(authority);
  if (signer === undefined) {
    signer = importSigningKey(authority.intermediateKeyPem).then(({ key }) => ({ key, cert: new x509.X509Certificate(authority.intermediatePem) }));
    signerCache.set(authority, signer);
  }
  return signer;
}

/**
 * Issue an X.509-SVID (SPIFFE X509-SVID §§2–4): exactly one URI SAN (the SPIFFE id), a subject of
 * `O=Verity` only, basicConstraints cA=false (critical), keyUsage digitalSignature (critical),
 * EKU serverAuth+clientAuth, a random 128-bit serial, signed by the intermediate. Valid from
 * now − 10 s to min(now + ttlSec, the authority's end).
 * @returns the chain `[leafPem, intermediatePem]`, the serial (lowercase hex) and the times (epoch ms).
 * @throws VerityError `ERR_SPIFFE_ID_INVALID` (bad id or other trust domain), `ERR_CSR_INVALID` (bad key); TypeError (bad ttlSec).
 */
export async function issueX509Svid(options: IssueX509SvidOptions): Promise<{ certChainPem: string[]; serial: string; issuedAtMs: number; expiresAtMs: number }> {
  const { authority, ttlSec } = options;
  if (!Number.isSafeInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_X509_SVID_TTL_SEC) {
    throw new TypeError(`issueX509Svid: ttlSec must be an integer from 1 to ${MAX_X509_SVID_TTL_SEC}`);
  }
  const id = parseWorkloadSpiffeId(options.spiffeId, authority.trustDomain);
  let publicKey: KeyObject | null = null;
  const spkiDer = typeof options.publicKeyPem === 'string' ? fromPem(options.publicKeyPem, 'PUBLIC KEY') : null;
  try {
    if (spkiDer !== null) publicKey = acceptedKey(createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' }));
  } catch {
    publicKey = null;
  }
  if (publicKey === null) throw csrInvalid('the key must be a public ECDSA P-256 or RSA ≥ 2048 key');
  const issuedAtMs = (options.now ?? Date.now)();
  const expiresAtMs = Math.min(floorToSecond(issuedAtMs + ttlSec * 1000), authority.notAfterMs);
  const signer = await signerOf(authority);
  const serial = randomSerial();
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ O: ['Verity'] }],
    issuer: signer.cert.subjectName,
    notBefore: new Date(floorToSecond(issuedAtMs - BACKDATE_MS)),
    notAfter: new Date(expiresAtMs),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: new Uint8Array(spki),
    signingKey: signer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id.id }]),
      await x509.SubjectKeyIdentifierExtension.create(new Uint8Array(spki)),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
  });
  return { certChainPem: [leaf.toString('pem') + '\n', authority.intermediatePem], serial, issuedAtMs, expiresAtMs };
}

// ---------------------------------------------------------------------------------------------
// Verification

interface Parsed {
  node: NodeCertificate;
  cert: x509.X509Certificate;
}

function svidError(code: 'ERR_SVID_INVALID' | 'ERR_SVID_UNTRUSTED' | 'ERR_SVID_EXPIRED', why: string): VerityError {
  return new VerityError(code, `X.509-SVID refused: ${why}`);
}

function parseCertificate(input: unknown): Parsed | null {
  let der: Uint8Array | null = null;
  if (typeof input === 'string' && input.length <= MAX_OBJECT_BYTES * 2) der = fromPem(input, 'CERTIFICATE');
  else if (input instanceof Uint8Array && input.length <= MAX_OBJECT_BYTES) der = input;
  if (der === null) return null;
  try {
    return { node: new NodeCertificate(der), cert: new x509.X509Certificate(der) };
  } catch {
    return null;
  }
}

const rootCache = new WeakMap<TrustBundle, { source: readonly string[]; roots: Parsed[] }>();

/** The bundle's roots, parsed once per bundle object; anything not a CA certificate is skipped. */
function rootsOf(bundle: TrustBundle): Parsed[] {
  const cached = rootCache.get(bundle);
  if (cached !== undefined && cached.source === bundle.x509Authorities) return cached.roots;
  const roots = (Array.isArray(bundle.x509Authorities) ? bundle.x509Authorities : [])
    .map(parseCertificate)
    .filter((r): r is Parsed => r !== null && r.cert.getExtension(x509.BasicConstraintsExtension)?.ca === true);
  rootCache.set(bundle, { source: bundle.x509Authorities, roots });
  return roots;
}

function hasUnknownCriticalExtension(p: Parsed): boolean {
  const oids = p.cert.extensions.map((e) => e.type);
  if (new Set(oids).size !== oids.length) return true; // RFC 5280 §4.2: an extension appears at most once
  return p.cert.extensions.some((e) => e.critical && !KNOWN_CRITICAL.has(e.type));
}

function issuedBy(child: Parsed, issuer: Parsed): boolean {
  try {
    return child.node.checkIssued(issuer.node) && child.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

/** The leaf's SPIFFE id (X509-SVID §§2, 4.1, 4.3): not a CA, digitalSignature without certificate signing, exactly one URI SAN. */
function leafSpiffeId(leaf: Parsed): string {
  const bc = leaf.cert.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca === true || leaf.node.ca) throw svidError('ERR_SVID_INVALID', 'the leaf is a CA certificate');
  const ku = leaf.cert.getExtension(x509.KeyUsagesExtension);
  const signing = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  if (ku === null || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0 || (ku.usages & signing) !== 0) {
    throw svidError('ERR_SVID_INVALID', 'the leaf key usage must be digitalSignature and not certificate signing');
  }
  const san = leaf.cert.getExtensions(SAN_OID).length === 1 ? leaf.cert.getExtension(x509.SubjectAlternativeNameExtension) : null;
  const uris = san?.names.items.filter((n) => n.type === 'url') ?? [];
  if (uris.length !== 1) throw svidError('ERR_SVID_INVALID', 'the leaf must have exactly one URI SAN');
  try {
    return parseWorkloadSpiffeId(uris[0]?.value).id;
  } catch {
    throw svidError('ERR_SVID_INVALID', 'the URI SAN is not a workload SPIFFE id');
  }
}

/** Options of {@link verifyX509Svid}. */
export interface VerifyX509SvidOptions {
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Verify an X.509-SVID chain (leaf first, then intermediates; PEM strings or DER bytes; 1–3
 * certificates) against `bundle` (SPIFFE X509-SVID §§4–5, RFC 5280 §6 for the path):
 * - the leaf is not a CA, has digitalSignature and not keyCertSign/cRLSign, exactly one URI SAN
 *   that is a workload SPIFFE id in the bundle's trust domain;
 * - each next certificate is a CA (cA=true, keyCertSign when keyUsage is present, pathLen obeyed),
 *   names and signs the previous one;
 * - the last one is a bundle root or is signed by one;
 * - no unknown critical extension, no extension twice; every certificate, the root included,
 *   valid at `now` (notBefore ≤ now ≤ notAfter).
 * Synchronous (node:crypto); parsed roots are cached per bundle object.
 * @returns the SPIFFE id, the leaf serial (lowercase hex) and the leaf's notAfter (epoch ms).
 * @throws VerityError `ERR_SVID_INVALID` (malformed or not an SVID), `ERR_SVID_UNTRUSTED` (does not
 *   chain to the bundle, other trust domain), `ERR_SVID_EXPIRED` (a certificate past notAfter).
 */
export function verifyX509Svid(
  chain: readonly (string | Uint8Array)[],
  bundle: TrustBundle,
  options: VerifyX509SvidOptions = {},
): { spiffeId: string; serial: string; expiresAtMs: number } {
  const parsed = parseChain(chain, svidError);
  const leaf = parsed[0] as Parsed;
  const spiffeId = leafSpiffeId(leaf);
  if (parseWorkloadSpiffeId(spiffeId).trustDomain !== bundle.trustDomain) throw svidError('ERR_SVID_UNTRUSTED', 'the SPIFFE id is not in the trust domain');
  verifyPath(parsed, rootsOf(bundle), (options.now ?? Date.now)(), svidError);
  return { spiffeId, serial: leaf.cert.serialNumber.toLowerCase(), expiresAtMs: leaf.cert.notAfter.getTime() };
}

/** How a path check names its refusal: malformed, not chaining to a root, past its validity. */
type PathError = (code: 'ERR_SVID_INVALID' | 'ERR_SVID_UNTRUSTED' | 'ERR_SVID_EXPIRED', why: string) => VerityError;

/** 1–{@link MAX_CHAIN_LENGTH} certificates, parsed, none with an unknown critical or repeated extension. */
function parseChain(chain: readonly (string | Uint8Array)[], fail: PathError): Parsed[] {
  if (!Array.isArray(chain) || chain.length === 0 || chain.length > MAX_CHAIN_LENGTH) {
    throw fail('ERR_SVID_INVALID', `the chain must hold 1 to ${MAX_CHAIN_LENGTH} certificates`);
  }
  const certs = chain.map(parseCertificate);
  if (certs.some((c) => c === null)) throw fail('ERR_SVID_INVALID', 'a chain element is not one DER or PEM certificate');
  const parsed = certs as Parsed[];
  if (parsed.some(hasUnknownCriticalExtension)) throw fail('ERR_SVID_INVALID', 'a certificate has an unknown critical or repeated extension');
  return parsed;
}

/**
 * The path from the leaf (`parsed[0]`) to one of `roots` (RFC 5280 §6, the subset above): each
 * next certificate a CA that names and signs the previous one, path lengths obeyed, the last one
 * a root or signed by one, every certificate (the root included) valid at `nowMs`. Returns the
 * path's earliest notAfter (epoch ms).
 */
function verifyPath(parsed: readonly Parsed[], roots: readonly Parsed[], nowMs: number, fail: PathError): number {
  const leaf = parsed[0] as Parsed;
  for (let i = 1; i < parsed.length; i++) {
    const issuer = parsed[i] as Parsed;
    const bc = issuer.cert.getExtension(x509.BasicConstraintsExtension);
    const ku = issuer.cert.getExtension(x509.KeyUsagesExtension);
    if (bc?.ca !== true || (ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0)) {
      throw fail('ERR_SVID_UNTRUSTED', 'an intermediate is not a CA certificate');
    }
    // pathLen counts the intermediates below this one (RFC 5280 §4.2.1.9).
    if (bc.pathLength !== undefined && i - 1 > bc.pathLength) throw fail('ERR_SVID_UNTRUSTED', 'the path length constraint is exceeded');
    if (!issuedBy(parsed[i - 1] as Parsed, issuer)) throw fail('ERR_SVID_UNTRUSTED', 'the chain is broken');
  }

  const top = parsed[parsed.length - 1] as Parsed;
  // The chain may end with the root itself; a leaf can never be one (it is not a CA).
  const topIsRoot = top !== leaf && roots.some((r) => r.node.raw.equals(top.node.raw));
  const anchor = topIsRoot ? top : roots.find((r) => issuedBy(top, r));
  const intermediates = topIsRoot ? parsed.length - 2 : parsed.length - 1;
  if (anchor === undefined) throw fail('ERR_SVID_UNTRUSTED', 'the chain does not end at a trusted root');
  const rootPathLength = anchor.cert.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (rootPathLength !== undefined && intermediates > rootPathLength) throw fail('ERR_SVID_UNTRUSTED', 'the path length constraint is exceeded');

  const path = topIsRoot ? parsed : [...parsed, anchor];
  for (const p of path) {
    if (nowMs < p.cert.notBefore.getTime()) throw fail('ERR_SVID_INVALID', 'a certificate is not valid yet');
    if (nowMs > p.cert.notAfter.getTime()) throw fail('ERR_SVID_EXPIRED', 'a certificate has expired');
  }
  // When the path stops being valid: its earliest notAfter (epoch ms).
  return Math.min(...path.map((p) => p.cert.notAfter.getTime()));
}

/** The most device certificate authorities a tenant may name. */
export const MAX_DEVICE_AUTHORITIES = 8;

const deviceRootCache = new WeakMap<readonly string[], Parsed[]>();

/** Parsed CA certificates of a tenant's device trust (`settings.risk.devices.certificate_authorities`). */
function deviceRootsOf(authorities: readonly string[]): Parsed[] {
  let roots = deviceRootCache.get(authorities);
  if (roots === undefined) {
    roots = authorities.map(parseCertificate).filter((r): r is Parsed => r !== null && r.cert.getExtension(x509.BasicConstraintsExtension)?.ca === true);
    deviceRootCache.set(authorities, roots);
  }
  return roots;
}

/**
 * Check a tenant's device certificate authorities (PEM, 1–{@link MAX_DEVICE_AUTHORITIES}): each
 * must be one CA certificate (basicConstraints cA, keyCertSign when keyUsage is present, no
 * unknown critical extension) valid at `nowMs`. Returns the reason one is not, or null.
 */
export function deviceAuthoritiesProblem(authorities: readonly string[], nowMs: number = Date.now()): string | null {
  if (authorities.length === 0 || authorities.length > MAX_DEVICE_AUTHORITIES) return `1 to ${MAX_DEVICE_AUTHORITIES} certificate authorities`;
  for (const [index, pem] of authorities.entries()) {
    const parsed = parseCertificate(pem);
    if (parsed === null) return `[${index}] is not one PEM certificate`;
    if (parsed.cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) return `[${index}] is not a CA certificate (basicConstraints cA)`;
    const ku = parsed.cert.getExtension(x509.KeyUsagesExtension);
    if (ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) return `[${index}] may not sign certificates (keyUsage without keyCertSign)`;
    if (hasUnknownCriticalExtension(parsed)) return `[${index}] has an unknown critical or repeated extension`;
    if (nowMs < parsed.cert.notBefore.getTime() || nowMs > parsed.cert.notAfter.getTime()) return `[${index}] is not within its validity period`;
  }
  return null;
}

/**
 * Verify a device certificate chain a PEP's TLS handshake presented (leaf first, then
 * intermediates; PEM) against the tenant's device certificate authorities, with the path rules
 * of {@link verifyX509Svid}; the leaf must not be a CA, and its Subject common name is the device
 * id (as the MDM that enrolled it named it).
 * @returns the device id (the leaf's CN) and when the chain stops being valid: its earliest
 *   notAfter, the root's included (epoch ms).
 * @throws VerityError `ERR_DEVICE_CERTIFICATE` with the reason (malformed, untrusted, expired,
 *   no usable common name).
 */
export function verifyDeviceCertificate(chain: readonly string[], authorities: readonly string[], nowMs: number): { deviceId: string; expiresAtMs: number } {
  const fail: PathError = (_code, why) => new VerityError('ERR_DEVICE_CERTIFICATE', `device certificate refused: ${why}`);
  const parsed = parseChain(chain, fail);
  const leaf = parsed[0] as Parsed;
  if (leaf.cert.getExtension(x509.BasicConstraintsExtension)?.ca === true || leaf.node.ca) throw fail('ERR_SVID_INVALID', 'the leaf is a CA certificate');
  const names = leaf.cert.subjectName.getField('CN');
  const deviceId = names.length === 1 ? names[0] : undefined;
  if (deviceId === undefined || !/^[A-Za-z0-9._:-]{1,128}$/.test(deviceId)) throw fail('ERR_SVID_INVALID', 'the subject must have one common name that is a device id');
  return { deviceId, expiresAtMs: verifyPath(parsed, deviceRootsOf(authorities), nowMs, fail) };
}
