/**
 * The error tables run both ways, for core, the SDK and the CLI: every code defined is
 * documented (with its status or exit code), every documented code is defined, and every
 * defined code is actually thrown somewhere in the package sources — or, for core, documented
 * as reserved with a reason (and then never thrown).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@verity/core';
import { ENFORCE_ERROR_CODES } from '@verity/enforce';
import { CLI_ERROR_CODES, EXIT } from '../packages/cli/src/errors.js';
import { EXIT_CODE_HELP } from '../packages/cli/src/help.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The source text of a package's shipped files (tests left out). */
function sourcesOf(pkg: string): string {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return walk(path);
      return /\.(ts|mjs)$/.test(entry.name) && !entry.name.endsWith('.test.ts') ? [readFileSync(path, 'utf8')] : [];
    });
  return walk(join(ROOT, 'packages', pkg, 'src')).join('\n');
}

/** Codes that occur as a quoted string in the sources: thrown, mapped or returned somewhere. */
function usedCodes(pkgs: readonly string[], prefix: string): Set<string> {
  const text = pkgs.map(sourcesOf).join('\n');
  return new Set([...text.matchAll(new RegExp(`['"\`](${prefix}[A-Z_]+)['"\`]`, 'g'))].map((m) => m[1] as string));
}

/** The rows `| \`CODE\` | number | when |` of the markdown between `from` and the next `## `. */
function documentedRows(file: string, from: string): Map<string, { number: number; when: string }> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const start = text.indexOf(from);
  expect(start, `${file} has "${from}"`).toBeGreaterThanOrEqual(0);
  const end = text.indexOf('\n## ', start + from.length);
  const section = text.slice(start, end === -1 ? undefined : end);
  return new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (.*) \|$/gm)].map((m) => [m[1] as string, { number: Number(m[2]), when: m[3] as string }]));
}

const asNumbers = (table: Record<string, number>) => new Map(Object.entries(table));
const numbersOf = (rows: Map<string, { number: number }>) => new Map([...rows].map(([code, row]) => [code, row.number]));

describe('core error codes (packages/core/src/errors.ts, docs/errors.md)', () => {
  const documented = documentedRows('docs/errors.md', '# Error codes');
  const used = usedCodes(readdirSync(join(ROOT, 'packages')), 'ERR_');
  const reserved = [...documented].filter(([, row]) => /^reserved\b/.test(row.when)).map(([code]) => code);

  it('are documented with their status, and every documented code is defined', () => {
    expect(numbersOf(documented)).toEqual(asNumbers(ERROR_CODES));
  });

  it('are each thrown somewhere, unless documented as reserved with a reason', () => {
    const neverThrown = Object.keys(ERROR_CODES).filter((code) => !used.has(code));
    expect(neverThrown.sort()).toEqual(reserved.sort());
    for (const code of reserved) expect(documented.get(code)?.when, code).toMatch(/^reserved: \S.{10,}/);
  });
});

describe('SDK error codes (packages/enforce/src/errors.ts, docs/errors.md)', () => {
  const documented = documentedRows('docs/errors.md', '## Enforcement SDK');

  it('are documented with their status, and every documented code is defined', () => {
    expect(numbersOf(documented)).toEqual(asNumbers(ENFORCE_ERROR_CODES));
  });

  it('are each thrown somewhere in the SDK', () => {
    const used = usedCodes(['enforce'], 'ERR_ENFORCE_');
    expect(Object.keys(ENFORCE_ERROR_CODES).filter((code) => !used.has(code))).toEqual([]);
  });
});

describe('CLI error and exit codes (packages/cli/src/errors.ts, packages/cli/README.md)', () => {
  const readme = readFileSync(join(ROOT, 'packages/cli/README.md'), 'utf8');

  it('are documented with their exit codes, and every documented code is defined', () => {
    expect(numbersOf(documentedRows('packages/cli/README.md', '## Error codes'))).toEqual(asNumbers(CLI_ERROR_CODES));
  });

  it('are each thrown somewhere in the CLI', () => {
    const used = usedCodes(['cli'], 'ERR_CLI_');
    expect(Object.keys(CLI_ERROR_CODES).filter((code) => !used.has(code))).toEqual([]);
  });

  it('exit codes: the README table, --help and EXIT list the same numbers, and each is used', () => {
    const start = readme.indexOf('## Exit codes');
    const table = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const inReadme = [...table.matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1]));
    const inHelp = EXIT_CODE_HELP.slice(1).map((line) => Number(line.trim().split(/\s+/)[0]));
    const defined = Object.values(EXIT);
    expect(inReadme).toEqual(defined);
    expect(inHelp).toEqual(defined);
    const sources = sourcesOf('cli');
    expect(Object.keys(EXIT).filter((name) => !sources.includes(`EXIT.${name}`))).toEqual([]);
  });
});
