#!/usr/bin/env node
/**
 * `npm run build`: every package's `src` to JavaScript, declarations and source maps in its `dist`
 * (`tsc -b tsconfig.build.json`, incremental: about a second when nothing changed), then the files
 * tsc does not emit that the code loads at run time (the `.mjs` worker and audit-hash modules with
 * their `.d.mts` types, the shipped Cedar policies and schema, the web console's HTML, CSS and
 * browser modules), then the stamp the `verity` bin
 * reads (packages/cli/bin/current-build.mjs: it runs `dist` only while no source is newer).
 *
 * The stamp carries the time the build started, so a source edited while tsc ran still counts
 * as newer than the build. A failed build writes no stamp. `--if-stale` (what `npm start` runs)
 * does nothing when the build is current by that same test; other arguments go to tsc.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP as STAMP_URL, isBuildCurrent } from '../packages/cli/bin/current-build.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = join(ROOT, 'packages');
/** Written last by a successful build; its mtime is when the build started. */
const BUILD_STAMP = fileURLToPath(STAMP_URL);
/** Source files that are not TypeScript to compile but are read or imported at run time. */
const ASSET = /\.(?:mjs|d\.mts|cedar|cedarschema|html|css)$/;

/** Every asset under a package's src, as paths relative to it (tests and test data left out). */
function assetsOf(srcDir, sub = '') {
  const found = [];
  for (const entry of readdirSync(join(srcDir, sub), { withFileTypes: true })) {
    const path = join(sub, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'testdata') found.push(...assetsOf(srcDir, path));
    } else if (ASSET.test(entry.name) && !entry.name.includes('.test.')) {
      found.push(path);
    }
  }
  return found;
}

function copyAssets() {
  for (const name of readdirSync(PACKAGES)) {
    const src = join(PACKAGES, name, 'src');
    let assets;
    try {
      assets = assetsOf(src);
    } catch {
      continue; // not a package with sources
    }
    for (const asset of assets) {
      const to = join(PACKAGES, name, 'dist', asset);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(src, asset), to);
    }
  }
}

const args = process.argv.slice(2);
if (args.includes('--if-stale') && isBuildCurrent()) process.exit(0);
const started = new Date();
rmSync(BUILD_STAMP, { force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const build = spawnSync(process.execPath, [tsc, '-b', join(ROOT, 'tsconfig.build.json'), ...args.filter((arg) => arg !== '--if-stale')], { stdio: 'inherit' });
if (build.status !== 0) {
  process.stderr.write(`build: tsc -b failed; ${relative(ROOT, BUILD_STAMP)} not written, so \`verity\` runs the sources\n`);
  process.exit(build.status ?? 1);
}
copyAssets();
writeFileSync(BUILD_STAMP, `${started.toISOString()}\n`);
utimesSync(BUILD_STAMP, started, started);
