/** Formats policy diagnostics as `file:line:col: message`, the shape editors and CI understand. */
import { lineColumnAt } from '@verity/core';
import type { Diagnostic, SourcePosition } from '@verity/core';

function place(position: SourcePosition, fallback: string, files: Readonly<Record<string, string>>): string {
  const source = position.source ?? fallback;
  if (position.line !== undefined) return `${source}:${position.line}:${position.column ?? 1}`;
  const text = files[source];
  if (text === undefined) return `${source}:@${position.start}`;
  const { line, column } = lineColumnAt(text, position.start);
  return `${source}:${line}:${column}`;
}

/**
 * One line per diagnostic position: `file:line:col: message`. When a position has only a
 * character offset and its source is one of `files`, the line and column are computed.
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], files: Readonly<Record<string, string>> = {}): string[] {
  const lines: string[] = [];
  for (const d of diagnostics) {
    const fallback = d.policyId ?? '<policies>';
    const label = (p: SourcePosition): string => (p.label ? ` (${p.label})` : '');
    const positions = d.positions ?? [];
    if (positions.length === 0) lines.push(`${fallback}: ${d.message}`);
    for (const p of positions) lines.push(`${place(p, fallback, files)}: ${d.message}${label(p)}`);
    if (d.help) lines.push(`  help: ${d.help}`);
  }
  return lines;
}
