/**
 * Sealing of secrets at rest (token-signing private keys): AES-256-GCM under a 32-byte master
 * key, with the purpose bound as additional data so a sealed value cannot be moved to another
 * use. Output: `v1.<iv>.<ciphertext>.<tag>`, base64url parts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VerityError } from '@verity/core';

export interface SecretBox {
  seal(plaintext: string, purpose: string): string;
  /** Throws ERR_INTERNAL when the value was sealed under another key or purpose, or altered. */
  open(sealed: string, purpose: string): string;
}

/** Parse a master key given as base64url (or base64) of exactly 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== 32) throw new TypeError('the master key must be 32 bytes, base64url-encoded');
  return key;
}

/** A new random master key, base64url. */
export function generateMasterKey(): string {
  return randomBytes(32).toString('base64url');
}

export function createSecretBox(masterKey: Buffer): SecretBox {
  if (masterKey.length !== 32) throw new TypeError('createSecretBox: the master key must be 32 bytes');
  const key = Buffer.from(masterKey);
  return {
    seal(plaintext, purpose) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(purpose, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed, purpose) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== 'v1' || !iv || body === undefined || !tag) throw new VerityError('ERR_INTERNAL', 'a sealed secret is damaged');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(purpose, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new VerityError('ERR_INTERNAL', 'a sealed secret cannot be opened with this master key', { cause: error });
      }
    },
  };
}
