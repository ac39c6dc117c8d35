/**
 * The dependency rules of DESIGN.md, checked on the source: core does no I/O and knows no
 * framework or driver; only the Cedar adapter imports cedar-wasm; packages import each other
 * only downwards.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string, extensions: readonly string[] = ['.ts']): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path, extensions);
    // Tests and their helpers (never built into dist) may import vitest and the oracle; shared
    // test suites live outside src (packages/store/test/).
    return extensions.some((ext) => entry.name.endsWith(ext)) && !/(\.test|test-helpers|test-fixtures)\.ts$/.test(entry.name) ? [path] : [];
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
  // Core does no I/O; its Cedar adapter (src/cedar/) runs cedar-wasm on threads of its own.
  // ipaddr.js parses IP literals and CIDR ranges (cidr.ts): pure, no I/O.
  core: (s) => s.startsWith('.') || ['node:crypto', 'node:v8', 'node:worker_threads', 'lossless-json', 'ipaddr.js'].includes(s),
  // The PEP SDK: core, and identity for local mode (bundles, in-process token checks); jose to
  // read a data-tier receipt's expiry (decoding only: the SDK holds no receipt key).
  // Framework adapters may import their framework's types only (checked below).
  // @opentelemetry/api injects the app's trace context into PDP calls (a no-op without an SDK).
  enforce: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/core/cedar', '@verity/identity', '@verity/workload', 'jose', '@opentelemetry/api'].includes(s),
  // Workload identity: X.509 through @peculiar/x509 (which needs reflect-metadata), JWT/JWS through
  // jose, mTLS clients through undici, the Istio importer's YAML through yaml.
  workload: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/identity', 'jose', '@peculiar/x509', 'reflect-metadata', 'undici', 'yaml'].includes(s),
  identity: (s) => s.startsWith('.') || s.startsWith('node:') || s === '@verity/core' || s === 'jose',
  // The data tier: SQL for the app's database and transaction helpers; pg by type only where it can.
  'data-tier': (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', 'pg'].includes(s),
  // node:worker_threads: the PGlite driver runs the embedded database on its own thread.
  // node:fs/promises: it reads (and writes) the fresh copy of an initialized PGlite data folder
  // that VERITY_PGLITE_FRESH_COPY names (one initdb per test run; pglite-driver.ts).
  store: (s) => s.startsWith('.') || ['@verity/core', '@electric-sql/pglite', 'pg', 'node:worker_threads', 'node:fs/promises'].includes(s),
  // pino is Fastify's own logger and @fastify/under-pressure its load-shedding plugin: the server builds it first so services log before the app exists.
  // maxmind reads the operator's geo database in one file (network/maxmind-resolver.ts), until the
  // risk signals get the package of their own DESIGN.md proposes (packages/risk).
  // prom-client renders /metrics (metrics.ts) and adds up the workers' metrics under --workers;
  // OpenTelemetry's API, SDK, OTLP exporter and Fastify's own instrumentation trace (tracing.ts).
  server: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/core/cedar', '@verity/identity', '@verity/store', '@verity/workload/core', 'fastify', '@fastify/under-pressure', 'pino', 'maxmind', 'prom-client', '@fastify/otel'].includes(s) || s.startsWith('@opentelemetry/'),
  // jose, for `verity token inspect` (decoding only, no verification); the data tier and pg for
  // `verity db install/rotate`, which connect to the application database as its owner; the
  // workload package for `verity workload agent/svid`; yaml and ajv read and check `serve --config`'s
  // file; the credential roles come from their own small module of the server; diff (jsdiff)
  // shows a changed policy's text in `verity policy diff`.
  cli: (s) => s.startsWith('.') || s.startsWith('node:') || ['@verity/core', '@verity/core/cedar', '@verity/server', '@verity/server/policy-folder', '@verity/server/credential-roles', '@verity/data-tier', '@verity/workload', 'jose', 'pg', 'yaml', 'ajv', 'diff'].includes(s),
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

  it('wire formats (tenant id, request id, tier label, plain object) are checked in core alone', () => {
    const copies = [
      ['[a-z0-9][a-z0-9-]{0,62}', 'a tenant id pattern'],
      ['[\\w.:@/+=-]{1,128}', 'a request id pattern'],
      ['[A-Za-z0-9._:/-]{1,64}', 'a tier label pattern'],
    ] as const;
    const plainObject = /typeof (\S+) [!=]== 'object' (?:&&|\|\|) \1 [!=]== null (?:&&|\|\|) !?Array\.isArray\(\1\)/;
    // Core's own copies in files the decision-pipeline work is rewriting; they go with it.
    const pending = new Set(['packages/core/src/authzen.ts', 'packages/core/src/policy-analysis.ts', 'packages/core/src/entity-slice.ts']);
    const offending = Object.keys(ALLOWED)
      .flatMap((pkg) => sourceFiles(join(ROOT, 'packages', pkg, 'src')))
      .map((file) => relative(ROOT, file))
      .filter((file) => file !== 'packages/core/src/wire-format.ts')
      .flatMap((file) => {
        const text = readFileSync(join(ROOT, file), 'utf8');
        const found = copies.filter(([pattern]) => text.includes(pattern)).map(([, what]) => `${file}: ${what}`);
        if (plainObject.test(text) && !pending.has(file)) found.push(`${file}: a plain-object check`);
        return found;
      });
    expect(offending).toEqual([]);
  });

  it('token-in handling (bearer parsing, verify plus revocation) lives once, in identity', () => {
    const files = Object.keys(ALLOWED).flatMap((pkg) => sourceFiles(join(ROOT, 'packages', pkg, 'src'))).map((file) => relative(ROOT, file));
    const where = (pattern: RegExp) => files.filter((file) => pattern.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(where(/\/\^Bearer/i)).toEqual(['packages/identity/src/bearer-token.ts']);
    expect(where(/\.isRevoked\(/)).toEqual(['packages/identity/src/token-authenticator.ts']);
  });

  it("the server's routes stay thin: nothing under http/ reaches the store", () => {
    const offending = sourceFiles(join(ROOT, 'packages', 'server', 'src', 'http')).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const found = importsOf(file).filter((s) => s === '@verity/store' || s.endsWith('/require-tenant.js'));
      if (/\.store\b/.test(text)) found.push('.store');
      return found.map((what) => `${relative(ROOT, file)}: ${what}`);
    });
    expect(offending).toEqual([]);
  });

  it('only the Cedar adapter loads cedar-wasm, on its engine thread', () => {
    const files = Object.keys(ALLOWED).flatMap((pkg) => sourceFiles(join(ROOT, 'packages', pkg, 'src'), ['.ts', '.mjs']));
    const loaders = files.filter((file) => /['"]@cedar-policy\/cedar-wasm/.test(readFileSync(file, 'utf8'))).map((file) => relative(ROOT, file));
    expect(loaders).toEqual(['packages/core/src/cedar/cedar-worker.mjs']);
  });

  it('importing @verity/identity or @verity/enforce leaves cedar-wasm unloaded', () => {
    const script = [
      "import '@verity/identity';",
      "import '@verity/enforce';",
      "import { createRequire } from 'node:module';",
      "const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('cedar-wasm'));",
      'process.stdout.write(JSON.stringify(loaded));',
    ].join('\n');
    const output = execFileSync(process.execPath, ['--import', '@verity/cli/loader', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual([]);
  });
});
