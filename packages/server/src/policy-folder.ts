/** Reads a policy-store folder (the git-friendly layout the CLI pushes and tests) into memory. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainObject, isVerityError, parseEvaluationRequest, parseJson as parseExactJson, VerityError } from '@verity/core';
import type { AuthzenEvaluationRequest, CedarValue, Entity, EntityUid, TemplateLink, TenantSettings, ValidationMode } from '@verity/core';
import { parseTenantSettings } from './tenant-settings.js';

/** One case from `tests/*.json`. */
export interface PolicyTestCase {
  /** The test file, relative to the folder (`tests/viewer.json`). */
  file: string;
  name: string;
  request: AuthzenEvaluationRequest;
  expect: 'allow' | 'deny';
}

/** Everything a policy-store folder holds. */
export interface PolicyFolder {
  /** Top-level `*.cedar` files, file name → text, sorted by name. */
  files: Record<string, string>;
  /** `schema.cedarschema`, when present. */
  schema?: string;
  /** `entities.json`, or `[]`. */
  entities: Entity[];
  /** `links.json`, or `[]`. */
  links: TemplateLink[];
  /** Cases from `tests/*.json`, files in name order. */
  tests: PolicyTestCase[];
  /** `strict` when a schema exists, unless `verity.json` says `{"validationMode": "off"}`. */
  validationMode: ValidationMode;
  /** Tenant settings from `verity.json`'s `settings` (as `PATCH /admin/v1/tenants/{t}` takes them): what `policy test` decides with. */
  settings: TenantSettings;
}

type Json = unknown;

function invalid(file: string, problem: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', `${file}: ${problem}`);
}

function parseJson(text: string, file: string): Json {
  try {
    // Exact: an entity's Long beyond 2^53 stays a bigint.
    return parseExactJson(text) as Json;
  } catch (error) {
    throw invalid(file, `not valid JSON (${(error as Error).message})`);
  }
}

function checkUid(value: Json, file: string, where: string): EntityUid {
  if (!isPlainObject(value) || typeof value['type'] !== 'string' || typeof value['id'] !== 'string') {
    throw invalid(file, `${where} must be {"type": string, "id": string}`);
  }
  return { type: value['type'], id: value['id'] };
}

function checkEntity(value: Json, file: string, index: number): Entity {
  const where = `entity #${index}`;
  if (!isPlainObject(value)) throw invalid(file, `${where} must be an object`);
  const attrs = value['attrs'] ?? {};
  const parents = value['parents'] ?? [];
  if (!isPlainObject(attrs)) throw invalid(file, `${where}: attrs must be an object`);
  if (!Array.isArray(parents)) throw invalid(file, `${where}: parents must be an array`);
  const entity: Entity = {
    uid: checkUid(value['uid'], file, `${where}: uid`),
    attrs: attrs as Record<string, CedarValue>,
    parents: parents.map((parent, i) => checkUid(parent, file, `${where}: parents[${i}]`)),
  };
  if (value['tags'] !== undefined) {
    if (!isPlainObject(value['tags'])) throw invalid(file, `${where}: tags must be an object`);
    entity.tags = value['tags'] as Record<string, CedarValue>;
  }
  return entity;
}

/**
 * Parses Cedar JSON entities: an array, or `{"entities": [...]}`. Throws VerityError
 * ERR_REQUEST_INVALID naming `file` when the text is not JSON or an entity is malformed.
 */
export function parseEntitiesJson(text: string, file: string): Entity[] {
  return checkEntities(parseJson(text, file), file);
}

/** {@link parseEntitiesJson} on JSON already parsed (exactly: Longs beyond 2^53 as bigint), e.g. a request's `entities`. */
export function checkEntities(json: unknown, file: string): Entity[] {
  const list = isPlainObject(json) ? json['entities'] : json;
  if (!Array.isArray(list)) throw invalid(file, 'must be an array of entities or {"entities": [...]}');
  return list.map((entity, i) => checkEntity(entity, file, i));
}

function parseLinks(text: string, file: string): TemplateLink[] {
  const json = parseJson(text, file);
  if (!Array.isArray(json)) throw invalid(file, 'must be an array of {id, templateId, values}');
  return json.map((link, i) => {
    const where = `link #${i}`;
    if (!isPlainObject(link) || typeof link['id'] !== 'string' || typeof link['templateId'] !== 'string') {
      throw invalid(file, `${where} must have string "id" and "templateId"`);
    }
    const values = link['values'];
    if (!isPlainObject(values)) throw invalid(file, `${where}: values must be an object`);
    const checked: TemplateLink['values'] = {};
    for (const [slot, uid] of Object.entries(values)) {
      if (slot !== '?principal' && slot !== '?resource') throw invalid(file, `${where}: unknown slot ${slot}`);
      checked[slot] = checkUid(uid, file, `${where}: values.${slot}`);
    }
    return { id: link['id'], templateId: link['templateId'], values: checked };
  });
}

/** The same validation the server applies to an AuthZEN evaluation body, reported against the file. */
function checkTestRequest(value: Json, file: string, where: string): AuthzenEvaluationRequest {
  try {
    return parseEvaluationRequest(value, 'request');
  } catch (error) {
    if (isVerityError(error)) throw invalid(file, `${where}: ${error.message}`);
    throw error;
  }
}

/** A test file holds one case `{name, request, expect}` or an array of them. */
function parseTests(text: string, file: string): PolicyTestCase[] {
  const json = parseJson(text, file);
  const list = Array.isArray(json) ? json : [json];
  return list.map((test, i) => {
    const where = `test #${i}`;
    if (!isPlainObject(test) || typeof test['name'] !== 'string') throw invalid(file, `${where} must have a string "name"`);
    const expect = test['expect'];
    if (expect !== 'allow' && expect !== 'deny') throw invalid(file, `${where}: expect must be "allow" or "deny"`);
    const request = checkTestRequest(test['request'], file, `${where} (${test['name']})`);
    return { file, name: test['name'], request, expect };
  });
}

function parseSettings(text: string, file: string): { validationMode?: ValidationMode; settings?: TenantSettings } {
  const json = parseJson(text, file);
  if (!isPlainObject(json)) throw invalid(file, 'must be an object');
  for (const key of Object.keys(json)) {
    if (key !== 'validationMode' && key !== 'settings') throw invalid(file, `unknown key "${key}"`);
  }
  const result: { validationMode?: ValidationMode; settings?: TenantSettings } = {};
  const mode = json['validationMode'];
  if (mode !== undefined) {
    if (mode !== 'strict' && mode !== 'off') throw invalid(file, 'validationMode must be "strict" or "off"');
    result.validationMode = mode;
  }
  if (json['settings'] !== undefined) {
    try {
      // The tenant settings `verity policy test` decides with, validated as the PDP validates them.
      result.settings = parseTenantSettings(json['settings']);
    } catch (error) {
      if (isVerityError(error)) throw invalid(file, error.message);
      throw error;
    }
  }
  return result;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function listFiles(dir: string, suffix: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => e.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Reads a policy-store folder: top-level `*.cedar`, optional `schema.cedarschema`,
 * `entities.json`, `links.json`, `verity.json` and `tests/*.json`. Throws VerityError
 * ERR_REQUEST_INVALID (naming the file) for a missing folder, bad JSON or wrong shapes.
 */
export async function readPolicyFolder(dir: string): Promise<PolicyFolder> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) throw invalid(dir, 'not a policy folder (no such directory)');
  const files: Record<string, string> = {};
  for (const name of await listFiles(dir, '.cedar')) files[name] = await readFile(join(dir, name), 'utf8');
  const schema = await readOptional(join(dir, 'schema.cedarschema'));
  const entitiesText = await readOptional(join(dir, 'entities.json'));
  const linksText = await readOptional(join(dir, 'links.json'));
  const settingsText = await readOptional(join(dir, 'verity.json'));
  const tests: PolicyTestCase[] = [];
  for (const name of await listFiles(join(dir, 'tests'), '.json')) {
    const file = `tests/${name}`;
    tests.push(...parseTests(await readFile(join(dir, file), 'utf8'), file));
  }
  const settings = settingsText === undefined ? {} : parseSettings(settingsText, 'verity.json');
  const folder: PolicyFolder = {
    files,
    entities: entitiesText === undefined ? [] : parseEntitiesJson(entitiesText, 'entities.json'),
    links: linksText === undefined ? [] : parseLinks(linksText, 'links.json'),
    tests,
    validationMode: settings.validationMode ?? (schema === undefined ? 'off' : 'strict'),
    settings: settings.settings ?? {},
  };
  if (schema !== undefined) folder.schema = schema;
  return folder;
}
