/** Prints the benchmark's results: machine facts and one row per scenario. */
import { availableParallelism, cpus, totalmem } from 'node:os';
import type { Summary } from './stats.js';

export interface MachineFacts {
  node: string;
  platform: string;
  cpuModel: string;
  cores: number;
  memoryGb: number;
  cedarVersion: string;
}

export function machineFacts(cedarVersion: string): MachineFacts {
  const cpu = cpus()[0];
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: cpu?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: Math.round(totalmem() / 2 ** 30),
    cedarVersion,
  };
}

export interface Row extends Summary {
  /** p50 over the p50 of raw `statefulIsAuthorized`. */
  ratio: number;
}

export function withRatios(summaries: readonly Summary[], baselineP50Us: number): Row[] {
  return summaries.map((s) => ({ ...s, ratio: s.p50Us / baselineP50Us }));
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

export function formatTable(rows: readonly Row[]): string {
  const header = ['scenario', 'n', 'p50 µs', 'p99 µs', 'mean µs', 'ops/s', 'p50 ratio'];
  const body = rows.map((r) => [r.scenario, String(r.n), fixed(r.p50Us, 1), fixed(r.p99Us, 1), fixed(r.meanUs, 1), fixed(r.opsPerSec, 0), `${fixed(r.ratio, r.ratio < 1 ? 2 : 1)}×`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] as string).length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function formatMachine(m: MachineFacts): string {
  return `node ${m.node} (${m.platform}), ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, cedar ${m.cedarVersion}`;
}
