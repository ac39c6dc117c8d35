#!/usr/bin/env node
// The `verity` executable. Runs the build (`npm run build`: dist/main.js) when it is current, and
// otherwise the TypeScript sources through Verity's loader (esbuild, about half a second more at
// start): a checkout without a build works, and a stale build is never run. Installed from a
// tarball or in the container image there are no sources, only the build.
import { exists, isBuildCurrent } from './current-build.mjs';

const built = new URL('../dist/main.js', import.meta.url);
const hasSources = exists(new URL('../src/', import.meta.url));

if (hasSources ? isBuildCurrent() : exists(built)) {
  await import(built.href);
} else {
  await import('../loader/register.mjs');
  await import('../src/main.ts');
}
