/**
 * Signed audit checkpoints: a tenant's audit chain head (seq and hash) at a moment, signed by
 * the PDP with an Ed25519 key. A copy kept outside Verity's database later proves that the
 * chain still holds that head: deleting or rewriting the tail changes the hash at that seq,
 * and without the private key no one can sign a checkpoint for the rewritten chain.
 */
import { calculateJwkThumbprint, CompactSign, compactVerify, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { isPlainObject, VerityError } from '@verity/core';

/** The JOSE `typ` of a checkpoint: never confused with a token or a policy bundle. */
export const AUDIT_CHECKPOINT_TYPE = 'verity-audit-checkpoint+jws';

/** What a checkpoint states. */
export interface AuditCheckpoint {
  tenant: string;
  /** Seq of the chain's newest event at `time` (0: empty chain). */
  seq: number;
  /** Hash of that event (the genesis hash for an empty chain). */
  hash: string;
  /** ISO-8601 time the checkpoint was made. */
  time: string;
}

/** A checkpoint-signing key pair; `kid` is the RFC 7638 thumbprint of the public key. */
export interface CheckpointKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** A new Ed25519 key pair for signing checkpoints (RFC 8037). */
export async function generateCheckpointKey(): Promise<CheckpointKey> {
  const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), kid }, publicJwk: { ...publicJwk, kid, alg: 'Ed25519', use: 'sig' } };
}

/** Sign `checkpoint` as a compact JWS (RFC 7515 §7.1), `alg` Ed25519, `typ` {@link AUDIT_CHECKPOINT_TYPE}. */
export async function signAuditCheckpoint(checkpoint: AuditCheckpoint, key: CheckpointKey): Promise<string> {
  const { tenant, seq, hash, time } = checkpoint;
  const payload = new TextEncoder().encode(JSON.stringify({ tenant, seq, hash, time }));
  return new CompactSign(payload)
    .setProtectedHeader({ alg: 'Ed25519', kid: key.kid, typ: AUDIT_CHECKPOINT_TYPE })
    .sign(await importJWK(key.privateJwk, 'Ed25519'));
}

/**
 * Verify a checkpoint's signature with `publicJwk` (only Ed25519 is accepted, and only the
 * checkpoint `typ`) and return what it states.
 *
 * @throws VerityError ERR_AUDIT_CHECKPOINT_INVALID when it is not a checkpoint, was altered, or
 * was signed by another key.
 */
export async function verifyAuditCheckpoint(jws: string, publicJwk: JWK): Promise<AuditCheckpoint> {
  let payload: unknown;
  try {
    const key = await importJWK(publicJwk, 'Ed25519');
    const verified = await compactVerify(jws, key, { algorithms: ['Ed25519', 'EdDSA'] });
    if (verified.protectedHeader.typ !== AUDIT_CHECKPOINT_TYPE) throw new Error('not an audit checkpoint');
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch (error) {
    throw new VerityError('ERR_AUDIT_CHECKPOINT_INVALID', 'the audit checkpoint does not verify with this key', { cause: error });
  }
  const p = isPlainObject(payload) ? payload : {};
  if (typeof p.tenant !== 'string' || typeof p.seq !== 'number' || !Number.isSafeInteger(p.seq) || p.seq < 0 || typeof p.hash !== 'string' || typeof p.time !== 'string') {
    throw new VerityError('ERR_AUDIT_CHECKPOINT_INVALID', 'the audit checkpoint does not state a tenant, seq, hash and time');
  }
  return { tenant: p.tenant, seq: p.seq, hash: p.hash, time: p.time };
}
