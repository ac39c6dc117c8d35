import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from '@verity/core/cedar';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createPolicyService } from './policy-service.js';

// A Long literal beyond ±2^53: the compiled evaluator does not take it, so the set runs on cedar-wasm.
const FALLBACK = 'permit(principal, action, resource) when { context.n == 9007199254740993 };';
const COMPILED = 'permit(principal, action, resource) when { context.n == 1 };';

let store: Store;
const engine = createCedarEngine({ maxFallbackTenants: 1 });

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
  for (const id of ['a', 'b']) await store.tenants.create({ id, name: id, settings: {} });
});

afterAll(async () => {
  await engine.close();
  await store?.close();
});

describe('policy push and the cap on tenants running on cedar-wasm', () => {
  it('refuses a push that would pass the cap with ERR_POLICY_FALLBACK_LIMIT, and stores nothing of it', async () => {
    const policies = createPolicyService(store, engine);
    expect((await policies.push('a', { files: { 'p.cedar': FALLBACK }, createdBy: 'test' })).version).toBe(1);
    // Tenant a's active set is now prepared on cedar-wasm: the one place the cap allows is taken.
    expect((await policies.active('a')).prepared.evaluator.kind).toBe('cedar-wasm');
    await expect(policies.push('b', { files: { 'p.cedar': FALLBACK }, createdBy: 'test' })).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT', status: 409 });
    expect(await store.policies.listVersions('b')).toEqual([]);
    // What compiles is taken; and tenant a may keep pushing sets that fall back.
    expect((await policies.push('b', { files: { 'p.cedar': COMPILED }, createdBy: 'test' })).version).toBe(1);
    expect((await policies.push('a', { files: { 'p.cedar': `${FALLBACK}\n${COMPILED}` }, createdBy: 'test' })).version).toBe(2);
  });
});
