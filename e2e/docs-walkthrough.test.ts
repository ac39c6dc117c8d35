/**
 * README's "A tour of the CLI" and the walkthroughs of docs/identity.md and docs/gateways.md, run
 * as written: each document's ```sh blocks, in order, as one bash script (`set -e`, so the first
 * command that fails ends it and is named), from a fresh folder holding the repository's
 * `examples/`, against a fresh `verity serve --demo --open-decisions` (what `npm start` runs) on a
 * temporary data folder. `npx verity` is the repository's CLI; `$VERITY`, `VERITY_URL` and
 * `VERITY_ADMIN_TOKEN` are this server's. The docs' `curl -s` exits 0 on an HTTP error; here curl
 * fails on one, so an error answer fails the walkthrough too, unless the command states what it
 * prints (`# → 403`, as docs/gateways.md does for its refusals): then it must print that, and an
 * error status is what it says. What is not run is marked in the Markdown
 * (e2e/helpers/markdown-blocks.ts), printed, and counted below.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_PATTERNS } from './helpers/log-check.js';
import { sectionLines, shellBlocks, splitShellCommands, type ShellCommand } from './helpers/markdown-blocks.js';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { ADMIN_TOKEN } from './helpers/verity.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/bin/verity.mjs');
const DONE = 'walkthrough: every command ran';

/** Definitions before the documents' commands; WALK_AT names the command running. */
const PRELUDE = `set -euo pipefail
shopt -s inherit_errexit
npx() {
  if [ "\${1-}" != verity ]; then echo "walkthrough: only 'npx verity' is provided" >&2; return 127; fi
  shift
  "$WALK_NODE" "$WALK_BIN" "$@"
}
curl() {
  if [ -n "\${WALK_EXPECTING-}" ]; then command curl --show-error "$@"; else command curl --fail-with-body --show-error "$@"; fi
}
walk_differs() { echo "walkthrough: $WALK_AT printed the above; the document says it prints: $1" >&2; return 1; }
WALK_AT='the prelude'
trap 'code=$?; [ $code -eq 0 ] || echo "walkthrough: FAILED with exit code $code at $WALK_AT" >&2' EXIT
`;

interface Walkthrough {
  doc: string;
  commands: ShellCommand[];
}

function walkthrough(doc: string, heading?: string): Walkthrough {
  const markdown = readFileSync(join(ROOT, doc), 'utf8');
  const range = heading === undefined ? {} : sectionLines(markdown, heading);
  return { doc, commands: shellBlocks(markdown, range).flatMap((block) => block.commands) };
}

/** `text` as one bash word, unexpanded. */
function quoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command, or for one that states what it prints: its output, checked against that (a bash
 * pattern, its literal parts quoted, each `…` a `*`). It runs in `$(…)`, curl not failing on an
 * error status; the closing parenthesis on a line of its own, after the command's comment.
 */
function stepOf(doc: string, c: ShellCommand): string {
  const at = `WALK_AT='${doc}:${c.line}'`;
  if (c.expect === undefined) return `${at}\n${c.text}`;
  const pattern = c.expect.split('…').map(quoted).join('*');
  return `${at}\nWALK_OUT=$(WALK_EXPECTING=1\n${c.text}\n)\nprintf '%s\\n' "$WALK_OUT"\n[[ $WALK_OUT == ${pattern} ]] || walk_differs ${quoted(c.expect)}`;
}

function scriptOf({ doc, commands }: Walkthrough): string {
  const steps = commands.filter((c) => c.skipped === undefined).map((c) => stepOf(doc, c));
  return `${PRELUDE}\n${steps.join('\n')}\necho '${DONE}' >&2\n`;
}

function redact(text: string): string {
  return SECRET_PATTERNS.reduce((out, pattern) => out.replace(new RegExp(pattern.source, 'g'), '[secret]'), text);
}

/** Runs the walkthrough's script in a fresh folder; resolves to its exit code and (redacted) output. */
function run(walk: Walkthrough, server: ServeProcess, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'verity-walkthrough-'));
  symlinkSync(join(ROOT, 'examples'), join(cwd, 'examples'));
  const env = { PATH: process.env['PATH'] ?? '', HOME: cwd, LANG: 'C.UTF-8', WALK_NODE: process.execPath, WALK_BIN: BIN, VERITY: server.url, VERITY_URL: server.url, VERITY_ADMIN_TOKEN: ADMIN_TOKEN };
  const child = spawn('bash', ['-c', scriptOf(walk)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((done) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(cwd, { recursive: true, force: true });
      done({ code, output: redact(output) });
    }),
  );
}

/** The last lines of the output, for the failure message. */
function tail(output: string): string {
  return output.trimEnd().split('\n').slice(-40).join('\n');
}

function reportSkipped({ doc, commands }: Walkthrough): ShellCommand[] {
  const skipped = commands.filter((c) => c.skipped !== undefined);
  for (const c of skipped) console.log(`${doc}:${c.line} not run (${c.skipped}): ${c.text.split('\n')[0]}`);
  return skipped;
}

/** Each document with the number of commands it leaves out: a change to what is not run shows here too. */
const WALKTHROUGHS = [
  { walk: walkthrough('README.md', '## A tour of the CLI'), skipped: 10 },
  { walk: walkthrough('docs/identity.md'), skipped: 2 },
  { walk: walkthrough('docs/gateways.md'), skipped: 0 },
] as const;

const servers: ServeProcess[] = [];
const dataDirs: string[] = [];

beforeAll(async () => {
  for (const _ of WALKTHROUGHS) dataDirs.push(mkdtempSync(join(tmpdir(), 'verity-walkthrough-data-')));
  servers.push(...(await Promise.all(dataDirs.map((dir) => startServeProcess(['--data', dir])))));
}, 120_000);

afterAll(async () => {
  await killAll(servers);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('the documentation runs as written', () => {
  WALKTHROUGHS.forEach(({ walk, skipped }, index) => {
    it.concurrent(`${walk.doc}: every command exits 0`, async () => {
      expect(reportSkipped(walk)).toHaveLength(skipped);
      const server = servers[index] as ServeProcess;
      // Minutes, not seconds: on a loaded machine the README's tour (some 45 CLI calls) has taken 150 s.
      const { code, output } = await run(walk, server, 240_000);
      expect(code, tail(output)).toBe(0);
      expect(output).toContain(DONE);
    }, 270_000);
  });
});

describe('markdown-blocks', () => {
  it('keeps a command whole over continuations, quotes and $(…), and drops comment lines', () => {
    const code = [
      "# a comment, it's not code",
      'a \\',
      '  b',
      `X=$(curl -d '{"a":`,
      `  1}' | node -p 'JSON.parse(fs.readFileSync(0)).a')   # (a comment)`,
      'echo "one',
      'two" # done',
      'c | \\',
      '  d',
    ].join('\n');
    expect(splitShellCommands(code, 10)).toEqual([
      { line: 11, text: 'a \\\n  b' },
      { line: 13, text: `X=$(curl -d '{"a":\n  1}' | node -p 'JSON.parse(fs.readFileSync(0)).a')   # (a comment)` },
      { line: 15, text: 'echo "one\ntwo" # done' },
      { line: 17, text: 'c | \\\n  d' },
    ]);
  });

  it('reads what a command states it prints from the `# →` comment of its last line, and only there', () => {
    const code = [
      "curl -s -w '%{http_code}' \\",
      "  -H 'x: # → 1'   # → 403",
      "echo '# → 2'   # prints # → 2",
      '# → 200',
      'a   # → {"code":"E",…} 401',
    ].join('\n');
    expect(splitShellCommands(code)).toEqual([
      { line: 1, text: "curl -s -w '%{http_code}' \\\n  -H 'x: # → 1'   # → 403", expect: '403' },
      { line: 3, text: "echo '# → 2'   # prints # → 2" },
      { line: 5, text: 'a   # → {"code":"E",…} 401', expect: '{"code":"E",…} 401' },
    ]);
  });

  it('checks what a command prints against its `# →` text, literally but for `…`', () => {
    const ran = (text: string, expected: string) =>
      spawnSync('bash', ['-c', scriptOf({ doc: 'doc.md', commands: [{ line: 7, text, expect: expected }] })], { encoding: 'utf8' });
    expect(ran(`echo '{"a":[1]} 401'`, '{"a":[1]} 401').status).toBe(0);
    expect(ran(`echo 'abc 401'`, 'a… 401').status).toBe(0);
    expect(ran(`echo 'xy'`, 'x[y]').status).not.toBe(0); // [y] is no pattern here
    expect(ran(`echo 'x1'`, 'x?').status).not.toBe(0);
    const differs = ran(`echo 'abc 403'`, 'a… 401');
    expect(differs.status).not.toBe(0);
    expect(differs.stderr).toContain('doc.md:7 printed the above; the document says it prints: a… 401');
    expect(ran(`false`, '').status).not.toBe(0);
  });

  it('applies skip markers to a block or to the commands they name, and refuses stale or stray ones', () => {
    const doc = (marker: string) => `text\n\n${marker}\n\`\`\`sh\nnpx verity a\nnpx verity b \\\n  --x\n\`\`\`\n`;
    expect(shellBlocks(doc('<!-- walkthrough: skip `npx verity b` — never ends -->'))[0]?.commands).toEqual([
      { line: 5, text: 'npx verity a' },
      { line: 6, text: 'npx verity b \\\n  --x', skipped: 'never ends' },
    ]);
    expect(shellBlocks(doc('<!-- walkthrough: skip — a server -->'))[0]?.commands.every((c) => c.skipped === 'a server')).toBe(true);
    expect(() => shellBlocks(doc('<!-- walkthrough: skip `npx verity c` — gone -->'))).toThrow(/no command starts with/);
    expect(() => shellBlocks(doc('<!-- walkthrough: skip -->'))).toThrow(/REASON/);
    expect(() => shellBlocks('<!-- walkthrough: skip — why -->\nprose\n```sh\nls\n```\n')).toThrow(/right above/);
    expect(() => shellBlocks('```sh\necho "open\n```\n')).toThrow(/not closed/);
  });
});
