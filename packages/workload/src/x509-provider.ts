/**
 * The one place that loads @peculiar/x509: it needs `reflect-metadata` before it and a WebCrypto
 * provider (node:crypto's). Other modules import `x509` from here, never from the package itself.
 */
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };

/** WebCrypto types under the names of the DOM lib (not loaded: this is a Node project). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type SignatureAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm;

/** node:crypto's WebCrypto, the provider @peculiar/x509 uses. */
export const crypto = webcrypto;

/** Largest certificate, CSR or key we parse (bytes of PEM or DER); SVIDs are well under 2 KiB. */
export const MAX_OBJECT_BYTES = 16 * 1024;

/** PEM text of `der` under `label` (RFC 7468 §2: 64-column base64). */
export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The DER bytes of a PEM text holding exactly one block labelled `label` (RFC 7468), or null:
 * a second block, another label, or text that is not strict base64 is refused rather than ignored.
 */
export function fromPem(text: string, label: string): Uint8Array | null {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
  const blocks = [...text.matchAll(re)];
  if (blocks.length !== 1) return null;
  const [whole, begin, body, end] = blocks[0] as unknown as [string, string, string, string];
  if (begin !== label || end !== label) return null;
  if (text.replace(whole, '').trim() !== '') return null;
  const b64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const der = Buffer.from(b64, 'base64');
  if (der.toString('base64') !== b64) return null;
  return new Uint8Array(der);
}

/** A P-256 or RSA private key (PKCS#8 PEM) as a WebCrypto signing key and its algorithm. */
export async function importSigningKey(privateKeyPem: string): Promise<{ key: CryptoKey; publicKey: CryptoKey; algorithm: SignatureAlgorithm; jwsAlg: 'ES256' | 'RS256' }> {
  const keyObject = createPrivateKey(privateKeyPem);
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  if (keyObject.asymmetricKeyType === 'ec' && keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    const params = { name: 'ECDSA', namedCurve: 'P-256' };
    return {
      key: await crypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign']),
      publicKey: await crypto.subtle.importKey('spki', spki, params, true, ['verify']),
      algorithm: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
      jwsAlg: 'ES256',
    };
  }
  if (keyObject.asymmetricKeyType === 'rsa' && (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) {
    const params = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return {
      key: await crypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign']),
      publicKey: await crypto.subtle.importKey('spki', spki, params, true, ['verify']),
      algorithm: { name: 'RSASSA-PKCS1-v1_5' },
      jwsAlg: 'RS256',
    };
  }
  throw new TypeError('the key must be ECDSA P-256 or RSA of at least 2048 bits');
}

/** Bytes of strict standard base64 (RFC 4648 §4, as JWK `x5c` uses, RFC 7517 §4.7) of at most MAX_OBJECT_BYTES, or null. */
export function fromBase64Der(text: unknown): Uint8Array | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > (MAX_OBJECT_BYTES * 4) / 3 + 4) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const der = Buffer.from(text, 'base64');
  return der.toString('base64') === text ? new Uint8Array(der) : null;
}
