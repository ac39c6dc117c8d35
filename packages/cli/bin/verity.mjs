#!/usr/bin/env node
// The `verity` executable: runs the TypeScript sources through Verity's loader (esbuild, no build step).
import '../loader/register.mjs';

await import('../src/main.ts');
