/**
 * The shell commands of a Markdown document, as e2e/docs-walkthrough.test.ts runs them: fenced
 * ```sh blocks, split into commands, with the `walkthrough` markers that say which are not run.
 *
 * A marker is an HTML comment (invisible once rendered) in the lines right above a block:
 *
 *   <!-- walkthrough: skip — REASON -->                 the whole block is not run
 *   <!-- walkthrough: skip `PREFIX` — REASON -->        its commands starting with PREFIX are not
 *
 * A reason is required, a marker that is not right above a block or whose PREFIX matches no
 * command is an error: a reader can trust that what is marked is all that is left out.
 *
 * A command whose last line ends in a comment starting with `→` states what it prints:
 *
 *   curl -s -o /dev/null -w '%{http_code}\n' $VERITY/…   # → 403
 *
 * The walkthrough checks its output against that text, where `…` stands for any text.
 */

/** One command: a line and its continuations (`\`, an open quote or parenthesis, a trailing `|`, `&&`, `||`). */
export interface ShellCommand {
  /** 1-based line of the document where it starts. */
  line: number;
  text: string;
  /** What it prints, when its last line ends in `# → TEXT` (`…` in TEXT: any text). */
  expect?: string;
  /** Why it is not run, when a marker says so. */
  skipped?: string;
}

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  commands: ShellCommand[];
}

interface Marker {
  line: number;
  prefix?: string;
  reason: string;
}

const FENCE = /^```(\S*)\s*$/;
const MARKER = /^<!--\s*walkthrough:(.*?)-->\s*$/;
const SKIP = /^\s*skip(?:\s+`([^`]+)`)?\s*(?:[—:-]\s*)?(.*?)\s*$/;
const EXPECT = /^#\s*→\s*(.*?)\s*$/;

function parseMarker(body: string, line: number): Marker {
  const skip = SKIP.exec(body);
  if (skip === null || (skip[2] ?? '') === '') throw new Error(`line ${line}: a walkthrough marker is 'skip — REASON' or 'skip \`PREFIX\` — REASON', got '${body.trim()}'`);
  return { line, reason: skip[2] as string, ...(skip[1] === undefined ? {} : { prefix: skip[1] }) };
}

/** Where a heading's section starts and ends (1-based lines; it ends before the next heading of its level or above). */
export function sectionLines(markdown: string, heading: string): { from: number; to: number } {
  const lines = markdown.split('\n');
  const start = lines.findIndex((text) => text.trim() === heading);
  if (start === -1) throw new Error(`no heading '${heading}'`);
  const level = /^#+/.exec(heading)?.[0].length ?? 1;
  const next = lines.findIndex((text, i) => i > start && new RegExp(`^#{1,${level}}\\s`).test(text));
  return { from: start + 1, to: next === -1 ? lines.length : next };
}

/** Splits shell source into commands, tracking quotes, `$(…)`/`(…)` and comments so a JSON body over several lines stays one command. */
export function splitShellCommands(code: string, firstLine = 1): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let current: string[] = [];
  let start = firstLine;
  let quote: "'" | '"' | null = null;
  let depth = 0;
  code.split('\n').forEach((text, index) => {
    if (current.length === 0 && text.trim() === '') return;
    if (current.length === 0) start = firstLine + index;
    current.push(text);
    let scanned = '';
    let comment = '';
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (quote === "'") {
        if (c === "'") quote = null;
      } else if (c === '\\') {
        i++;
      } else if (quote === '"') {
        if (c === '"') quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === '#' && (i === 0 || /[\s;&|(]/.test(text[i - 1] as string))) {
        comment = text.slice(i);
        break; // a comment: the rest of the line is not code
      } else if (c === '(') {
        depth++;
      } else if (c === ')') {
        depth--;
      }
      scanned += c;
    }
    const open = quote !== null || depth > 0 || /(?:\\|\||&&)\s*$/.test(scanned);
    if (open) return;
    const expected = EXPECT.exec(comment)?.[1];
    if (!/^\s*#/.test(current.join('\n')) || current.length > 1) commands.push({ line: start, text: current.join('\n'), ...(expected === undefined ? {} : { expect: expected }) });
    current = [];
  });
  if (current.length > 0) throw new Error(`line ${start}: a command is not closed at the end of its block (quote or parenthesis)`);
  return commands;
}

/**
 * Every fenced block of `lang` in `markdown` (optionally only those between lines `from` and
 * `to`), split into commands, with the markers above it applied.
 */
export function shellBlocks(markdown: string, options: { lang?: string; from?: number; to?: number } = {}): ShellBlock[] {
  const lang = options.lang ?? 'sh';
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  let markers: Marker[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    const line = i + 1;
    const marker = MARKER.exec(text.trim());
    if (marker !== null) {
      markers.push(parseMarker(marker[1] as string, line));
      continue;
    }
    const fence = FENCE.exec(text);
    if (fence === null) {
      if (text.trim() !== '' && markers.length > 0) throw new Error(`line ${markers[0]?.line}: a walkthrough marker must be right above a code block`);
      continue;
    }
    const end = lines.findIndex((t, j) => j > i && /^```\s*$/.test(t));
    if (end === -1) throw new Error(`line ${line}: the code block is not closed`);
    const inside = line >= (options.from ?? 1) && line <= (options.to ?? lines.length);
    if (fence[1] === lang && inside) blocks.push({ line, commands: applyMarkers(splitShellCommands(lines.slice(i + 1, end).join('\n'), line + 1), markers) });
    else if (markers.length > 0) throw new Error(`line ${markers[0]?.line}: a walkthrough marker above a block that is not run`);
    markers = [];
    i = end;
  }
  if (markers.length > 0) throw new Error(`line ${markers[0]?.line}: a walkthrough marker must be right above a code block`);
  return blocks;
}

function applyMarkers(commands: readonly ShellCommand[], markers: readonly Marker[]): ShellCommand[] {
  const result: ShellCommand[] = commands.map((command) => ({ ...command }));
  for (const marker of markers) {
    const hits = result.filter((command) => marker.prefix === undefined || command.text.startsWith(marker.prefix));
    if (hits.length === 0) throw new Error(`line ${marker.line}: no command starts with \`${marker.prefix}\``);
    for (const command of hits) command.skipped = marker.reason;
  }
  return result;
}
