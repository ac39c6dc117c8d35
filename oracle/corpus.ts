/**
 * Cedar's integration tests as oracle stores: the generated corpus (`corpus-tests.tar.gz`,
 * extracted to a temporary folder at run time, never committed) and the handwritten tests.
 * Files are parsed exactly (`parseJson`: integers beyond ±2^53 stay bigint), for Verity and
 * for the oracle alike.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJson, type CedarValue, type Entity, type EntityUid } from '@verity/core';
import { policiesInSourceOrder } from './cedar-oracle.js';
import type { OracleRequest, OracleStore } from './model.js';

export const CEDAR_TESTS = fileURLToPath(new URL('../../shared/cedar-integration-tests/', import.meta.url));

interface TestFile {
  policies: string;
  entities: string;
  schema: string;
  shouldValidate: boolean;
  requests: Array<{
    description: string;
    principal: EntityUid;
    action: EntityUid;
    resource: EntityUid;
    context: Record<string, CedarValue>;
    validateRequest?: boolean;
    decision: 'allow' | 'deny' | 'Allow' | 'Deny';
    reason: string[];
    errors: string[];
  }>;
}

export interface Corpus {
  /** Where the test files' paths (`corpus-tests/…`) resolve. */
  root: string;
  /** Test files, relative to root, in name order. */
  tests: string[];
  /** How many tests the whole corpus holds. */
  total: number;
  cleanup(): void;
}

/**
 * Extract the generated corpus (the archive is only read) into a fresh temporary folder, on
 * tmpfs when there is one (tens of thousands of small files are slow to delete elsewhere).
 * With `only`, just the files of the tests it keeps (by their position in name order).
 */
export function extractCorpus(options: { archive?: string; only?: (test: string, index: number) => boolean } = {}): Corpus {
  const archive = options.archive ?? join(CEDAR_TESTS, 'corpus-tests.tar.gz');
  const members = execFileSync('tar', ['tzf', archive], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n').filter(Boolean);
  const tests = members.filter((f) => /^corpus-tests\/[^/]+\.json$/.test(f) && !f.endsWith('.entities.json')).sort();
  const kept = options.only ? tests.filter(options.only) : tests;
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'verity-oracle-corpus-'));
  try {
    if (kept.length === tests.length) execFileSync('tar', ['xzf', archive, '-C', root]);
    else {
      const stems = new Set(kept.map((t) => t.replace(/\.json$/, '.')));
      const wanted = members.filter((m) => stems.has(m.slice(0, m.indexOf('.') + 1)));
      execFileSync('tar', ['xzf', archive, '-C', root, '-T', '-'], { input: wanted.join('\n') });
    }
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return { root, tests: kept, total: tests.length, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** The handwritten tests (tests/*\/*.json), resolved against the repository's root. */
export function handwrittenTests(): Corpus {
  const tests = readdirSync(join(CEDAR_TESTS, 'tests'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(CEDAR_TESTS, 'tests', d.name)).filter((f) => f.endsWith('.json')).map((f) => `tests/${d.name}/${f}`))
    .sort();
  return { root: CEDAR_TESTS, tests, total: tests.length, cleanup: () => {} };
}

const lower = (d: string) => d.toLowerCase() as 'allow' | 'deny';

/**
 * One test file as a store: its policies pushed as one file `p.cedar`, so Verity names the
 * policy in position N `p.N` (or its `@id`), mapped to cedar-wasm's `policyN` when comparing.
 */
export function loadCorpusTest(root: string, file: string, tenant: string): OracleStore {
  const test = parseJson(readFileSync(join(root, file), 'utf8')) as TestFile;
  const policies = readFileSync(join(root, test.policies), 'utf8');
  const schema = readFileSync(join(root, test.schema), 'utf8');
  const entitiesJson = parseJson(readFileSync(join(root, test.entities), 'utf8')) as Entity[] | { entities: Entity[] };
  const entities = Array.isArray(entitiesJson) ? entitiesJson : entitiesJson.entities;
  const idMap: Record<string, string> = {};
  const oracleTexts: Record<string, string> = {};
  policiesInSourceOrder(policies).forEach((p, i) => {
    idMap[p.annotatedId ?? `p.${i}`] = p.cedarId;
    oracleTexts[p.cedarId] = p.text;
  });
  const actionTypes = new Set(test.requests.map((r) => r.action.type));
  const requests: OracleRequest[] = test.requests.map((r, i) => ({
    label: `${file.replace(/\.json$/, '')}#${i}`,
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    context: r.context ?? {},
    expected: { decision: lower(r.decision), reasons: r.reason, errors: r.errors },
  }));
  return {
    name: file.replace(/\.json$/, ''),
    tenant,
    schema,
    validationMode: test.shouldValidate ? 'strict' : 'off',
    files: { 'p.cedar': policies },
    links: [],
    entities,
    // Every corpus request has validateRequest true; the action type is the test's (one per test).
    settings: { validateRequests: true, ...(actionTypes.size === 1 && !actionTypes.has('Action') ? { actionType: [...actionTypes][0] as string } : {}) },
    oraclePolicies: { staticPolicies: policies },
    idMap,
    oracleTexts,
    requests,
  };
}
