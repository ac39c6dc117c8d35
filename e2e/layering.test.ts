/**
 * The dependency rules of DESIGN.md, checked on the source: core does no I/O and knows no
 * framework or driver; only the Cedar adapter imports cedar-wasm; packages import each other
 * only downwards.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    // Test code (tests and the store's shared conformance suite) may import vitest.
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !path.includes('conformance') ? [path] : [];
  });
}

/** Module specifiers a file imports; `import type` ones are dropped when `runtimeOnly`. */
function importsOf(file: string, runtimeOnly = false): string[] {
  const text = readFileSync(file, 'utf8');
  const statements = [...text.matchAll(/(?:^|\n)\s*((?:import|export)\s[^'";]*?from\s+'([^']+)')/g)]
    .filter((m) => !(runtimeOnly && /^import\s+type\s/.test(m[1] as string)))
    .map((m) => m[2] as string);
  return [...statements, ...[...text.matchAll(/import\('([^']+)'\)/g)].map((m) => m[1] as string)];
}

const ALLOWED: Record<string, (specifier: string) => boolean> = {
  core: (s) => s.startsWith('.') || ['node:crypto', 'node:v8', '@cedar-policy/cedar-wasm/nodejs'].includes(s),
  // The PEP SDK: core, and identity for local mode (bundles, in-process token checks).
  // Framework adapters may import their framework's types only (checked below).
  enforce: (s) => s.startsWith('.') || s.startsWith('node:') || s === '@verity/core' || s === '@verity/identity',
  identity: (s) => s.startsWith('.') || s.startsWith('node:') || s === '@verity/core' || s === 'jose',
  store: (s) => s.startsWith('.') || s === '@verity/core' || s === '@electric-sql/pglite' || s === 'pg',
  server: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/identity', '@verity/store', 'fastify'].includes(s),
  // jose, for `verity token inspect` (decoding only, no verification).
  cli: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/server', '@verity/server/policy-folder', 'jose'].includes(s),
};

describe('layering', () => {
  for (const [pkg, allowed] of Object.entries(ALLOWED)) {
    it(`packages/${pkg} imports only what DESIGN.md allows`, () => {
      const offending = sourceFiles(join(ROOT, 'packages', pkg, 'src')).flatMap((file) => {
        // Adapters are thin shims over their framework: `import type` of it is all they may use.
        const adapter = pkg === 'enforce' && file.includes('/adapters/');
        return importsOf(file, adapter).filter((s) => !allowed(s)).map((s) => `${relative(ROOT, file)}: ${s}`);
      });
      expect(offending).toEqual([]);
    });
  }

  it('only the Cedar adapter imports cedar-wasm', () => {
    const importers = Object.keys(ALLOWED)
      .flatMap((pkg) => sourceFiles(join(ROOT, 'packages', pkg, 'src')))
      .filter((file) => importsOf(file).some((s) => s.startsWith('@cedar-policy/')))
      .map((file) => relative(ROOT, file));
    expect(importers).toEqual(['packages/core/src/cedar-engine.ts']);
  });
});
