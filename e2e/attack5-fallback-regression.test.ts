/**
 * Outsider attacks on the cap of tenants whose policy sets run on cedar-wasm
 * (MAX_FALLBACK_TENANTS, Engine.admit, ERR_POLICY_FALLBACK_LIMIT). Each test asserts the safe
 * behaviour: it fails if the attack works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from '@verity/core/cedar';
import type { Engine, PolicyStoreContent } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createPolicyService } from '../packages/server/src/policy-service.js';

const FALLBACK = 'permit(principal, action, resource) when { context.n == 9007199254740993 };';
const COMPILED = 'permit(principal, action, resource) when { context.n == 1 };';
const content = (p: string): PolicyStoreContent => ({ validationMode: 'off', policies: { p }, templates: {}, links: [] });

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

describe('attack 5 regressions: the cedar-wasm fallback cap', () => {
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
