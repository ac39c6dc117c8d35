import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateReceiptKey, signReceipt, type ReceiptClaims } from './receipt.js';

const claims: ReceiptClaims = {
  iss: 'https://pdp.example/tenants/acme',
  tenant: 'acme',
  principal: 'User::"al\\"ice"',
  action: 'read',
  resource_type: 'Order',
  resource_id: 'o-1',
  decision_id: 'd-1',
  policy_version: 3,
  jti: 'd-1',
  iat: 1_800_000_000,
  exp: 1_800_000_030,
};

describe('signReceipt', () => {
  it('signs a receipt jose verifies with the same secret, header exactly as the data tier expects', async () => {
    const key = generateReceiptKey();
    const receipt = await signReceipt(claims, key);
    const headerText = Buffer.from(receipt.split('.')[0] as string, 'base64url').toString('utf8');
    expect(headerText).toBe(`{"alg":"HS256","typ":"verity-receipt+jwt","kid":"${key.kid}"}`);
    const { payload, protectedHeader } = await jwtVerify(receipt, key.secret, { algorithms: ['HS256'], typ: 'verity-receipt+jwt', currentDate: new Date(1_800_000_010_000) });
    expect(payload).toEqual(claims);
    expect(protectedHeader).toEqual(decodeProtectedHeader(receipt));
  });

  it('does not verify under another key, and refuses a secret of the wrong size', async () => {
    const receipt = await signReceipt(claims, generateReceiptKey());
    await expect(jwtVerify(receipt, generateReceiptKey().secret, { currentDate: new Date(1_800_000_010_000) })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    await expect(signReceipt(claims, { kid: 'k', secret: new Uint8Array(16) })).rejects.toThrow(TypeError);
  });

  it('makes kids of 16 random bytes and secrets of 32', () => {
    const a = generateReceiptKey();
    const b = generateReceiptKey();
    expect(Buffer.from(a.kid, 'base64url')).toHaveLength(16);
    expect(a.secret).toHaveLength(32);
    expect(a.kid).not.toBe(b.kid);
  });
});
