/** Builds a policy-store version's content from files, and compares and hashes contents. */
import { VerityError, type Diagnostic } from './errors.js';
import type { Engine, ParsedPolicyText } from './engine.js';
import type { PolicyStoreContent, TemplateLink, ValidationMode } from './types.js';
import { hashCanonical } from './canonical-json.js';
import { positionIn } from './source-position.js';
import { setEntry } from './records.js';
import { analyzePolicySet, assertWithinPolicyLimits, templateInstances, type CedarPolicyJson } from './policy-analysis.js';

export interface PolicyFilesInput {
  /** Policy files by name (e.g. `todo.cedar`), each holding any number of policies and templates. */
  files: Record<string, string>;
  schema?: string;
  /** Defaults to `strict` when a schema is given, `off` otherwise. */
  validationMode?: ValidationMode;
  links?: TemplateLink[];
}

const ID_PATTERN = /^[A-Za-z0-9_.:@/-]{1,128}$/;

/** One policy or template of a policy file, under the id the store gives it. */
export interface PolicySource extends ParsedPolicyText {
  /** The `@id` annotation, else `<file stem>.<n>` (n counts the file's policies and templates from 0). */
  id: string;
  /** The file it stands in (`docs.cedar`). */
  file: string;
  /** 1-based line of its first character in the file. */
  line: number;
}

/**
 * Split policy files into their policies and templates, each with the id the store gives it
 * (the one home of that rule), files in name order and each file in source order. Ids are not
 * checked here: {@link buildPolicyStoreContent} refuses malformed and repeated ones.
 */
export async function splitPolicyFiles(engine: Engine, files: Readonly<Record<string, string>>): Promise<PolicySource[]> {
  const sources: PolicySource[] = [];
  for (const [file, fileText] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    const stem = file.replace(/\.cedar$/, '');
    // Parts come in source order: count the lines between them once (a push may hold 10,000 policies).
    let line = 1;
    let counted = 0;
    (await engine.splitPolicyText(fileText, file)).forEach((part, index) => {
      for (; counted < part.offset; counted++) if (fileText.charCodeAt(counted) === 10) line++;
      sources.push({ ...part, id: part.annotatedId ?? `${stem}.${index}`, file, line });
    });
  }
  return sources;
}

/**
 * Split the files into policies and templates with stable ids (the `@id` annotation, else
 * `<file stem>.<n>`), check the structural limits on Cedar's parsed form (docs/security.md),
 * check the whole content with the engine, and return it. Rejects with VerityError
 * (ERR_POLICY_PARSE, ERR_POLICY_TOO_COMPLEX, ERR_POLICY_SCHEMA_PARSE, ERR_POLICY_VALIDATION,
 * ERR_POLICY_TEMPLATE_LINK) with diagnostics whose positions point into the files.
 */
export async function buildPolicyStoreContent(engine: Engine, input: PolicyFilesInput): Promise<PolicyStoreContent> {
  const policies: Record<string, string> = {};
  const templates: Record<string, string> = {};
  const origin = new Map<string, { file: string; offset: number; fileText: string; length: number }>();
  const parsed = new Map<string, CedarPolicyJson>();
  const duplicates: Diagnostic[] = [];
  for (const part of await splitPolicyFiles(engine, input.files)) {
    const { id, file, offset } = part;
    const fileText = input.files[file] ?? '';
    if (!ID_PATTERN.test(id)) {
      duplicates.push({ message: `policy id "${id.slice(0, 140)}" must match ${ID_PATTERN.source}`, positions: [positionIn(fileText, offset, offset + part.text.length, { source: file })] });
    } else if (origin.has(id)) {
      duplicates.push({ message: `policy id "${id}" is used twice`, policyId: id, positions: [positionIn(fileText, offset, offset + part.text.length, { source: file })] });
    }
    origin.set(id, { file, offset, fileText, length: part.text.length });
    parsed.set(id, part.json);
    setEntry(part.kind === 'policy' ? policies : templates, id, part.text);
  }
  if (duplicates.length > 0) throw new VerityError('ERR_POLICY_PARSE', 'policy ids must be unique and well formed', { diagnostics: duplicates });
  assertWithinPolicyLimits(analyzePolicySet(parsed, templateInstances(Object.keys(templates), input.links ?? [])).problems, (problem) => {
    const from = origin.get(problem.policyId);
    const diagnostic: Diagnostic = { message: problem.message };
    if (problem.policyId) diagnostic.policyId = problem.policyId;
    if (from) diagnostic.positions = [positionIn(from.fileText, from.offset, from.offset + from.length, { source: from.file })];
    return diagnostic;
  });

  const links = input.links ?? [];
  const linkProblems = checkLinks(links, templates, policies);
  if (linkProblems.length > 0) throw new VerityError('ERR_POLICY_TEMPLATE_LINK', 'invalid template links', { diagnostics: linkProblems });

  const content: PolicyStoreContent = {
    validationMode: input.validationMode ?? (input.schema === undefined ? 'off' : 'strict'),
    policies,
    templates,
    links,
  };
  if (input.schema !== undefined) content.schema = input.schema;

  const { errors } = await engine.check(content);
  if (errors.length > 0) {
    // Re-anchor positions from the policy's own text to its file.
    for (const diagnostic of errors) {
      const from = diagnostic.policyId === undefined ? undefined : origin.get(diagnostic.policyId);
      if (from && diagnostic.positions) {
        diagnostic.positions = diagnostic.positions.map((p) => positionIn(from.fileText, p.start, p.end, { source: from.file, base: from.offset, label: p.label ?? null }));
      }
    }
    const schemaBroken = errors.some((d) => d.positions?.some((p) => p.source === 'schema.cedarschema'));
    const code = schemaBroken ? 'ERR_POLICY_SCHEMA_PARSE' : errors.every((d) => d.policyId !== undefined) && content.schema !== undefined ? 'ERR_POLICY_VALIDATION' : 'ERR_POLICY_PARSE';
    const what = code === 'ERR_POLICY_VALIDATION' ? 'the policies do not validate against the schema' : code === 'ERR_POLICY_SCHEMA_PARSE' ? 'Cedar could not parse the schema' : 'Cedar could not parse the policies';
    throw new VerityError(code, what, { diagnostics: errors });
  }
  return content;
}

function checkLinks(links: TemplateLink[], templates: Record<string, string>, policies: Record<string, string>): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const link of links) {
    if (!ID_PATTERN.test(link.id)) problems.push({ message: `link id "${String(link.id).slice(0, 140)}" must match ${ID_PATTERN.source}` });
    else if (seen.has(link.id) || Object.hasOwn(policies, link.id) || Object.hasOwn(templates, link.id)) problems.push({ message: `link id "${link.id}" is already used`, policyId: link.id });
    if (!Object.hasOwn(templates, link.templateId)) problems.push({ message: `link "${link.id}" names unknown template "${link.templateId}"`, policyId: link.id });
    seen.add(link.id);
  }
  return problems;
}

/** sha256 (hex) of a content's canonical JSON: equal contents hash equally. */
export function hashPolicyContent(content: PolicyStoreContent): string {
  return hashCanonical(content);
}

export interface IdDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface PolicyContentDiff {
  policies: IdDiff;
  templates: IdDiff;
  links: IdDiff;
  schemaChanged: boolean;
  validationModeChanged: boolean;
}

function diffRecords(from: Record<string, unknown>, to: Record<string, unknown>): IdDiff {
  const added = Object.keys(to).filter((id) => !(id in from)).sort();
  const removed = Object.keys(from).filter((id) => !(id in to)).sort();
  const changed = Object.keys(to).filter((id) => id in from && hashCanonical(from[id]) !== hashCanonical(to[id])).sort();
  return { added, removed, changed };
}

/** What changed from one version's content to another's, by policy id. */
export function diffPolicyContents(from: PolicyStoreContent, to: PolicyStoreContent): PolicyContentDiff {
  const byId = (links: TemplateLink[]) => Object.fromEntries(links.map((l) => [l.id, l]));
  return {
    policies: diffRecords(from.policies, to.policies),
    templates: diffRecords(from.templates, to.templates),
    links: diffRecords(byId(from.links), byId(to.links)),
    schemaChanged: from.schema !== to.schema,
    validationModeChanged: from.validationMode !== to.validationMode,
  };
}
