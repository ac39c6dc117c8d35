/** Output helpers: human-readable lines and tables, or one JSON document with `--json`. */
import type { CommandIo, ParsedArgs, Writer } from './command.js';
import { formatDiagnostics } from './diagnostics.js';
import type { CliError } from './errors.js';

/** True when the command was asked for machine-readable output. */
export function wantsJson(args: ParsedArgs): boolean {
  return args.values['json'] === true;
}

/** Writes one JSON document (pretty, newline-terminated). */
export function writeJson(out: Writer, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes lines, each newline-terminated. */
export function writeLines(out: Writer, ...lines: string[]): void {
  for (const line of lines) out.write(`${visibleText(line)}\n`);
}

/** C0 and C1 control characters but tab and newline (ESC, CR, BEL, backspace, CSI…). */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * `text` with every control character but tab and newline written as a visible `\u{…}`
 * escape. Human output prints what servers, PEPs and files say (ids, reasons, times, policy
 * text); none of it may move the cursor, rewrite a line or drive the terminal (ANSI escapes)
 * of the admin or CI log reading it. `--json` output is JSON, escaped already.
 */
export function visibleText(text: string): string {
  return text.replace(CONTROL, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** A table column: header and how to read the cell from a row. */
export interface Column<Row> {
  header: string;
  cell: (row: Row) => string;
}

/** Writes rows as an aligned text table with a header; `empty` is printed when there are none. */
export function writeTable<Row>(out: Writer, rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, empty: string): void {
  if (rows.length === 0) {
    writeLines(out, empty);
    return;
  }
  const cells = [columns.map((c) => c.header), ...rows.map((row) => columns.map((c) => c.cell(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
  for (const line of cells) {
    const padded = line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)));
    writeLines(out, padded.join('  ').trimEnd());
  }
}

/** Prints `value` as JSON with `--json`, otherwise calls `human`. */
export function writeResult(args: ParsedArgs, io: CommandIo, value: unknown, human: () => void): void {
  if (wantsJson(args)) writeJson(io.stdout, value);
  else human();
}

/** Renders an optional value for a table cell. */
export function show(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Prints a command's error: `{error: {code, message, exitCode, diagnostics}}` on stdout with
 * `--json`, else `verity: MESSAGE` and its diagnostics (`file:line:col: …`) on stderr. Returns
 * the exit code it ends the command with.
 */
export function writeError(io: CommandIo, error: CliError, json: boolean): number {
  if (json) {
    const body = { code: error.code, message: error.message, exitCode: error.exitCode, diagnostics: error.diagnostics };
    writeJson(io.stdout, { error: body });
  } else {
    writeLines(io.stderr, `verity: ${error.message}`, ...formatDiagnostics(error.diagnostics, error.sources));
  }
  return error.exitCode;
}
