/** What changed between two policy-store contents, with each change's text as a unified diff (`policy diff`). */
import { structuredPatch } from 'diff';
import { diffPolicyContents } from '@verity/core';
import type { IdDiff, PolicyStoreContent, TemplateLink } from '@verity/core';

/** Where a policy stands in a folder (`docs.cedar`, line 3); unknown for a stored version. */
export interface PolicyPlace {
  file: string;
  line: number;
}

/** One side of a diff: its content and, for a folder, where each policy stands. */
export interface ContentSide {
  content: PolicyStoreContent;
  places?: ReadonlyMap<string, PolicyPlace>;
}

/** One added, removed or changed policy, template, link or schema, with its text diff. */
export interface TextChange {
  kind: 'policy' | 'template' | 'link' | 'schema';
  /** The id (`schema` for the schema). */
  id: string;
  change: 'added' | 'removed' | 'changed';
  /** `file:line` on each side, when the side is a folder. */
  from?: string;
  to?: string;
  /** Unified diff hunks (`@@ -a,b +c,d @@` and lines), numbered by file line when the side is a folder. */
  diff: string;
}

export interface ContentChanges {
  policies: IdDiff;
  templates: IdDiff;
  links: IdDiff;
  schemaChanged: boolean;
  validationModeChanged: boolean;
  changes: TextChange[];
}

/** The text of a link as it is compared: its JSON, one key a line. */
const linkText = (link: TemplateLink | undefined): string => (link === undefined ? '' : `${JSON.stringify(link, null, 2)}\n`);

/** A text with its final newline, so a diff never says "No newline at end of file" of a split-out policy. */
const withNewline = (text: string | undefined): string => (text === undefined || text === '' || text.endsWith('\n') ? (text ?? '') : `${text}\n`);

/** Unified hunks of `before` → `after`, line numbers shifted to the file lines the texts start at. */
export function unifiedHunks(before: string, after: string, fromLine = 1, toLine = 1): string {
  const patch = structuredPatch('', '', withNewline(before), withNewline(after), undefined, undefined, { context: 3 });
  const lines: string[] = [];
  for (const h of patch.hunks) {
    // An empty side is numbered 0,0 (as diff(1) does); the other side from where its text starts.
    const oldStart = h.oldLines === 0 ? 0 : h.oldStart + fromLine - 1;
    const newStart = h.newLines === 0 ? 0 : h.newStart + toLine - 1;
    lines.push(`@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@`, ...h.lines);
  }
  return lines.join('\n');
}

const placeText = (place: PolicyPlace | undefined): string | undefined => (place === undefined ? undefined : `${place.file}:${place.line}`);

function textChanges(kind: 'policy' | 'template', ids: IdDiff, from: ContentSide, to: ContentSide): TextChange[] {
  const texts = (side: ContentSide) => (kind === 'policy' ? side.content.policies : side.content.templates);
  const one = (id: string, change: TextChange['change']): TextChange => {
    const before = from.places?.get(id);
    const after = to.places?.get(id);
    const entry: TextChange = { kind, id, change, diff: unifiedHunks(texts(from)[id] ?? '', texts(to)[id] ?? '', before?.line, after?.line) };
    const fromPlace = change === 'added' ? undefined : placeText(before);
    const toPlace = change === 'removed' ? undefined : placeText(after);
    if (fromPlace !== undefined) entry.from = fromPlace;
    if (toPlace !== undefined) entry.to = toPlace;
    return entry;
  };
  return [...ids.added.map((id) => one(id, 'added')), ...ids.removed.map((id) => one(id, 'removed')), ...ids.changed.map((id) => one(id, 'changed'))];
}

/** Compare two contents by id (core's {@link diffPolicyContents}, as the server does) and diff each change's text. */
export function compareContents(from: ContentSide, to: ContentSide): ContentChanges {
  const ids = diffPolicyContents(from.content, to.content);
  const linksOf = (side: ContentSide) => new Map(side.content.links.map((l) => [l.id, l]));
  const [fromLinks, toLinks] = [linksOf(from), linksOf(to)];
  const link = (id: string, change: TextChange['change']): TextChange => ({ kind: 'link', id, change, diff: unifiedHunks(linkText(fromLinks.get(id)), linkText(toLinks.get(id))) });
  const changes = [
    ...textChanges('policy', ids.policies, from, to),
    ...textChanges('template', ids.templates, from, to),
    ...ids.links.added.map((id) => link(id, 'added')),
    ...ids.links.removed.map((id) => link(id, 'removed')),
    ...ids.links.changed.map((id) => link(id, 'changed')),
  ];
  if (ids.schemaChanged) {
    const change = from.content.schema === undefined ? 'added' : to.content.schema === undefined ? 'removed' : 'changed';
    changes.push({ kind: 'schema', id: 'schema', change, diff: unifiedHunks(from.content.schema ?? '', to.content.schema ?? '') });
  }
  return { ...ids, changes };
}

const MARK = { added: '+', removed: '-', changed: '~' } as const;

/** The human lines: `+`/`-`/`~ kind id (places)`, each followed by its hunks, indented. */
export function formatChanges(changes: ContentChanges, from: ContentSide, to: ContentSide): string[] {
  const lines: string[] = [];
  for (const c of changes.changes) {
    const places = c.from !== undefined && c.to !== undefined ? `${c.from} -> ${c.to}` : (c.from ?? c.to);
    lines.push(`${MARK[c.change]} ${c.kind === 'schema' ? 'schema' : `${c.kind} ${c.id}`}${places === undefined ? '' : `  (${places})`}`);
    if (c.diff !== '') lines.push(...c.diff.split('\n').map((line) => `    ${line}`));
  }
  if (changes.validationModeChanged) lines.push(`~ validation mode ${from.content.validationMode} -> ${to.content.validationMode}`);
  return lines;
}
