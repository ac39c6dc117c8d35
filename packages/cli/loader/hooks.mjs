/**
 * Module hooks (Node.js `module.register`, "Customization Hooks") that run Verity's TypeScript
 * sources: `.ts` files are transformed by esbuild, types stripped, nothing else changed.
 *
 * Why not tsx (which Verity used before): tsx runs esbuild with `keepNames`, which wraps every
 * function made at run time in `__name(fn, "fn")`, an `Object.defineProperty` on each closure.
 * On the decision path that cost more than the policy evaluation itself (docs/engine.md,
 * bench/RESULTS.md). This loader gives the code exactly as written.
 *
 * Resolution: a relative `./x.js` that does not exist, imported from a `.ts` file, is `./x.ts`
 * (TypeScript's NodeNext convention); everything else resolves as Node.js resolves it, with the
 * export condition `verity-source` added, so `@verity/*` packages resolve to their `src` rather
 * than their built `dist` (each package.json's `exports`; docs/design-notes.md).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TS = /\.(?:ts|mts)$/;

/** The export condition under which each `@verity/*` package exports its TypeScript sources. */
const SOURCE_CONDITION = 'verity-source';

/** The options of every transform: the repository's tsconfig semantics (ES2023, verbatim imports). */
const OPTIONS = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline',
  sourcesContent: false,
  tsconfigRaw: { compilerOptions: { target: 'ES2023', verbatimModuleSyntax: true, useDefineForClassFields: true } },
};

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  const sourceContext = context.conditions.includes(SOURCE_CONDITION) ? context : { ...context, conditions: [...context.conditions, SOURCE_CONDITION] };
  if (parent !== undefined && TS.test(parent) && /^\.{1,2}\/.*\.js$/.test(specifier)) {
    const asJs = new URL(specifier, parent);
    if (asJs.protocol === 'file:' && !existsSync(fileURLToPath(asJs))) return nextResolve(specifier.replace(/\.js$/, '.ts'), sourceContext);
  }
  return nextResolve(specifier, sourceContext);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(url)) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(await readFile(path, 'utf8'), { ...OPTIONS, sourcefile: path });
  return { format: 'module', source: code, shortCircuit: true };
}
