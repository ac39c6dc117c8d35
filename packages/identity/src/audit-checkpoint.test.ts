import { describe, expect, it } from 'vitest';
import { generateCheckpointKey, signAuditCheckpoint, verifyAuditCheckpoint } from './audit-checkpoint.js';

const checkpoint = { tenant: 'acme', seq: 42, hash: 'a'.repeat(64), time: '2025-01-01T00:00:00.000Z' };

describe('audit checkpoints', () => {
  it('verify with the public key and state tenant, seq, hash and time', async () => {
    const key = await generateCheckpointKey();
    expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: key.kid });
    expect(key.publicJwk).not.toHaveProperty('d');
    const jws = await signAuditCheckpoint(checkpoint, key);
    expect(await verifyAuditCheckpoint(jws, key.publicJwk)).toEqual(checkpoint);
  });

  it('refuse another key, an altered payload and a JWS of another type', async () => {
    const key = await generateCheckpointKey();
    const jws = await signAuditCheckpoint(checkpoint, key);
    const refused = (promise: Promise<unknown>) => expect(promise).rejects.toMatchObject({ code: 'ERR_AUDIT_CHECKPOINT_INVALID' });
    await refused(verifyAuditCheckpoint(jws, (await generateCheckpointKey()).publicJwk));
    const [header, , signature] = jws.split('.');
    const forged = Buffer.from(JSON.stringify({ ...checkpoint, seq: 40 })).toString('base64url');
    await refused(verifyAuditCheckpoint(`${header}.${forged}.${signature}`, key.publicJwk));
    await refused(verifyAuditCheckpoint('not a jws', key.publicJwk));
  });
});
