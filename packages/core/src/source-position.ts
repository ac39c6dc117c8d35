/** Turns Cedar's byte offsets into line and column numbers people can find in a file. */
import type { SourcePosition } from './errors.js';

/** 1-based line and column of a UTF-16 offset into `text`. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** A position in `text` (shifted by `base` when the text is a slice of a bigger file). */
export function positionIn(text: string, start: number, end: number, options: { source?: string; base?: number; label?: string | null } = {}): SourcePosition {
  const base = options.base ?? 0;
  const { line, column } = lineColumnAt(text, start + base);
  const position: SourcePosition = { start: start + base, end: end + base, line, column };
  if (options.source !== undefined) position.source = options.source;
  if (options.label !== undefined && options.label !== null) position.label = options.label;
  return position;
}
