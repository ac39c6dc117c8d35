/**
 * Regressions from the outsider attack and the differential tester on the compiled Cedar
 * evaluator, each judged by cedar-wasm's own isAuthorized: `e is T in X` must not evaluate X
 * when e is not a T (a forbid that erred there turned into an allow), and entity data Cedar
 * refuses (tags as a list, an entity without attrs or parents, an action under a non-action)
 * must be refused the same way, never decided.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { createCedarEngine } from '@verity/core/cedar';

const engine = createCedarEngine();
afterAll(() => engine.close());
let n = 0;

const SCHEMA = `entity Team; entity User in [Team]; entity Admin in [Team]; entity Doc { team: Team };
action delete appliesTo { principal: [User, Admin], resource: [Doc] };`;

async function both(policies: Record<string, string>, entities: unknown[], options: { schema?: string; validateRequest?: boolean; resource?: string } = {}) {
  const request = { principal: { type: 'User', id: 'mallory' }, action: { type: 'Action', id: 'delete' }, resource: { type: 'Doc', id: options.resource ?? 'd1' }, context: {} };
  const set = await engine.prepare(`attack3-${n++}@1`, { validationMode: 'off', policies, templates: {}, links: [], ...(options.schema ? { schema: options.schema } : {}) });
  let verity: unknown;
  try {
    const result = await engine.authorize(set, request, entities as never, { validateRequest: options.validateRequest === true });
    verity = { decision: result.decision, reasons: [...result.reasons].sort(), errors: result.errors.map((e) => e.policyId).sort() };
  } catch (error) {
    verity = { refused: (error as { code?: string }).code };
  }
  const answer = cedar.isAuthorized({ ...request, policies: { staticPolicies: policies }, entities, validateRequest: options.validateRequest === true, ...(options.schema ? { schema: options.schema } : {}) } as never);
  const truth =
    answer.type === 'success'
      ? { decision: answer.response.decision, reasons: [...answer.response.diagnostics.reason].sort(), errors: answer.response.diagnostics.errors.map((e) => e.policyId).sort() }
      : { refused: 'ERR_DECISION_INVALID_REQUEST' };
  return { verity, truth };
}

describe('`e is T in X` is `e is T && e in X`', () => {
  it('a forbid `unless { principal is Admin in resource.team }` denies a User on a document the store does not hold (schema, request validation on)', async () => {
    const entities = [
      { uid: { type: 'Team', id: 'eng' }, attrs: {}, parents: [] },
      { uid: { type: 'Admin', id: 'root' }, attrs: {}, parents: [{ type: 'Team', id: 'eng' }] },
      { uid: { type: 'User', id: 'mallory' }, attrs: {}, parents: [{ type: 'Team', id: 'eng' }] },
      { uid: { type: 'Doc', id: 'known' }, attrs: { team: { __entity: { type: 'Team', id: 'eng' } } }, parents: [] },
    ];
    const policies = {
      'members-delete': 'permit(principal, action == Action::"delete", resource);',
      'only-team-admins': 'forbid(principal, action == Action::"delete", resource) unless { principal is Admin in resource.team };',
    };
    const { verity, truth } = await both(policies, entities, { schema: SCHEMA, validateRequest: true, resource: 'unknown' });
    expect(truth).toEqual({ decision: 'deny', reasons: ['only-team-admins'], errors: [] });
    expect(verity).toEqual(truth);
  });

  it('`!(principal is Group in context.nope)` allows without an error', async () => {
    const { verity, truth } = await both({ p: 'permit(principal, action, resource) when { !(principal is Group in context.nope) };' }, []);
    expect(truth).toMatchObject({ decision: 'allow', errors: [] });
    expect(verity).toEqual(truth);
  });
});

describe('entity data Cedar refuses is refused, never decided', () => {
  const user = { uid: { type: 'User', id: 'mallory' }, attrs: {}, parents: [] };
  it.each([
    ['tags as a list', [{ ...user, tags: ['k1'] }]],
    ['an entity without parents', [{ uid: user.uid, attrs: {} }]],
    ['an entity without attrs', [{ uid: user.uid, parents: [] }]],
    ['an action whose parent is not an action', [{ uid: { type: 'Action', id: 'delete' }, attrs: {}, parents: [{ type: 'Doc', id: 'd1' }] }]],
  ])('%s', async (_name, entities) => {
    const { verity, truth } = await both({ p: 'permit(principal, action, resource);' }, entities);
    expect(verity).toEqual(truth);
  });
});
