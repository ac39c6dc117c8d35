/**
 * What `verity --help` and the other answers that run no command load: the CLI, @verity/core and
 * what the command list needs, never a command's implementation dependencies (the server, the
 * X.509 and ASN.1 code of @verity/workload, pg, jose, the Cedar adapter). Each is imported inside
 * the command that uses it: at their top they took `verity --help` from 0.35 s to 0.8–0.9 s on this
 * box (bench/RESULTS.md). Checked by what is loaded, not by a timing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LOADER = fileURLToPath(new URL('../loader/register.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Module hooks that append every URL the process resolves to the file `initialize` is given. */
const RECORDER = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, resolved.url + '\\n');
  return resolved;
}`;
const dataUrl = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;

/** Loaded by a command's `run` only. @verity/server's credential-roles is one module with no imports, made for the CLI. */
const FORBIDDEN = [
  /\/node_modules\/(@peculiar|@fastify|@opentelemetry|@electric-sql|@cedar-policy)\//,
  /\/node_modules\/(pg|fastify|prom-client|tsyringe|undici|jose|diff|ajv|yaml)\//,
  /\/packages\/server\/(?!(src|dist)\/admin\/credential-roles\.[jt]s$)/,
  /\/packages\/(workload|identity|store)\//,
  /\/packages\/core\/(src|dist)\/cedar\//,
];
const forbiddenIn = (urls: readonly string[]) => urls.filter((url) => FORBIDDEN.some((pattern) => pattern.test(url)));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-start-up-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI from its sources with `argv`; every module URL it resolved. */
async function loadedBy(argv: readonly string[]): Promise<string[]> {
  const file = join(dir, `${argv.join('_').replace(/\W/g, '-')}.txt`);
  const record = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(RECORDER))}, { data: ${JSON.stringify(file)} });`;
  await new Promise<void>((done) => execFile(process.execPath, ['--import', LOADER, '--import', dataUrl(record), MAIN, ...argv], () => done()));
  return (await readFile(file, 'utf8')).split('\n').filter((url) => url !== '');
}

describe('verity start-up', () => {
  it.each([[['--help']], [['policy', '--help']], [['--version']], [['db', 'install', '--help']], [['frobnicate']]])('verity %j loads no command implementation', async (argv) => {
    const loaded = await loadedBy(argv);
    // The recorder saw the whole command list, so an empty answer below means something.
    expect(loaded.some((url) => url.endsWith('/packages/cli/src/commands/index.ts'))).toBe(true);
    expect(forbiddenIn(loaded)).toEqual([]);
  });

  it('a command that needs one still loads it, and the recorder sees it', async () => {
    // Reads the file with the server's folder reader, then finds no server (exit 4): it loaded it.
    const entities = fileURLToPath(new URL('../../../examples/todo/entities.json', import.meta.url));
    const loaded = await loadedBy(['entities', 'import', '--tenant', 't', entities, '--url', 'http://127.0.0.1:1']);
    expect(forbiddenIn(loaded).some((url) => url.endsWith('/packages/server/src/policy-folder.ts'))).toBe(true);
  });
});
