/** Tests for reading a policy-store folder. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVerityError } from '@verity/core';
import { parseEntitiesJson, readPolicyFolder } from './policy-folder.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-folder-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, text: string): Promise<void> {
  await mkdir(join(dir, name, '..'), { recursive: true });
  await writeFile(join(dir, name), text);
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isVerityError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a VerityError');
}

const request = {
  subject: { type: 'User', id: 'alice' },
  action: { name: 'view' },
  resource: { type: 'Doc', id: 'd1' },
};

describe('readPolicyFolder', () => {
  it('reads a full folder', async () => {
    await put('b.cedar', 'permit(principal, action, resource);');
    await put('a.cedar', 'forbid(principal, action, resource);');
    await put('notes.txt', 'ignored');
    await put('nested/c.cedar', 'ignored: not top level');
    await put('schema.cedarschema', 'entity User;');
    await put('entities.json', JSON.stringify([{ uid: { type: 'User', id: 'alice' } }]));
    await put('links.json', JSON.stringify([{ id: 'l1', templateId: 't1', values: { '?principal': { type: 'User', id: 'alice' } } }]));
    await put('tests/b.json', JSON.stringify([{ name: 'two', request, expect: 'deny' }]));
    await put('tests/a.json', JSON.stringify({ name: 'one', request, expect: 'allow' }));
    const folder = await readPolicyFolder(dir);
    expect(Object.keys(folder.files)).toEqual(['a.cedar', 'b.cedar']);
    expect(folder.schema).toBe('entity User;');
    expect(folder.validationMode).toBe('strict');
    expect(folder.entities).toEqual([{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }]);
    expect(folder.links).toEqual([{ id: 'l1', templateId: 't1', values: { '?principal': { type: 'User', id: 'alice' } } }]);
    expect(folder.tests.map((t) => [t.file, t.name, t.expect])).toEqual([
      ['tests/a.json', 'one', 'allow'],
      ['tests/b.json', 'two', 'deny'],
    ]);
  });

  it('defaults: no schema means validation off, no entities, links, tests or settings', async () => {
    await put('p.cedar', 'permit(principal, action, resource);');
    const folder = await readPolicyFolder(dir);
    expect(folder).toEqual({ files: { 'p.cedar': 'permit(principal, action, resource);' }, entities: [], links: [], tests: [], validationMode: 'off', settings: {} });
    expect('schema' in folder).toBe(false);
  });

  it('verity.json can turn validation off despite a schema', async () => {
    await put('schema.cedarschema', 'entity User;');
    await put('verity.json', '{"validationMode":"off"}');
    expect((await readPolicyFolder(dir)).validationMode).toBe('off');
  });

  it.each([
    ['entities.json', '{not json', /entities\.json: not valid JSON/],
    ['entities.json', '[{"uid": {"type": "User"}}]', /entities\.json: entity #0: uid/],
    ['entities.json', '{"things": []}', /entities\.json: must be an array/],
    ['links.json', '[{"id": "l1", "templateId": "t", "values": {"?other": {}}}]', /links\.json: .*unknown slot/],
    ['verity.json', '{"validationMode": "lenient"}', /verity\.json: validationMode/],
    ['verity.json', '{"mode": "off"}', /verity\.json: unknown key "mode"/],
    ['tests/x.json', JSON.stringify({ name: 'x', request, expect: 'permit' }), /tests\/x\.json: .*expect/],
    ['tests/x.json', JSON.stringify({ name: 'x', request: { ...request, action: 'view' }, expect: 'allow' }), /tests\/x\.json: .*request\.action/],
    ['tests/x.json', JSON.stringify({ request, expect: 'allow' }), /tests\/x\.json: test #0 must have a string "name"/],
  ])('rejects a bad %s', async (file, text, pattern) => {
    await put(file, text);
    const error = await codeOf(readPolicyFolder(dir));
    expect(error.code).toBe('ERR_REQUEST_INVALID');
    expect(error.message).toMatch(pattern);
  });

  it('rejects a folder that does not exist', async () => {
    const error = await codeOf(readPolicyFolder(join(dir, 'missing')));
    expect(error.code).toBe('ERR_REQUEST_INVALID');
  });
});

describe('parseEntitiesJson', () => {
  it('accepts {"entities": [...]} with parents and tags', () => {
    const text = JSON.stringify({ entities: [{ uid: { type: 'U', id: 'a' }, attrs: { n: 1 }, parents: [{ type: 'G', id: 'g' }], tags: { t: 'x' } }] });
    expect(parseEntitiesJson(text, 'f.json')).toEqual([
      { uid: { type: 'U', id: 'a' }, attrs: { n: 1 }, parents: [{ type: 'G', id: 'g' }], tags: { t: 'x' } },
    ]);
  });
});
