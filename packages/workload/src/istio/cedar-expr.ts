/** A small boolean expression tree for generated Cedar conditions: built, simplified, then rendered once. */

/** A Cedar condition. `atom` text must be one relational expression (`a == b`, `x has y`, `e like "…"`). */
export type CedarExpr =
  | { readonly kind: 'const'; readonly value: boolean }
  | { readonly kind: 'atom'; readonly text: string }
  /** `grouped`: kept whole when flattened into an outer conjunction, and rendered on one line (a `has` guard with its test). */
  | { readonly kind: 'and'; readonly items: readonly CedarExpr[]; readonly grouped?: true }
  | { readonly kind: 'or'; readonly items: readonly CedarExpr[] }
  | { readonly kind: 'not'; readonly item: CedarExpr }
  /** `if guard then then else otherwise`: the form Cedar's validator accepts for "attribute missing, or test". */
  | { readonly kind: 'if'; readonly guard: CedarExpr; readonly then: CedarExpr; readonly otherwise: CedarExpr };

export const TRUE: CedarExpr = { kind: 'const', value: true };
export const FALSE: CedarExpr = { kind: 'const', value: false };

export function atom(text: string): CedarExpr {
  return { kind: 'atom', text };
}

function isConst(expr: CedarExpr, value: boolean): boolean {
  return expr.kind === 'const' && expr.value === value;
}

/** Conjunction, simplified: `true` items dropped, any `false` wins, nested ands flattened. */
export function and(...items: CedarExpr[]): CedarExpr {
  const kept: CedarExpr[] = [];
  for (const item of items) {
    if (isConst(item, false)) return FALSE;
    if (isConst(item, true)) continue;
    if (item.kind === 'and' && item.grouped !== true) kept.push(...item.items);
    else kept.push(item);
  }
  if (kept.length === 0) return TRUE;
  return kept.length === 1 ? (kept[0] as CedarExpr) : { kind: 'and', items: kept };
}

/** A conjunction that stays one unit (one line) inside an outer one. */
export function group(...items: CedarExpr[]): CedarExpr {
  const conjunction = and(...items);
  return conjunction.kind === 'and' ? { kind: 'and', items: conjunction.items, grouped: true } : conjunction;
}

/** Disjunction, simplified: `false` items dropped, any `true` wins, nested ors flattened. */
export function or(...items: CedarExpr[]): CedarExpr {
  const kept: CedarExpr[] = [];
  for (const item of items) {
    if (isConst(item, true)) return TRUE;
    if (isConst(item, false)) continue;
    if (item.kind === 'or') kept.push(...item.items);
    else kept.push(item);
  }
  if (kept.length === 0) return FALSE;
  return kept.length === 1 ? (kept[0] as CedarExpr) : { kind: 'or', items: kept };
}

export function not(item: CedarExpr): CedarExpr {
  if (item.kind === 'const') return item.value ? FALSE : TRUE;
  if (item.kind === 'not') return item.item;
  return { kind: 'not', item };
}

/** `if guard then then else otherwise`, folded when the branches are constants. */
export function ifThen(guard: CedarExpr, then: CedarExpr, otherwise: CedarExpr): CedarExpr {
  if (guard.kind === 'const') return guard.value ? then : otherwise;
  if (then.kind === 'const' && otherwise.kind === 'const') {
    if (then.value === otherwise.value) return then;
    return then.value ? guard : not(guard);
  }
  return { kind: 'if', guard, then, otherwise };
}

/**
 * A Cedar string literal. Escapes `\` and `"`, and writes every character outside printable
 * ASCII as `\u{…}`, so the text stays one line of plain ASCII whatever the input held.
 */
export function cedarString(value: string): string {
  return `"${escapeChars(value, false)}"`;
}

/** A Cedar `like` pattern whose `*` wildcards are `wildcards`; every `*` in `literal` parts is escaped. */
export function likePattern(parts: ReadonlyArray<{ literal: string } | 'wildcard'>): string {
  return `"${parts.map((part) => (part === 'wildcard' ? '*' : escapeChars(part.literal, true))).join('')}"`;
}

function escapeChars(value: string, inPattern: boolean): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (ch === '*' && inPattern) out += '\\*';
    else if (code < 0x20 || code > 0x7e) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return out;
}

/** Renders an expression; `top` conjunctions go one conjunct per line (the policy's `when` body). */
export function renderCedar(expr: CedarExpr, indent = '  '): string {
  if (expr.kind === 'and') return expr.items.map((item) => (item.kind === 'and' ? render(item, 'top') : render(item, 'and'))).join(` &&\n${indent}`);
  return render(expr, 'top');
}

type Position = 'top' | 'and' | 'or' | 'not' | 'if';

function render(expr: CedarExpr, position: Position): string {
  switch (expr.kind) {
    case 'const':
      return String(expr.value);
    case 'atom':
      // Relational expressions bind tighter than && and ||, but `!` would bind to their left operand.
      return position === 'not' ? `(${expr.text})` : expr.text;
    case 'not':
      return `!${render(expr.item, 'not')}`;
    case 'and': {
      const text = expr.items.map((item) => render(item, 'and')).join(' && ');
      return position === 'top' ? text : `(${text})`;
    }
    case 'or': {
      const text = expr.items.map((item) => render(item, 'or')).join(' || ');
      return position === 'top' ? text : `(${text})`;
    }
    case 'if': {
      const text = `if ${render(expr.guard, 'if')} then ${render(expr.then, 'if')} else ${render(expr.otherwise, 'if')}`;
      return position === 'top' ? text : `(${text})`;
    }
  }
}
