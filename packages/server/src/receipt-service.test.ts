import { randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '@verity/core';
import { createSecretBox } from '@verity/identity';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { ACTIVE_KEY_CACHE_MS, createReceiptService, type ReceiptService } from './receipt-service.js';

let store: Store;
let clock: number;
let receipts: ReceiptService;
const box = createSecretBox(randomBytes(32));

const record = (overrides: Partial<DecisionRecord> = {}): DecisionRecord => ({
  decisionId: 'dec-1',
  time: new Date(clock).toISOString(),
  tenant: 'acme',
  requestId: null,
  tier: null,
  principal: { type: 'User', id: 'al"ice' },
  action: { type: 'Action', id: 'read' },
  resource: { type: 'Order', id: 'o-1' },
  decision: 'allow',
  reasons: ['p'],
  errors: [],
  policyVersion: 4,
  latencyUs: 1,
  ...overrides,
});

beforeEach(async () => {
  store = await createStore(await createPgliteDatabase());
  await store.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
  clock = Date.UTC(2030, 0, 1);
  receipts = createReceiptService({ store, box, issuerUrl: (t) => `https://pdp.example/tenants/${t}`, maxTtlSec: 30, now: () => clock });
});

afterEach(async () => {
  await store.close();
});

describe('receipt service', () => {
  it('seals secrets at rest, bound to the tenant, and mints receipts a jose verifier accepts', async () => {
    const { kid, secret } = await receipts.create('acme');
    const [row] = await store.receiptKeys.list('acme');
    expect(row?.sealedSecret).not.toContain(secret);
    expect(() => box.open(row?.sealedSecret as string, 'receipt-key:globex')).toThrow();
    await expect(receipts.signingKey('acme')).rejects.toMatchObject({ code: 'ERR_RECEIPT_KEY_MISSING' });
    await receipts.activate('acme', kid);
    const receipt = await receipts.mint(record(), await receipts.signingKey('acme'), 12);
    const { payload, protectedHeader } = await jwtVerify(receipt, Buffer.from(secret, 'base64url'), { currentDate: new Date(clock), typ: 'verity-receipt+jwt' });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'verity-receipt+jwt', kid });
    const iat = Math.floor(clock / 1000);
    expect(payload).toEqual({
      iss: 'https://pdp.example/tenants/acme',
      tenant: 'acme',
      principal: 'User::"al\\"ice"',
      action: 'read',
      resource_type: 'Order',
      resource_id: 'o-1',
      decision_id: 'dec-1',
      policy_version: 4,
      jti: 'dec-1',
      iat,
      exp: iat + 12,
    });
  });

  it('retires the previous key for the longest lifetime plus 60 s and exports only keys that still verify', async () => {
    const first = await receipts.create('acme');
    await receipts.activate('acme', first.kid);
    clock += 1000;
    const second = await receipts.create('acme');
    await receipts.activate('acme', second.kid);
    const verifyUntil = new Date(clock + 30_000 + 60_000).toISOString();
    expect((await receipts.list('acme')).map((k) => [k.kid, k.state, k.verify_until])).toEqual([
      [first.kid, 'retired', verifyUntil],
      [second.kid, 'active', null],
    ]);
    expect(await receipts.exportKeys('acme')).toEqual([
      { kid: first.kid, state: 'retired', secret: first.secret, verify_until: verifyUntil },
      { kid: second.kid, state: 'active', secret: second.secret, verify_until: null },
    ]);
    clock += 90_000; // verify_until reached: the retired key no longer verifies, so it is not exported
    expect((await receipts.exportKeys('acme')).map((k) => k.kid)).toEqual([second.kid]);
  });

  it('treats a key this master key cannot open as missing: not signing, not exported', async () => {
    const { kid } = await receipts.create('acme');
    await receipts.activate('acme', kid);
    const restarted = createReceiptService({ store, box: createSecretBox(randomBytes(32)), issuerUrl: () => 'https://pdp.example', maxTtlSec: 30, now: () => clock });
    await expect(restarted.signingKey('acme')).rejects.toMatchObject({ code: 'ERR_RECEIPT_KEY_MISSING' });
    expect(await restarted.exportKeys('acme')).toEqual([]);
    // A rotation on the restarted server makes a usable key.
    const fresh = await restarted.create('acme');
    await restarted.activate('acme', fresh.kid);
    expect((await restarted.signingKey('acme')).kid).toBe(fresh.kid);
    expect((await restarted.exportKeys('acme')).map((k) => k.kid)).toEqual([fresh.kid]);
  });

  it('reads another replica\'s activation within the cache time, and at once its own', async () => {
    const first = await receipts.create('acme');
    await receipts.activate('acme', first.kid);
    expect((await receipts.signingKey('acme')).kid).toBe(first.kid);
    // Another replica activates a key: this one still signs with the old key (which keeps verifying) ...
    const second = await receipts.create('acme');
    await store.receiptKeys.activate('acme', second.kid, { nowMs: clock, verifyUntilMs: clock + 90_000 });
    clock += ACTIVE_KEY_CACHE_MS - 1;
    expect((await receipts.signingKey('acme')).kid).toBe(first.kid);
    // ... for at most the cache time.
    clock += 1;
    expect((await receipts.signingKey('acme')).kid).toBe(second.kid);
    const third = await receipts.create('acme');
    await receipts.activate('acme', third.kid);
    expect((await receipts.signingKey('acme')).kid).toBe(third.kid);
  });
});
