/** Latency summaries for the benchmark: nearest-rank percentiles over samples in nanoseconds. */

export interface Summary {
  scenario: string;
  /** Decisions measured (for a batch scenario: batches × items). */
  n: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** Decisions per second of wall time over the measured phase. */
  opsPerSec: number;
}

/** Nearest-rank percentile (`q` in 0..1) of an ascending-sorted array. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/**
 * Summarize per-call latencies. `perCall` divides each sample (a batch of that many
 * decisions) so every figure reads as cost per decision.
 */
export function summarize(scenario: string, samplesNs: readonly number[], wallNs: number, perCall = 1): Summary {
  const sorted = Float64Array.from(samplesNs, (ns) => ns / perCall / 1000).sort();
  const total = sorted.reduce((sum, us) => sum + us, 0);
  return {
    scenario,
    n: sorted.length * perCall,
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
    meanUs: sorted.length === 0 ? Number.NaN : total / sorted.length,
    opsPerSec: wallNs > 0 ? (sorted.length * perCall) / (wallNs / 1e9) : Number.NaN,
  };
}

/** Run `fn` `warmup` times unmeasured, then until `n` samples or `budgetMs` has passed. */
export async function measure(fn: () => unknown, options: { warmup: number; n: number; budgetMs: number }): Promise<{ samples: number[]; wallNs: number }> {
  // Synchronous calls (the raw engine) are not awaited, so they pay no microtask hop.
  for (let i = 0; i < options.warmup; i++) {
    const result = fn();
    if (result instanceof Promise) await result;
  }
  const samples: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(options.budgetMs) * 1_000_000n;
  let now = started;
  while (samples.length < options.n && now < deadline) {
    const t0 = process.hrtime.bigint();
    const result = fn();
    if (result instanceof Promise) await result;
    now = process.hrtime.bigint();
    samples.push(Number(now - t0));
  }
  return { samples, wallNs: Number(now - started) };
}

/**
 * Print a bench's result: JSON (`{summaries, ratios}`) with `json`, else the Markdown table
 * RESULTS.md quotes (scenario, n, p50 µs, p99 µs, ops/s) and one line per ratio.
 */
export function printReport(summaries: readonly Summary[], ratios: Record<string, number>, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ summaries, ratios }, null, 2)}\n`);
    return;
  }
  const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  process.stdout.write('| scenario | n | p50 µs | p99 µs | ops/s |\n|---|---:|---:|---:|---:|\n');
  for (const s of summaries) process.stdout.write(`| ${s.scenario} | ${s.n} | ${f(s.p50Us)} | ${f(s.p99Us)} | ${f(s.opsPerSec)} |\n`);
  process.stdout.write('\n');
  for (const [name, value] of Object.entries(ratios)) process.stdout.write(`${name}: ${value.toFixed(2)}×\n`);
}
