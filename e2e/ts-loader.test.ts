/**
 * Verity's TypeScript loader (`@verity/cli/loader`, what the `verity` bin and the benches run
 * on): `.ts` sources run as written — types stripped, `./x.js` imports finding `./x.ts`, stack
 * traces naming `.ts` lines — and no closure is wrapped in a naming helper at run time (tsx's
 * `keepNames` did that, an `Object.defineProperty` per closure on the decision path).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-loader-'));
  await writeFile(join(dir, 'helper.ts'), 'export interface Shape { n: number }\nexport const twice = (shape: Shape): number => shape.n * 2;\n');
  await writeFile(
    join(dir, 'main.ts'),
    [
      "import { twice, type Shape } from './helper.js';",
      'function outer(): () => number {',
      '  const inner = (): number => twice({ n: 21 } satisfies Shape);',
      '  return inner;',
      '}',
      'const made = outer();',
      "const where = new Error('here').stack?.split('\\n')[1] ?? '';",
      'console.log(JSON.stringify({ value: made(), name: made.name, wrapped: String(outer).includes("__name"), where }));',
    ].join('\n'),
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('@verity/cli/loader', () => {
  it('runs TypeScript as written: .js imports find .ts files, no closure is renamed at run time, stack traces name .ts lines', async () => {
    const { stdout } = await run(process.execPath, ['--import', '@verity/cli/loader', join(dir, 'main.ts')], { cwd: ROOT });
    const out = JSON.parse(stdout.trim()) as { value: number; name: string; wrapped: boolean; where: string };
    expect(out.value).toBe(42);
    // The name a closure gets from its binding is the language's, not a helper's.
    expect(out.name).toBe('inner');
    expect(out.wrapped).toBe(false);
    expect(out.where).toContain('main.ts:7');
  });

  it('reports a TypeScript syntax error with the file and line, and exits non-zero', async () => {
    const broken = join(dir, 'broken.ts');
    await writeFile(broken, 'const x: number = ;\n');
    const failed = await run(process.execPath, ['--import', '@verity/cli/loader', broken], { cwd: ROOT }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toContain('broken.ts:1');
  });
});
