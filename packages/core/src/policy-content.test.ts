import { afterAll, describe, expect, it } from 'vitest';
import { createCedarEngine } from './cedar/cedar-engine.js';
import { buildPolicyStoreContent, diffPolicyContents, hashPolicyContent, splitPolicyFiles } from './policy-content.js';
import { isVerityError, type VerityError } from './errors.js';

const engine = createCedarEngine();
afterAll(() => engine.close());
const schema = `entity User { dept: String }; entity Doc { owner: User }; action read appliesTo { principal: User, resource: Doc };`;

async function failure(fn: () => Promise<unknown>): Promise<VerityError> {
  try {
    await fn();
  } catch (error) {
    if (isVerityError(error)) return error;
    throw error;
  }
  throw new Error('expected a VerityError');
}

describe('splitPolicyFiles', () => {
  it('gives each policy and template its id, kind, file and 1-based line, files in name order', async () => {
    const sources = await splitPolicyFiles(engine, {
      'b.cedar': '// a comment: permit(principal, action, resource);\n\n@id("x")\npermit(principal, action, resource);\r\npermit(principal == ?principal, action, resource);\n\n\nforbid(principal, action, resource);',
      'a.cedar': 'permit(principal, action, resource);',
    });
    expect(sources.map((s) => [s.id, s.kind, s.file, s.line])).toEqual([
      ['a.0', 'policy', 'a.cedar', 1],
      ['x', 'policy', 'b.cedar', 3],
      ['b.1', 'template', 'b.cedar', 5],
      ['b.2', 'policy', 'b.cedar', 8],
    ]);
  });
});

describe('buildPolicyStoreContent', () => {
  it('names policies by @id or by file and position, and keeps templates apart', async () => {
    const content = await buildPolicyStoreContent(engine, {
      files: {
        'docs.cedar': `@id("owner-reads") permit(principal, action == Action::"read", resource) when { resource.owner == principal };\npermit(principal == ?principal, action, resource);\nforbid(principal, action, resource) when { principal.dept == "x" };`,
      },
      schema,
      links: [{ id: 'alice-all', templateId: 'docs.1', values: { '?principal': { type: 'User', id: 'alice' } } }],
    });
    expect(Object.keys(content.policies).sort()).toEqual(['docs.2', 'owner-reads']);
    expect(Object.keys(content.templates)).toEqual(['docs.1']);
    expect(content.validationMode).toBe('strict');
  });

  it('numbers policies in file order, past ten and around comments that quote policies', async () => {
    const policies = Array.from({ length: 12 }, (_, i) => `permit(principal, action, resource) when { context.n == ${i} };`);
    const file = ['// permit(principal, action, resource) when { context.n == 11 };', ...policies.slice(0, 6), 'permit(principal == ?principal, action, resource);', ...policies.slice(6)].join('\n');
    const content = await buildPolicyStoreContent(engine, { files: { 'p.cedar': file } });
    expect(Object.keys(content.templates)).toEqual(['p.6']);
    for (let i = 0; i < 12; i++) expect(content.policies[`p.${i < 6 ? i : i + 1}`]).toBe(policies[i]);
  });

  it('rejects a parse error with a file position', async () => {
    const error = await failure(() => buildPolicyStoreContent(engine, { files: { 'a.cedar': 'permit(principal, action, resource)\nwhen { principal.x == };' } }));
    expect(error.code).toBe('ERR_POLICY_PARSE');
    expect(error.diagnostics?.[0]?.positions?.[0]).toMatchObject({ source: 'a.cedar', line: 2 });
  });

  it('rejects a schema violation in strict mode, naming the policy and its line in the file', async () => {
    const error = await failure(() =>
      buildPolicyStoreContent(engine, { files: { 'a.cedar': `permit(principal, action, resource);\n@id("bad")\npermit(principal, action == Action::"read", resource) when { principal.age > 3 };` }, schema }),
    );
    expect(error.code).toBe('ERR_POLICY_VALIDATION');
    expect(error.diagnostics?.[0]).toMatchObject({ policyId: 'bad' });
    expect(error.diagnostics?.[0]?.positions?.[0]).toMatchObject({ source: 'a.cedar', line: 3 });
  });

  it('accepts the same policy with validation off', async () => {
    const content = await buildPolicyStoreContent(engine, { files: { 'a.cedar': `permit(principal, action, resource) when { principal.age > 3 };` }, schema, validationMode: 'off' });
    expect(content.validationMode).toBe('off');
  });

  it('rejects a broken schema, duplicate ids and links to unknown templates', async () => {
    expect((await failure(() => buildPolicyStoreContent(engine, { files: {}, schema: 'entity User {' }))).code).toBe('ERR_POLICY_SCHEMA_PARSE');
    expect((await failure(() => buildPolicyStoreContent(engine, { files: { 'a.cedar': '@id("x") permit(principal, action, resource);', 'b.cedar': '@id("x") forbid(principal, action, resource);' } }))).code).toBe('ERR_POLICY_PARSE');
    expect((await failure(() => buildPolicyStoreContent(engine, { files: {}, links: [{ id: 'l', templateId: 'nope', values: {} }] }))).code).toBe('ERR_POLICY_TEMPLATE_LINK');
  });
});

describe('hash and diff', () => {
  it('hashes equal contents equally and reports changes by id', async () => {
    const a = await buildPolicyStoreContent(engine, { files: { 'p.cedar': '@id("a") permit(principal, action, resource);\n@id("b") forbid(principal, action, resource) when { context.x };' } });
    const b = await buildPolicyStoreContent(engine, { files: { 'p.cedar': '@id("a") permit(principal, action, resource) when { true };\n@id("c") permit(principal, action, resource);' } });
    expect(hashPolicyContent(a)).toBe(hashPolicyContent(structuredClone(a)));
    expect(hashPolicyContent(a)).not.toBe(hashPolicyContent(b));
    expect(diffPolicyContents(a, b).policies).toEqual({ added: ['c'], removed: ['b'], changed: ['a'] });
  });
});
