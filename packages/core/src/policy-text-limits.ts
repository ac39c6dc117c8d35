/**
 * The parser's guard: limits on Cedar text, checked lexically before Cedar sees it. cedar-wasm's
 * parser recurses on nesting (about 150 nested brackets overflow its stack, and a trap can
 * leave the instance unusable), so text past these limits never reaches it. The structural
 * limits that matter for evaluation are checked afterwards on Cedar's own parsed form
 * (policy-analysis.ts).
 */
import { VerityError, type Diagnostic } from './errors.js';
import { positionIn } from './source-position.js';

/** Deepest bracket nesting (`(`, `[`, `{` together, and a schema's `<` type arguments) a policy or schema may have. */
export const MAX_BRACKET_DEPTH = 64;
/** Most operators one policy may use; split larger conditions into several policies. */
export const MAX_OPERATORS_PER_POLICY = 250;
/** Largest single policy file or schema, in characters. */
export const MAX_TEXT_LENGTH = 1024 * 1024;

const WORD_OPERATORS = new Set(['in', 'has', 'like', 'is', 'if']);

/** Problems with `text` against the limits above (empty when it is within them). */
export function policyTextProblems(text: string, source: string, options: { countOperators?: boolean; angleBrackets?: boolean } = {}): Diagnostic[] {
  const countOperators = options.countOperators ?? true;
  // In a schema `<…>` nests types (`Set<Set<…>>`) as deeply as Cedar's parser recurses; in a
  // policy `<` and `>` are comparisons.
  const opening = options.angleBrackets === true ? '([{<' : '([{';
  const closing = options.angleBrackets === true ? ')]}>' : ')]}';
  if (text.length > MAX_TEXT_LENGTH) return [{ message: `${source} is longer than ${MAX_TEXT_LENGTH} characters (MAX_TEXT_LENGTH)` }];
  const problems: Diagnostic[] = [];
  let depth = 0;
  let operators = 0;
  let statementStart = 0;
  const report = (message: string, at: number) => problems.push({ message, positions: [positionIn(text, at, at + 1, { source })] });
  for (let i = 0; i < text.length && problems.length === 0; i++) {
    const ch = text[i] as string;
    if (ch === '"') {
      // Skip a string literal, honouring backslash escapes.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (opening.includes(ch)) {
      if (++depth > MAX_BRACKET_DEPTH) report(`brackets nest deeper than ${MAX_BRACKET_DEPTH} levels (MAX_BRACKET_DEPTH)`, i);
    } else if (closing.includes(ch)) {
      depth = Math.max(0, depth - 1);
    } else if (ch === ';' && depth === 0) {
      operators = 0;
      statementStart = i + 1;
    } else if (!countOperators) {
      continue;
    } else if ('.+-*<>=!&|'.includes(ch)) {
      // Two-character operators (==, !=, <=, >=, &&, ||) count once.
      const next = text[i + 1];
      if ((next === '=' && '=!<>'.includes(ch)) || (next === ch && (ch === '&' || ch === '|'))) i++;
      if (++operators > MAX_OPERATORS_PER_POLICY) report(`one policy uses more than ${MAX_OPERATORS_PER_POLICY} operators (MAX_OPERATORS_PER_POLICY): split it into several policies`, statementStart);
    } else if (/[A-Za-z_]/.test(ch) && (i === 0 || !/[\w]/.test(text[i - 1] as string))) {
      let end = i;
      while (end < text.length && /\w/.test(text[end] as string)) end++;
      if (WORD_OPERATORS.has(text.slice(i, end)) && ++operators > MAX_OPERATORS_PER_POLICY) {
        report(`one policy uses more than ${MAX_OPERATORS_PER_POLICY} operators (MAX_OPERATORS_PER_POLICY): split it into several policies`, statementStart);
      }
      i = end - 1;
    }
  }
  return problems;
}

/** Throw ERR_POLICY_TOO_COMPLEX, naming the limit, when `text` is past the limits. */
export function assertPolicyTextWithinLimits(text: string, source: string, kind: 'policy' | 'schema' = 'policy'): void {
  // Schemas have no expressions (and `Set<…>` is not an operator): only nesting is limited.
  const problems = policyTextProblems(text, source, { countOperators: kind === 'policy', angleBrackets: kind === 'schema' });
  if (problems.length > 0) {
    throw new VerityError('ERR_POLICY_TOO_COMPLEX', `${source}: ${(problems[0] as Diagnostic).message}`, { diagnostics: problems });
  }
}
