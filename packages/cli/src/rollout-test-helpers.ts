/**
 * Test helpers for `eval`, `policy test --coverage` and `policy diff`: a small policy folder
 * (static policies, a template with a link, a policy that errors), every request over its
 * entities, and cedar-wasm's own `isAuthorized` as the oracle those commands must agree with.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { buildPolicyStoreContent, type CedarValue, type EntityUid, type PolicyStoreContent, type TemplateLink } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';

/** Writes `files` (relative path → text) under `dir`. */
export async function writeFolder(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
}

const uid = (type: string, id: string): EntityUid => ({ type, id });

export const DOCS_CEDAR = [
  '@id("owner-any")',
  'permit(principal, action, resource) when { resource.owner == principal };',
  '',
  'permit(principal, action == Action::"read", resource) when { principal in resource.readers };',
  '',
  '// errors (and is skipped) for a resource without `archived`',
  '@id("no-archived")',
  'forbid(principal, action == Action::"delete", resource) when { resource.archived };',
  '',
  '@id("share-mfa")',
  'permit(principal, action == Action::"share", resource) when { context.mfa && principal in resource.readers };',
  '',
  '@id("root-all")',
  'permit(principal == User::"root", action, resource);',
  '',
].join('\n');

export const ADMIN_CEDAR = '@id("grant")\npermit(principal == ?principal, action == Action::"read", resource == ?resource);\n';

export const LINKS: TemplateLink[] = [{ id: 'grant-carol-d2', templateId: 'grant', values: { '?principal': uid('User', 'carol'), '?resource': uid('Doc', 'd2') } }];

export const ENTITIES = [
  { uid: uid('User', 'alice'), attrs: {}, parents: [] },
  { uid: uid('User', 'bob'), attrs: {}, parents: [uid('Group', 'staff')] },
  { uid: uid('User', 'carol'), attrs: {}, parents: [] },
  { uid: uid('User', 'root'), attrs: {}, parents: [] },
  { uid: uid('Group', 'staff'), attrs: {}, parents: [] },
  { uid: uid('Doc', 'd1'), attrs: { owner: { __entity: uid('User', 'alice') }, readers: { __entity: uid('Group', 'staff') }, archived: false }, parents: [] },
  { uid: uid('Doc', 'd2'), attrs: { owner: { __entity: uid('User', 'carol') }, readers: { __entity: uid('Group', 'staff') } }, parents: [] },
  { uid: uid('Doc', 'd3'), attrs: { owner: { __entity: uid('User', 'bob') }, readers: { __entity: uid('Group', 'staff') }, archived: true }, parents: [] },
  { uid: uid('Doc', 'd4'), attrs: { readers: { __entity: uid('Group', 'staff') } }, parents: [] },
];

/** The fixture folder: two policy files, a link, entities; `extra` adds or replaces files. */
export function fixtureFiles(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { 'docs.cedar': DOCS_CEDAR, 'admin.cedar': ADMIN_CEDAR, 'links.json': JSON.stringify(LINKS), 'entities.json': JSON.stringify(ENTITIES), ...extra };
}

/** A Cedar-native request as `eval --request` and `policy diff --requests` take it. */
export interface CedarCase {
  name: string;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
}

/**
 * Every request over 5 principals (one the entities do not hold), 4 actions, 5 resources (one
 * missing) and 3 contexts (none, mfa true, mfa false): 300 requests.
 */
export function everyRequest(): CedarCase[] {
  const cases: CedarCase[] = [];
  for (const p of ['alice', 'bob', 'carol', 'root', 'dave']) {
    for (const a of ['read', 'delete', 'share', 'write']) {
      for (const r of ['d1', 'd2', 'd3', 'd4', 'd9']) {
        for (const [c, context] of [['-', {}], ['mfa', { mfa: true }], ['no-mfa', { mfa: false }]] as const) {
          cases.push({ name: `${p}/${a}/${r}/${c}`, principal: uid('User', p), action: uid('Action', a), resource: uid('Doc', r), context });
        }
      }
    }
  }
  return cases;
}

/** JSON lines of requests. */
export const jsonLines = (cases: readonly unknown[]): string => `${cases.map((c) => JSON.stringify(c)).join('\n')}\n`;

/** The policy-store content of `files` (ids as the store gives them). */
export async function contentOf(files: Readonly<Record<string, string>>): Promise<PolicyStoreContent> {
  const cedarFiles = Object.fromEntries(Object.entries(files).filter(([name]) => name.endsWith('.cedar') && !name.includes('/')));
  const links = files['links.json'] === undefined ? [] : (JSON.parse(files['links.json']) as TemplateLink[]);
  return buildPolicyStoreContent(sharedCedarEngine(), { files: cedarFiles, links });
}

/** What cedar-wasm answers, sorted: the decision, the determining and the erroring policy ids. */
export interface OracleAnswer {
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: string[];
}

/** cedar-wasm's `isAuthorized` on the whole content and every entity (never a slice). */
export function oracleDecides(content: PolicyStoreContent, entities: readonly unknown[], request: Omit<CedarCase, 'name'>): OracleAnswer {
  const answer = cedar.isAuthorized({
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    context: request.context as never,
    policies: {
      staticPolicies: content.policies,
      templates: content.templates,
      templateLinks: content.links.map((l) => ({ templateId: l.templateId, newId: l.id, values: l.values as Record<string, EntityUid> })),
    },
    entities: entities as never,
  });
  if (answer.type !== 'success') throw new Error(`cedar-wasm refused: ${answer.errors.map((e) => e.message).join('; ')}`);
  const { decision, diagnostics } = answer.response;
  return { decision, reasons: [...diagnostics.reason].sort(), errors: diagnostics.errors.map((e) => e.policyId).sort() };
}
