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

async function both(policies: Record<string, string>, entities: unknown[], options: { schema?: string; validateRequest?: boolean; resource?: string; action?: string; context?: Record<string, unknown> } = {}) {
  const request = { principal: { type: 'User', id: 'mallory' }, action: { type: 'Action', id: options.action ?? 'delete' }, resource: { type: 'Doc', id: options.resource ?? 'd1' }, context: options.context ?? {} };
  const set = await engine.prepare(`attack3-${n++}@1`, { validationMode: 'off', policies, templates: {}, links: [], ...(options.schema ? { schema: options.schema } : {}) });
  let verity: unknown;
  try {
    const result = await engine.authorize(set, request as never, entities as never, { validateRequest: options.validateRequest === true });
    verity = { decision: result.decision, reasons: [...result.reasons].sort(), errors: result.errors.map((e) => e.policyId).sort() };
  } catch (error) {
    verity = { refused: (error as { code?: string }).code };
  }
  const answer = cedar.isAuthorized({ ...request, context: request.context as never, policies: { staticPolicies: policies }, entities, validateRequest: options.validateRequest === true, ...(options.schema ? { schema: options.schema } : {}) } as never);
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

describe('a schema type named like a builtin is read as Cedar reads it', () => {
  it.each([
    ['ipaddr', 'context: { src: ipaddr }', { src: '10.0.0.1' }, 'context.src == "10.0.0.1"'],
    ['datetime', 'context: { day: datetime }', { day: '2024-12-25' }, 'context.day == "2024-12-25"'],
    ['decimal', 'context: { n: decimal }', { n: '1.5' }, 'context.n == "1.5"'],
  ])('`type %s = String` in the empty namespace: a forbid comparing it with a string applies', async (name, context, values, condition) => {
    const schema = `type ${name} = String; entity User; entity Doc; action view appliesTo { principal: User, resource: Doc, ${context} };`;
    const policies = { allow: 'permit(principal, action == Action::"view", resource);', 'block-source': `forbid(principal, action == Action::"view", resource) when { ${condition} };` };
    for (const validateRequest of [false, true]) {
      const { verity, truth } = await both(policies, [], { schema, validateRequest, action: 'view', resource: 'd', context: values });
      expect(truth).toMatchObject({ decision: 'deny', reasons: ['block-source'] });
      expect(verity).toEqual(truth);
    }
  });
});

describe('a schema type named like a builtin, on an entity attribute', () => {
  it('`type decimal = String` read from the entity data: the forbid applies', async () => {
    const schema = 'type decimal = String; entity User { level: decimal }; entity Doc; action view appliesTo { principal: User, resource: Doc };';
    const policies = { allow: 'permit(principal, action, resource);', deny: 'forbid(principal, action, resource) when { principal.level == "1.5" };' };
    const { verity, truth } = await both(policies, [{ uid: { type: 'User', id: 'mallory' }, attrs: { level: '1.5' }, parents: [] }], { schema, action: 'view', resource: 'd' });
    expect(truth).toMatchObject({ decision: 'deny', reasons: ['deny'] });
    expect(verity).toEqual(truth);
  });
});

describe('no input makes a decision cost more than its size', () => {
  it('equal sets nested 40 deep (2^40 pairwise steps) compare in linear time, as Cedar does', async () => {
    const nest = (depth: number): unknown => (depth === 0 ? 'x' : [nest(depth - 1)]);
    const literal = (depth: number): string => (depth === 0 ? '"x"' : `[${literal(depth - 1)}]`);
    const { verity, truth } = await both({ p: `permit(principal, action, resource) when { context.a == context.b && context.a == ${literal(20)} };` }, [], { context: { a: nest(40), b: nest(40) } });
    expect(verity).toEqual(truth);
  });

  it('a schema whose common types nest by reference (10^8 nodes expanded) is prepared in its own size', async () => {
    const levels = Array.from({ length: 8 }, (_, i) => `type T${i + 1} = { ${Array.from({ length: 10 }, (_, j) => `a${j}: T${i}`).join(', ')} };`).join('\n');
    const schema = `type T0 = { x: Long };\n${levels}\nentity User { deep?: T8 }; entity Doc; action delete appliesTo { principal: User, resource: Doc };`;
    // Not judged by cedar-wasm here: Cedar itself expands the schema, for about 13 s (on its own thread).
    const set = await engine.prepare(`deep-schema-${n++}@1`, { validationMode: 'off', policies: { p: 'permit(principal, action, resource) when { principal has deep };' }, templates: {}, links: [], schema });
    const request = { principal: { type: 'User', id: 'mallory' }, action: { type: 'Action', id: 'delete' }, resource: { type: 'Doc', id: 'd1' }, context: {} };
    const result = await engine.authorize(set, request, [{ uid: { type: 'User', id: 'mallory' }, attrs: {}, parents: [] }]);
    expect(result).toMatchObject({ decision: 'deny', reasons: [], errors: [], evaluator: 'compiled' });
  });

  it('a like pattern against a long string literal of the policies is refused when the version is prepared', async () => {
    const policy = `permit(principal, action, resource) when { "${'a'.repeat(100_000)}" like "*${'a'.repeat(100)}b" };`;
    await expect(engine.prepare(`like-literal-${n++}@1`, { validationMode: 'off', policies: { p: policy }, templates: {}, links: [] })).rejects.toMatchObject({ code: 'ERR_POLICY_TOO_COMPLEX' });
  });
});

describe('a large admin body without a credential is refused before it is parsed', () => {
  it('answers 401 to a 200 KB body with no Authorization even when the body is not JSON: it was never read', async () => {
    const { startTestServer } = await import('./helpers/verity.js');
    const server = await startTestServer({ demo: true });
    try {
      // Parsed first, this would be 400 ERR_REQUEST_MALFORMED_JSON; authenticated first, 401.
      const body = `{"mode": "merge", "entities": [${'1234567890123456789, '.repeat(10_000)}`;
      const answer = await fetch(`${server.url}/admin/v1/tenants/demo/entities`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      expect(answer.status).toBe(401);
      expect(((await answer.json()) as { code: string }).code).toBe('ERR_AUTH_MISSING');
      // A small body is still parsed first, as before: its problems are reported as such.
      const small = await fetch(`${server.url}/admin/v1/tenants/demo/entities`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"mode":' });
      expect(small.status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
