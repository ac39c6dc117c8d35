/**
 * `node --import @verity/cli/loader bench/object-spread.ts [--json]`: why the decision path
 * writes no `{...a, b}` (eslint.config.js `HOT_PATH_FILES`, core's records.ts).
 *
 * On Node.js 20 (V8 11.3) an object that begins as the spread of a non-empty object is slow to
 * extend: `{...a, b}`, `{...a, ...b}`, `o = {...a}; o.b = 1`. A lone spread and a spread after
 * other properties are fast. Each row copies a three-field object (the shape of a decision's
 * meta or request) with one more field, 1,000 times per sample; µs are per copy.
 */
import { mergeRecords, withEntry } from '@verity/core';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const PER_SAMPLE = 1000;
const source: Record<string, unknown> = { requestId: 'r-1', tier: 'bench', observed: false };
const other: Record<string, unknown> = { risk: 1 };
let sink: unknown;

const rows: Array<[string, () => unknown]> = [
  ['{...a, b} (spread first, then a property)', () => ({ ...source, risk: 1 })],
  ['{...a, ...b} (two non-empty spreads)', () => ({ ...source, ...other })],
  ['o = {...a}; o.b = … (a property added to a spread copy)', () => Object.assign({ ...source }, other)],
  ['{...a} alone (a plain copy)', () => ({ ...source })],
  ['{b, ...a} (spread after a property)', () => ({ risk: 1, ...source })],
  ["withEntry(a, 'b', …) (core/records.ts)", () => withEntry(source, 'risk', 1)],
  ['mergeRecords(a, b) (core/records.ts)', () => mergeRecords(source, other)],
  ['written out field by field', () => ({ requestId: source.requestId, tier: source.tier, observed: source.observed, risk: 1 })],
];

const summaries: Summary[] = [];
for (const [label, copy] of rows) {
  const m = await measure(
    () => {
      for (let i = 0; i < PER_SAMPLE; i++) sink = copy();
    },
    { warmup: 200, n: 2000, budgetMs: 3000 },
  );
  summaries.push(summarize(label, m.samples, m.wallNs, PER_SAMPLE));
}
if (sink === undefined) throw new Error('bench: nothing was copied');
const [spreadFirst, , , , , entry] = summaries as Summary[] as [Summary, Summary, Summary, Summary, Summary, Summary];
const ratios = { '{...a, b} / withEntry (p50)': spreadFirst.p50Us / entry.p50Us };
if (json) printReport(summaries, ratios, true);
else {
  // Nanoseconds: most rows are well under a microsecond.
  process.stdout.write('| copy | p50 ns | p99 ns | copies/s |\n|---|---:|---:|---:|\n');
  for (const row of summaries) process.stdout.write(`| ${row.scenario} | ${(row.p50Us * 1000).toFixed(0)} | ${(row.p99Us * 1000).toFixed(0)} | ${row.opsPerSec.toFixed(0)} |\n`);
  for (const [name, value] of Object.entries(ratios)) process.stdout.write(`\n${name}: ${value.toFixed(1)}×\n`);
}
