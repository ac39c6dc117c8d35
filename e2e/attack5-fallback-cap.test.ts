/**
 * Outsider attacks on the cap of tenants whose policy sets run on cedar-wasm
 * (MAX_FALLBACK_TENANTS, Engine.admit, ERR_POLICY_FALLBACK_LIMIT). Each test asserts the safe
 * behaviour: it fails if the attack works. Found by an outsider; fixed by preparing a pushed set
 * at push (under the key its decisions use) and counting, per tenant, the set last prepared for
 * it, evicted or not. Not counted, by design (docs/engine.md): a compiled set that a request the
 * compiled evaluator hands over gets preparsed on cedar-wasm (bounded by the instance's recycling).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from '@verity/core/cedar';
import type { Engine, PolicyStoreContent } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createPolicyService } from '../packages/server/src/policy-service.js';

const FALLBACK = 'permit(principal, action, resource) when { context.n == 9007199254740993 };';
const content = (p: string): PolicyStoreContent => ({ validationMode: 'off', policies: { p }, templates: {}, links: [] });
const COMPILED = 'permit(principal, action, resource) when { context.n == 1 };';

let store: Store;
const engines: Engine[] = [];
const newEngine = (opts: Parameters<typeof createCedarEngine>[0]) => {
  const e = createCedarEngine(opts);
  engines.push(e);
  return e;
};

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await store?.close();
});

let seq = 0;
async function tenants(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `t${++seq}`;
    await store.tenants.create({ id, name: id, settings: {} });
    ids.push(id);
  }
  return ids;
}

async function wasmTenants(policies: ReturnType<typeof createPolicyService>, ids: string[]) {
  const kinds = await Promise.all(ids.map(async (id) => (await policies.active(id)).prepared.evaluator.kind));
  return kinds.filter((k) => k === 'cedar-wasm').length;
}

describe('attack 5: the cedar-wasm fallback cap', () => {
  it('sequential pushes by several tenants, none decided on before the next push, cannot put more tenants than the cap on cedar-wasm', async () => {
    const engine = newEngine({ maxFallbackTenants: 1 });
    const policies = createPolicyService(store, engine);
    const ids = await tenants(3);
    const accepted: string[] = [];
    for (const id of ids) {
      try {
        await policies.push(id, { files: { 'p.cedar': FALLBACK }, createdBy: 'attacker' });
        accepted.push(id);
      } catch (error) {
        expect(error).toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
      }
    }
    // Now each tenant sends a decision: its active version is loaded.
    expect(await wasmTenants(policies, accepted)).toBeLessThanOrEqual(1);
  });

  it('global LRU eviction of a tenant\'s still-active cedar-wasm set does not free its place under the cap', async () => {
    const engine = newEngine({ maxFallbackTenants: 1, maxPrepared: 3 });
    const policies = createPolicyService(store, engine);
    const [a, b, x, y, z] = await tenants(5);
    await policies.push(a!, { files: { 'p.cedar': FALLBACK }, createdBy: 'attacker' });
    expect((await policies.active(a!)).prepared.evaluator.kind).toBe('cedar-wasm');
    for (const id of [x!, y!, z!]) {
      await policies.push(id, { files: { 'p.cedar': COMPILED }, createdBy: 'attacker' });
      await policies.active(id);
    }
    let accepted = true;
    try {
      await policies.push(b!, { files: { 'p.cedar': FALLBACK }, createdBy: 'attacker' });
    } catch (error) {
      expect(error).toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
      accepted = false;
    }
    // Tenant a still decides on its cached cedar-wasm view.
    const aKind = (await policies.active(a!)).prepared.evaluator.kind;
    const bKind = accepted ? (await policies.active(b!)).prepared.evaluator.kind : 'none';
    expect([aKind, bKind].filter((k) => k === 'cedar-wasm').length).toBeLessThanOrEqual(1);
  });

  it('a tenant already on cedar-wasm may push again even after its prepared key was evicted by other tenants', async () => {
    const engine = newEngine({ maxFallbackTenants: 1, maxPrepared: 3 });
    const policies = createPolicyService(store, engine);
    const [a, b, x, y] = await tenants(4);
    await policies.push(a!, { files: { 'p.cedar': FALLBACK }, createdBy: 'victim' });
    expect((await policies.active(a!)).prepared.evaluator.kind).toBe('cedar-wasm');
    await policies.push(x!, { files: { 'p.cedar': COMPILED }, createdBy: 'attacker' });
    await policies.active(x!);
    await policies.push(y!, { files: { 'p.cedar': COMPILED }, createdBy: 'attacker' });
    await policies.active(y!);
    // a's prepared set was evicted, but a still decides with it: b does not get its place.
    await expect(policies.push(b!, { files: { 'p.cedar': FALLBACK }, createdBy: 'attacker' })).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
    // a, still running on cedar-wasm, re-pushes a set that falls back: documented as always accepted.
    expect((await policies.active(a!)).prepared.evaluator.kind).toBe('cedar-wasm');
    await expect(policies.push(a!, { files: { 'p.cedar': `${FALLBACK}\n${COMPILED}` }, createdBy: 'victim' })).resolves.toMatchObject({ version: 2 });
  });



  it('a refused push stores nothing, and the tenant\'s next accepted push is version 1 (regression)', async () => {
    const engine = newEngine({ maxFallbackTenants: 1 });
    const policies = createPolicyService(store, engine);
    const [a, b] = await tenants(2);
    await policies.push(a!, { files: { 'p.cedar': FALLBACK }, createdBy: 'x' });
    await policies.active(a!);
    await expect(policies.push(b!, { files: { 'p.cedar': FALLBACK }, createdBy: 'x' }, )).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT', status: 409 });
    await expect(policies.push(b!, { files: { 'p.cedar': FALLBACK }, createdBy: 'x', activate: false })).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
    expect(await store.policies.listVersions(b!)).toEqual([]);
    expect((await policies.push(b!, { files: { 'p.cedar': COMPILED }, createdBy: 'x' })).version).toBe(1);
    expect((await policies.active(b!)).prepared.evaluator.kind).toBe('compiled');
  });

  it('at the cap, bad input to admit is a 4xx, never a crash or a 5xx (regression)', async () => {
    const engine = newEngine({ maxFallbackTenants: 1 });
    await engine.prepare('z1@1#x', content(FALLBACK));
    const bad: PolicyStoreContent[] = [
      content('permit(principal, action, resource'),
      content('permit(principal, action, resource) when { ' + '('.repeat(5000) + 'true' + ')'.repeat(5000) + ' };'),
      { validationMode: 'off', policies: {}, templates: { t: 'permit(principal == ?principal, action, resource);' }, links: [{ id: 'l', templateId: 'missing', values: { '?principal': { type: 'User', id: 'u' } } }] },
      { validationMode: 'strict', schema: 'entity User; action a appliesTo { principal: [User], resource: [Nope] };', policies: { p: FALLBACK }, templates: {}, links: [] },
      { validationMode: 'off', policies: { p: FALLBACK }, templates: { t: 'permit(principal == ?principal, action, resource);' }, links: [{ id: 'l', templateId: 't', values: { '?resource': { type: 'User', id: 'u' } } }] },
    ];
    for (const c of bad) {
      const outcome = await engine.admit('z2', c).then(() => null, (error: unknown) => error as { status?: number; code?: string });
      // Every one of these is refused now (admit prepares what it admits), as a 4xx.
      expect(outcome?.status, `${outcome?.code}`).toBeGreaterThanOrEqual(400);
      expect(outcome?.status).toBeLessThan(500);
    }
    // The engine still works.
    expect(await engine.ready()).toBe(true);
  });
});
