/**
 * Run Verity's TypeScript sources on Node.js: `node --import ./packages/cli/loader/register.mjs
 * app.ts`, or `import '@verity/cli/loader'` first thing. Registers {@link ./hooks.mjs} and turns
 * on source maps, so stack traces name the `.ts` lines.
 */
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./hooks.mjs', import.meta.url);
