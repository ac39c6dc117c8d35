/**
 * The parts of one Cedar policy's text an explanation names and re-assembles (explain.ts): its
 * effect, its three scope constraints and its `when` / `unless` clauses, each as the source
 * text the author wrote. The text is one Cedar already parsed (a stored or drafted policy), so
 * this reads only its top-level structure: strings and `//` comments skipped, brackets matched.
 */
import type { EntityUid } from './types.js';

/** One `when` or `unless` clause: its body as written (between the braces). */
export interface PolicyClause {
  kind: 'when' | 'unless';
  body: string;
}

/** A policy's effect, scope (principal, action, resource, as written) and clauses in order. */
export interface PolicyParts {
  effect: 'permit' | 'forbid';
  scope: [principal: string, action: string, resource: string];
  clauses: PolicyClause[];
}

const OPEN = '([{';
const CLOSE = ')]}';

/** Positions of `text` in code: strings and comments skipped, each code character visited once. */
class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  /** Skip white space and `//` comments. */
  skipSpace(): void {
    const { text } = this;
    while (this.pos < text.length) {
      const ch = text[this.pos] as string;
      if (/\s/.test(ch)) this.pos++;
      else if (ch === '/' && text[this.pos + 1] === '/') while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
      else break;
    }
  }

  /** Past a string literal starting at `pos` (a `"`). */
  skipString(): void {
    const { text } = this;
    for (this.pos++; this.pos < text.length && text[this.pos] !== '"'; this.pos++) if (text[this.pos] === '\\') this.pos++;
    this.pos++;
  }

  identifier(): string {
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos, this.pos + 64));
    const word = match?.[0] ?? '';
    this.pos += word.length;
    return word;
  }

  /**
   * From an opening bracket at `pos` to past its match: the start and end of what it encloses,
   * and the offsets of its top-level commas. Null when the brackets do not balance.
   */
  group(): { start: number; end: number; commas: number[] } | null {
    const { text } = this;
    const stack: string[] = [];
    const start = this.pos + 1;
    const commas: number[] = [];
    while (this.pos < text.length) {
      const ch = text[this.pos] as string;
      if (ch === '"') {
        this.skipString();
        continue;
      }
      if (ch === '/' && text[this.pos + 1] === '/') {
        this.skipSpace();
        continue;
      }
      if (OPEN.includes(ch)) stack.push(CLOSE[OPEN.indexOf(ch)] as string);
      else if (CLOSE.includes(ch)) {
        if (stack.pop() !== ch) return null;
        if (stack.length === 0) {
          this.pos++;
          return { start, end: this.pos - 1, commas };
        }
      } else if (ch === ',' && stack.length === 1) commas.push(this.pos);
      this.pos++;
    }
    return null;
  }
}

/**
 * The parts of one policy or template's text, or null when its structure is not the one Cedar's
 * grammar gives a policy (annotations, effect, `(` three constraints `)`, clauses, `;`).
 */
export function dissectPolicy(text: string): PolicyParts | null {
  const reader = new Reader(text);
  // Annotations: `@name` or `@name("text")`.
  for (reader.skipSpace(); text[reader.pos] === '@'; reader.skipSpace()) {
    reader.pos++;
    if (reader.identifier() === '') return null;
    reader.skipSpace();
    if (text[reader.pos] === '(' && reader.group() === null) return null;
  }
  const effect = reader.identifier();
  if (effect !== 'permit' && effect !== 'forbid') return null;
  reader.skipSpace();
  if (text[reader.pos] !== '(') return null;
  const scope = reader.group();
  if (scope === null || scope.commas.length !== 2) return null;
  const [first, second] = scope.commas as [number, number];
  const parts: PolicyParts = {
    effect,
    scope: [text.slice(scope.start, first).trim(), text.slice(first + 1, second).trim(), text.slice(second + 1, scope.end).trim()],
    clauses: [],
  };
  for (reader.skipSpace(); text[reader.pos] !== ';'; reader.skipSpace()) {
    const kind = reader.identifier();
    if (kind !== 'when' && kind !== 'unless') return null;
    reader.skipSpace();
    if (text[reader.pos] !== '{') return null;
    const body = reader.group();
    if (body === null) return null;
    parts.clauses.push({ kind, body: text.slice(body.start, body.end) });
  }
  return parts;
}

/** `s` as a Cedar string literal: `\`, `"` and control characters escaped (Cedar's `\u{…}`, not JSON's `\uXXXX`). */
export function cedarStringLiteral(s: string): string {
  return `"${s.replace(/[\\"\u0000-\u001f\u007f]/g, (ch) => (ch === '\\' || ch === '"' ? `\\${ch}` : `\\u{${(ch.codePointAt(0) as number).toString(16)}}`))}"`;
}

/** An entity uid as a Cedar literal: `Type::"id"`. */
export function cedarEntityLiteral(uid: EntityUid): string {
  return `${uid.type}::${cedarStringLiteral(uid.id)}`;
}

/**
 * A template's scope constraint with its slots (`?principal`, `?resource`) replaced by a link's
 * values; null when the constraint names a slot the link does not fill. Slots stand only in
 * the scope (Cedar's grammar), outside strings.
 */
export function fillSlots(constraint: string, values: Readonly<Partial<Record<'?principal' | '?resource', EntityUid>>>): string | null {
  let out = '';
  const reader = new Reader(constraint);
  let from = 0;
  while (reader.pos < constraint.length) {
    const ch = constraint[reader.pos];
    if (ch === '"') {
      reader.skipString();
      continue;
    }
    if (ch === '?') {
      const at = reader.pos;
      reader.pos++;
      const slot = `?${reader.identifier()}`;
      const value = slot === '?principal' || slot === '?resource' ? values[slot] : undefined;
      if (value === undefined) return null;
      out += constraint.slice(from, at) + cedarEntityLiteral(value);
      from = reader.pos;
      continue;
    }
    reader.pos++;
  }
  return out + constraint.slice(from);
}

/** A clause's body for display: white space collapsed, at most `max` characters. */
export function clauseSummary(body: string, max = 300): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
