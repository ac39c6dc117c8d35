/** A line diff for the console's version comparison: the longest common subsequence of lines. */

/** Past this many cells (lines × lines, after the common ends), the texts are shown as replaced whole. */
const MAX_CELLS = 4_000_000;

/**
 * `[op, line]` pairs turning `before` into `after`: `' '` kept, `'-'` removed, `'+'` added.
 * Quadratic in the changed middle's lines, bounded by MAX_CELLS.
 */
export function lineDiff(before, after) {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  const out = a.slice(0, start).map((line) => [' ', line]);
  if (x.length * y.length > MAX_CELLS) {
    out.push(...x.map((line) => ['-', line]), ...y.map((line) => ['+', line]));
  } else {
    // lcs[i][j]: the longest common subsequence of x[i..] and y[j..].
    const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
    let i = 0;
    let j = 0;
    while (i < x.length && j < y.length) {
      if (x[i] === y[j]) {
        out.push([' ', x[i]]);
        i++;
        j++;
      } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(['-', x[i++]]);
      else out.push(['+', y[j++]]);
    }
    while (i < x.length) out.push(['-', x[i++]]);
    while (j < y.length) out.push(['+', y[j++]]);
  }
  out.push(...a.slice(endA).map((line) => [' ', line]));
  return out;
}
