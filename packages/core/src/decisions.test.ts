import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from './cedar/cedar-engine.js';
import { buildPolicyStoreContent } from './policy-content.js';
import { createLocalDecider, type LocalDecider } from './local-decider.js';
import { parseEvaluationRequest, parseEvaluationsRequest, parseSearchRequest } from './authzen.js';
import { sliceEntities } from './entity-slice.js';
import { formatEntityUid, parseEntityUid } from './entity-uid.js';
import type { Entity } from './types.js';

const engine = createCedarEngine();
const contentOf = () => buildPolicyStoreContent(engine, {
  files: {
    'p.cedar': `@id("admins") permit(principal in Group::"admins", action, resource);
@id("owner") permit(principal, action == Action::"edit", resource) when { resource has owner && resource.owner == principal.email };
@id("mfa") forbid(principal, action == Action::"delete", resource) unless { context has mfa && context.mfa };
@id("level") permit(principal, action == Action::"view", resource) when { context has action && context.action.level > 2 };`,
  },
});
const entities: Entity[] = [
  { uid: { type: 'User', id: 'alice' }, attrs: { email: 'alice@x' }, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [{ type: 'Group', id: 'admins' }] },
  { uid: { type: 'User', id: 'bob' }, attrs: { email: 'bob@x' }, parents: [] },
  { uid: { type: 'Unrelated', id: 'u' }, attrs: {}, parents: [] },
];
let decider: LocalDecider;
beforeAll(async () => {
  decider = await createLocalDecider({ engine, content: await contentOf(), entities });
});
afterAll(() => engine.close());
const ask = (subject: string, action: string, resource: Record<string, unknown>, more: Record<string, unknown> = {}) =>
  decider.evaluate(parseEvaluationRequest({ subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: 'd', ...resource }, ...more }));

describe('local decisions', () => {
  it('follows transitive group membership', async () => {
    expect(await ask('alice', 'read', {})).toMatchObject({ decision: 'allow', reasons: ['admins'] });
    expect(await ask('bob', 'read', {})).toMatchObject({ decision: 'deny', reasons: [] });
  });
  it('reads resource properties as attributes and forbids win', async () => {
    expect((await ask('bob', 'edit', { properties: { owner: 'bob@x' } })).decision).toBe('allow');
    expect((await ask('bob', 'edit', { properties: { owner: 'alice@x' } })).decision).toBe('deny');
    expect(await ask('alice', 'delete', {})).toMatchObject({ decision: 'deny', reasons: ['mfa'] });
    expect((await ask('alice', 'delete', {}, { context: { mfa: true } })).decision).toBe('allow');
  });
  it('exposes action.properties as context.action', async () => {
    expect((await decider.evaluate(parseEvaluationRequest({ subject: { type: 'User', id: 'bob' }, action: { name: 'view', properties: { level: 3 } }, resource: { type: 'Doc', id: 'd' } }))).decision).toBe('allow');
    expect((await decider.evaluate(parseEvaluationRequest({ subject: { type: 'User', id: 'bob' }, action: { name: 'view', properties: { level: 1 } }, resource: { type: 'Doc', id: 'd' } }))).decision).toBe('deny');
  });
  it('hands the engine only the entities a request needs', async () => {
    const byUid = new Map(entities.map((e) => [formatEntityUid(e.uid), e]));
    const slice = await sliceEntities([{ type: 'User', id: 'alice' }, { type: 'Doc', id: 'd' }], (uids) => uids.flatMap((u) => byUid.get(formatEntityUid(u)) ?? []));
    // Group::"admins" is referenced but not stored; bob and Unrelated::"u" are not needed.
    expect(slice.entities.map((e) => e.uid.id).sort()).toEqual(['alice', 'staff']);
  });
});

describe('AuthZEN request validation', () => {
  it('rejects missing and mistyped fields with a stable code', () => {
    for (const body of [null, [], {}, { subject: { type: 'u' }, action: { name: 'a' }, resource: { type: 'r', id: '1' } }, { subject: { type: 'u', id: 1 }, action: { name: 'a' }, resource: { type: 'r', id: '1' } }, { subject: { type: 'u', id: '1' }, action: 'a', resource: { type: 'r', id: '1' } }, { subject: { type: 'u', id: '1' }, action: { name: 'a' }, resource: { type: 'r', id: '1' }, context: [] }]) {
      expect(() => parseEvaluationRequest(body)).toThrowError(expect.objectContaining({ code: 'ERR_DECISION_INVALID_REQUEST' }));
    }
  });
  it('applies batch defaults item by item and treats an empty batch as one evaluation', () => {
    const batch = parseEvaluationsRequest({ subject: { type: 'u', id: '1' }, action: { name: 'a' }, resource: {}, evaluations: [{ resource: { type: 'r', id: '1' } }, { action: { name: 'b' }, resource: { type: 'r', id: '2' } }] });
    expect(batch.evaluations.map((e) => (e instanceof Error ? e : [e.action.name, e.resource.id]))).toEqual([['a', '1'], ['b', '2']]);
    const withBadItem = parseEvaluationsRequest({ subject: { type: 'u', id: '1' }, action: { name: 'a' }, evaluations: [{ resource: { type: 'r', id: '1' } }, { resource: { type: 'r' } }] });
    expect(withBadItem.evaluations[1]).toMatchObject({ code: 'ERR_DECISION_INVALID_REQUEST' });
    expect(parseEvaluationsRequest({ subject: { type: 'u', id: '1' }, action: { name: 'a' }, resource: { type: 'r', id: '1' }, evaluations: [] }).batch).toBe(false);
    expect(() => parseEvaluationsRequest({ evaluations: [{}], options: { evaluations_semantic: 'maybe' } })).toThrowError(expect.objectContaining({ code: 'ERR_DECISION_INVALID_REQUEST' }));
  });
  it('validates search pages', () => {
    expect(parseSearchRequest('subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '1' } }).page.limit).toBe(100);
    expect(() => parseSearchRequest('subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '1' }, page: { limit: 0 } })).toThrowError(expect.objectContaining({ code: 'ERR_DECISION_INVALID_REQUEST' }));
  });
  it('round-trips entity uid text', () => {
    expect(parseEntityUid(formatEntityUid({ type: 'A::B', id: 'x"y' }))).toEqual({ type: 'A::B', id: 'x"y' });
    expect(parseEntityUid('user:alice')).toEqual({ type: 'user', id: 'alice' });
  });
});

describe('request-time overlays', () => {
  it('add parents to the stored ones and lay attributes over them', async () => {
    const { resolveWithRequestEntities } = await import('./request-entities.js');
    const stored = { uid: { type: 'User', id: 'alice' }, attrs: { email: 'a@x', level: 1 }, parents: [{ type: 'Group', id: 'staff' }] };
    const lookup = resolveWithRequestEntities(
      { overlays: [{ uid: stored.uid, attrs: { level: 2 }, parents: [{ type: 'Group', id: 'editors' }, { type: 'Group', id: 'staff' }] }], provided: [] },
      () => [stored],
    );
    expect(await lookup([stored.uid])).toEqual([{ uid: stored.uid, attrs: { email: 'a@x', level: 2 }, parents: [{ type: 'Group', id: 'staff' }, { type: 'Group', id: 'editors' }] }]);
  });
});
