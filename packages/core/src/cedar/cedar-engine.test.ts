import { afterAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from './cedar-engine.js';
import type { PolicyStoreContent } from '../types.js';

const engine = createCedarEngine();
afterAll(() => engine.close());

const content = (policies: Record<string, string>, schema?: string): PolicyStoreContent => ({ validationMode: 'off', policies, templates: {}, links: [], ...(schema ? { schema } : {}) });
const request = (action: string, context: Record<string, unknown> = {}) => ({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: action }, resource: { type: 'Doc', id: 'd' }, context: context as never });

describe('the Cedar engine', () => {
  it('decides with the schema: its action groups and its typed context', async () => {
    const schema = 'entity User; entity Doc; action readOnly; action view in [readOnly] appliesTo { principal: User, resource: Doc, context: { owner: User } };';
    const set = await engine.prepare('schema@1', content({ p: 'permit(principal, action in Action::"readOnly", resource) when { context.owner == principal };' }, schema));
    expect(set.schema?.actionAncestors.get('Action::"view"')).toEqual(new Set(['Action::"readOnly"']));
    // A plain {type, id} where the schema declares an entity is an entity reference.
    expect((await engine.authorize(set, request('view', { owner: { type: 'User', id: 'u' } }), [])).decision).toBe('allow');
    expect((await engine.authorize(set, request('view', { owner: { type: 'User', id: 'v' } }), [])).decision).toBe('deny');
  });

  it('validates a request against the schema only when asked', async () => {
    const schema = 'entity User; entity Doc; entity Other; action view appliesTo { principal: User, resource: Doc };';
    const set = await engine.prepare('validate@1', content({ p: 'permit(principal, action, resource);' }, schema));
    const wrong = { ...request('view'), resource: { type: 'Other', id: 'o' } };
    expect((await engine.authorize(set, wrong, [])).decision).toBe('allow');
    await expect(engine.authorize(set, wrong, [], { validateRequest: true })).rejects.toMatchObject({ code: 'ERR_DECISION_INVALID_REQUEST' });
  });

  it('refuses to prepare a stored version past a structural limit', async () => {
    const deep = `permit(principal, action, resource) when { context${'.a'.repeat(200)} == 1 };`;
    await expect(engine.prepare('deep@1', content({ p: deep }))).rejects.toMatchObject({ code: 'ERR_POLICY_TOO_COMPLEX' });
  });

  it('refuses a schema whose type arguments nest past the bracket limit before Cedar parses it, and goes on parsing', async () => {
    // Cedar's schema parser traps on `Set<Set<…>>` a few hundred deep; the lexical guard counts `<`.
    const deep = `entity User; entity Doc { a: ${'Set<'.repeat(300)}Long${'>'.repeat(300)} }; action read appliesTo { principal: User, resource: Doc };`;
    for (let i = 0; i < 4; i++) await expect(engine.prepare(`deep-schema@${i}`, content({ p: 'permit(principal, action, resource);' }, deep))).rejects.toMatchObject({ code: 'ERR_POLICY_TOO_COMPLEX' });
    const fine = `entity User; entity Doc { a: ${'Set<'.repeat(10)}Long${'>'.repeat(10)} }; action read appliesTo { principal: User, resource: Doc };`;
    expect((await engine.prepare('fine-schema@1', content({ p: 'permit(principal, action, resource);' }, fine))).schema).not.toBeNull();
  });

  it('answers policy text Cedar cannot parse in time as too complex, not as a server failure', async () => {
    const impatient = createCedarEngine({ callTimeoutMs: 1 });
    try {
      const text = Array.from({ length: 3000 }, (_, i) => `permit(principal == User::"u${i}", action, resource) when { context.a > ${i} && context.b like "*x${i}*" };`).join('\n');
      await expect(impatient.splitPolicyText(text, 'big.cedar')).rejects.toMatchObject({ code: 'ERR_POLICY_TOO_COMPLEX' });
    } finally {
      await impatient.close();
    }
  });

  it('is ready when it decides a trivial request, and not once closed', async () => {
    const own = createCedarEngine();
    expect(await own.ready()).toBe(true);
    await own.close();
    expect(await own.ready()).toBe(false);
  });
});

describe('the cap on tenants whose sets run on cedar-wasm (MAX_FALLBACK_TENANTS)', () => {
  // A Long literal beyond ±2^53: the compiled evaluator does not take it, so the set runs on cedar-wasm.
  const fallback = content({ p: 'permit(principal, action, resource) when { context.n == 9007199254740993 };' });
  const compiled = content({ p: 'permit(principal, action, resource) when { context.n == 1 };' });

  it('refuses another tenant\'s set that would fall back once the cap is reached, keeps nothing of it, never counts the tenant itself, and keeps counting an evicted set', async () => {
    const capped = createCedarEngine({ maxFallbackTenants: 2, maxPrepared: 4 });
    try {
      expect((await capped.admit('a@1', fallback)).evaluator).toMatchObject({ kind: 'cedar-wasm', reason: expect.stringContaining('2^53') });
      expect((await capped.admit('b@1', fallback)).evaluator.kind).toBe('cedar-wasm');
      // Two other tenants run on cedar-wasm: a third may not, with the reason and the cap in the message…
      await expect(capped.admit('c@1', fallback)).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT', status: 409, message: expect.stringMatching(/2\^53.*2 other tenants.*at most 2/) });
      // …and its refused set is neither kept nor counted: c may push what compiles, and is not on cedar-wasm.
      expect((await capped.admit('c@2', compiled)).evaluator.kind).toBe('compiled');
      await expect(capped.admit('d@1', fallback)).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
      // A tenant already falling back may push again, even once its set was evicted by others'.
      for (const t of ['e', 'f', 'g', 'h']) await capped.admit(`${t}@1`, compiled);
      expect((await capped.admit('a@2', content({ p: 'permit(principal, action, resource) when { context.n == 9007199254740995 };' }))).evaluator.kind).toBe('cedar-wasm');
      // Eviction does not free a place: b's set is gone from memory, but b still decides on it.
      await expect(capped.admit('d@2', fallback)).rejects.toMatchObject({ code: 'ERR_POLICY_FALLBACK_LIMIT' });
      // A tenant whose next set compiles stops counting.
      await capped.admit('b@2', compiled);
      expect((await capped.admit('d@3', fallback)).evaluator.kind).toBe('cedar-wasm');
      // What does not parse is refused as prepare refuses it.
      await expect(capped.admit('x@1', content({ p: 'permit(principal, action, resource' }))).rejects.toMatchObject({ code: 'ERR_POLICY_PARSE' });
    } finally {
      await capped.close();
    }
  });
});
