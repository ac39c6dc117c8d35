/**
 * A Dockerfile read into stages and instructions, enough for tests to check what an image is
 * made of: line continuations and comments, leading `--flag=value` options, exec-form (JSON)
 * arguments, and `FROM ${ARG}` with the global ARG's default. Not a full parser: no heredocs, no
 * parser directives beyond ignoring them, no shell-form splitting beyond whitespace.
 */

export interface Instruction {
  /** Upper-cased: `COPY`, `RUN`, … */
  keyword: string;
  /** Leading `--name=value` options (`--from=build`, `--interval=10s`). */
  flags: Record<string, string>;
  /** The arguments after the options, as written. */
  rest: string;
  /** `rest` in exec form (a JSON array of strings), else null. */
  json: string[] | null;
}

export interface Stage {
  /** `AS name`, or null. */
  name: string | null;
  /** The base image, global ARG defaults substituted. */
  from: string;
  instructions: Instruction[];
}

/** Exec form: a JSON array of strings, or null when `text` is shell form. */
function execForm(text: string): string[] | null {
  if (!text.startsWith('[')) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) && parsed.every((part) => typeof part === 'string') ? parsed : null;
  } catch {
    return null;
  }
}

/** The logical lines: comments dropped, `\` continuations joined. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue; // a comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push((pending + line).trim());
    pending = '';
  }
  if (pending !== '') lines.push(pending.trim());
  return lines;
}

function instruction(line: string): Instruction {
  const [keyword = '', ...words] = line.split(/\s+/);
  const flags: Record<string, string> = {};
  let rest = line.slice(keyword.length).trim();
  for (const word of words) {
    const option = /^--([\w-]+)=(.*)$/.exec(word);
    if (option === null) break;
    flags[option[1]!] = option[2]!;
    rest = rest.slice(word.length).trim();
  }
  return { keyword: keyword.toUpperCase(), flags, rest, json: execForm(rest) };
}

/** The stages of `text`, in order. */
export function parseDockerfile(text: string): Stage[] {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const parsed = instruction(line);
    if (parsed.keyword === 'FROM') {
      const [image = '', as, name] = parsed.rest.split(/\s+/);
      const from = image.replace(/\$\{?(\w+)\}?/g, (whole, arg: string) => globalArgs.get(arg) ?? whole);
      stages.push({ name: as?.toUpperCase() === 'AS' && name !== undefined ? name : null, from, instructions: [] });
    } else if (stages.length === 0) {
      if (parsed.keyword === 'ARG') {
        const [key = '', value = ''] = parsed.rest.split('=');
        globalArgs.set(key.trim(), value.trim());
      }
    } else {
      stages.at(-1)!.instructions.push(parsed);
    }
  }
  return stages;
}
