/**
 * Start-up times (issue 14, deployables): `verity --help` on the build and on the loader, and
 * `npm start` until it is ready to decide. bench/RESULTS.md, "Start-up: the build vs the loader".
 *
 *   node --import @verity/cli/loader bench/startup.ts [--runs 10]
 *
 * Builds first (`npm run build`), so the bin runs dist; the loader row runs what the bin runs
 * without a current build (`--import` the loader, then src/main.ts). `npm start` runs on a fresh
 * data folder (the first start: the database is created, the demo loaded) and then again on the
 * same folder; "ready" is its `Verity listening on` line, printed once it decides.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);

/** Wall milliseconds of one run of `node …args` to its exit. */
function timeNode(args: string[]): number {
  const started = performance.now();
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  return performance.now() - started;
}

/** Wall milliseconds from `npm start -- …` until it prints that it listens; then stops it. */
function timeStart(data: string): Promise<number> {
  const started = performance.now();
  const child = spawn('npm', ['start', '--', '--port', '0', '--data', data, '--log-level', 'warn'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let ready: number | null = null;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (ready !== null || !out.includes('Verity listening on')) return;
      ready = performance.now() - started;
      process.kill(-child.pid!, 'SIGTERM'); // npm's whole group: npm, sh, node
    });
    child.on('exit', (code) => (ready === null ? reject(new Error(`npm start exited ${code} before it was ready`)) : resolve(ready)));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const row = (what: string, xs: number[]): string => `| ${what} | ${xs.length} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`;

execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
const built: number[] = [];
const loader: number[] = [];
for (let i = 0; i < runs; i++) {
  built.push(timeNode(['packages/cli/bin/verity.mjs', '--help']));
  loader.push(timeNode(['--import', './packages/cli/loader/register.mjs', 'packages/cli/src/main.ts', '--help']));
}
const first: number[] = [];
const again: number[] = [];
for (let i = 0; i < Math.min(runs, 3); i++) {
  const dir = mkdtempSync(join(tmpdir(), 'verity-startup-'));
  try {
    first.push(await timeStart(join(dir, 'data')));
    again.push(await timeStart(join(dir, 'data')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log('| what | runs | median ms | min ms | max ms |\n|---|---:|---:|---:|---:|');
console.log(row('`verity --help`, built (bin → dist/main.js)', built));
console.log(row('`verity --help`, loader (src/main.ts)', loader));
console.log(row('`npm start` to ready, new data folder', first));
console.log(row('`npm start` to ready, existing data folder', again));
console.log(`\nbuilt/loader median: ${(median(built) / median(loader)).toFixed(2)}`);
