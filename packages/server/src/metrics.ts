/**
 * Prometheus metrics (`GET /metrics`, text exposition format 0.0.4) through `prom-client`, one
 * registry per server (tests run several in a process). What a decision pays is a counter and a
 * histogram update (about 0.5 µs); everything else is read from the services' own counters
 * when scraped. The metric names and labels are documented in docs/operations.md ("Metrics").
 */
import type { DecisionRecord, EngineStats } from '@verity/core';
import type { Database, SqlClient } from '@verity/store';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Aggregator, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { AuditWriter } from './audit-writer.js';
import type { FreshnessReport } from './freshness.js';

/** Hits and misses of one cache since the server started. */
export interface CacheStats {
  hits: number;
  misses: number;
}

/** Read at every scrape: the services' own counters. */
export interface MetricSources {
  audit: Pick<AuditWriter, 'health' | 'stats'>;
  freshness: { report(): FreshnessReport; readonly maxStalenessMs: number };
  engine: { stats(): EngineStats };
  /** Per cache name (`token`, `credential`, `entity`). */
  caches: Record<string, () => CacheStats>;
}

/** One process's metrics (prom-client's `getMetricsAsJSON`), as sent between processes. */
export type MetricSnapshot = Array<MetricObjectWithValues<MetricValue<string>>>;

/**
 * The exposition text of several processes' snapshots added up: counters and histograms summed,
 * gauges by their own aggregator (the lag and age the largest, freshness the smallest).
 */
export async function renderAggregate(snapshots: readonly MetricSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots as MetricSnapshot[]).metrics();
}

/** What {@link timedDatabase} times. */
export type StoreOperation = 'query' | 'transaction' | 'audit_append';

/** Who made a decision: the PDP (this server), or a PEP that decided in-process and reported it. */
export type DecisionMaker = 'pdp' | 'pep';

export interface Metrics {
  /** `Content-Type` of {@link Metrics.render}. */
  readonly contentType: string;
  /**
   * The exposition text, with the scrape-time values read from the sources; in a worker of
   * `--workers N`, every worker's metrics added up ({@link Metrics.renderBy}).
   */
  render(): Promise<string>;
  /** This process's metrics as prom-client's JSON, for the primary to add up ({@link renderAggregate}). */
  snapshot(): Promise<MetricSnapshot>;
  /** Render with `render` instead (a worker asks the primary for every worker's sum). */
  renderBy(render: () => Promise<string>): void;
  /** Count one decision record (and, made here, its latency). */
  decision(record: DecisionRecord, madeBy: DecisionMaker): void;
  /** One subject-token verification (seconds; `valid` or the refusal's `ERR_TOKEN_*` class). */
  tokenVerification(seconds: number, outcome: 'valid' | 'rejected'): void;
  /** One store operation (seconds), for {@link timedDatabase}. */
  storeOperation(operation: StoreOperation, seconds: number, ok: boolean): void;
  /** Start reading the services' counters at scrape time (once, when they exist). */
  watch(sources: MetricSources): void;
}

/**
 * Distinct values a label may take before further ones are counted as `_other`: tier labels come
 * from callers (`X-Verity-Tier`) and tenants are many, and every distinct set of labels is a
 * series Prometheus keeps. 1,000 tenants × 2 decisions × 2 makers × a few tiers is still modest.
 */
export const MAX_TENANT_LABELS = 1000;
export const MAX_TIER_LABELS = 32;
export const OTHER_LABEL = '_other';

/** A label's value, or `_other` once `max` distinct values have been seen. */
function boundedLabel(seen: Set<string>, value: string, max: number): string {
  if (seen.has(value)) return value;
  if (seen.size >= max) return OTHER_LABEL;
  seen.add(value);
  return value;
}

/** Seconds buckets from 5 µs (an in-process decision) to 2.5 s (a store under a fault). */
const LATENCY_BUCKETS = [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Create the metrics of one server; `collectDefaultMetrics` adds Node's process metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const tenants = new Set<string>();
  const tiers = new Set<string>();
  let sources: MetricSources | undefined;

  const decisions = new Counter({
    name: 'verity_decisions_total',
    help: 'Decisions by tenant, decision, tier (the caller\'s X-Verity-Tier or the reporting PEP\'s tier, "none" when unset) and who made them (pdp, or pep: reported by a PEP that decided in-process).',
    labelNames: ['tenant', 'decision', 'tier', 'made_by'] as const,
    registers,
  });
  const decisionSeconds = new Histogram({
    name: 'verity_decision_duration_seconds',
    help: 'Time this server took to decide, from the request to the answer (the audit record\'s latency), seconds.',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const tokenSeconds = new Histogram({
    name: 'verity_token_verification_duration_seconds',
    help: 'Subject-token verifications (signature, claims, revocation; cached ones included), by outcome, seconds.',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const storeSeconds = new Histogram({
    name: 'verity_store_operation_duration_seconds',
    help: 'Store operations (a query, a transaction, an audit append), by operation and outcome, seconds.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  // Read at scrape time from the services' own counters.
  const collected = <T extends string>(name: string, help: string, kind: 'counter' | 'gauge', labelNames: readonly T[], read: (metric: Gauge<T> | Counter<T>, s: MetricSources) => void, aggregator: Aggregator = 'sum'): void => {
    const config = {
      name,
      help,
      labelNames,
      registers,
      aggregator,
      collect(this: Gauge<T> | Counter<T>) {
        if (sources === undefined) return;
        this.reset();
        read(this, sources);
      },
    };
    if (kind === 'gauge') new Gauge<T>(config);
    else new Counter<T>(config);
  };
  const add = <T extends string>(metric: Gauge<T> | Counter<T>, labels: Partial<Record<T, string>>, value: number): void => {
    if (Number.isFinite(value) && value > 0) metric.inc(labels, value);
  };
  collected('verity_audit_pending_records', 'Audit records accepted and not yet committed.', 'gauge', [], (m, s) => add(m, {}, s.audit.health().pending));
  collected('verity_audit_lag_seconds', 'Age of the oldest audit record not yet committed, seconds (0 when none).', 'gauge', [], (m, s) => add(m, {}, s.audit.health().lagMs / 1000), 'max');
  collected('verity_audit_written_records_total', 'Audit records committed by this server\'s writer.', 'counter', [], (m, s) => add(m, {}, s.audit.stats().written));
  collected('verity_audit_write_failures_total', 'Audit writes that failed (each retried; past the bounds decisions fail closed).', 'counter', [], (m, s) => add(m, {}, s.audit.stats().failures));
  collected('verity_cache_requests_total', 'Cache look-ups by cache (token: verified tokens, credential: caller credentials, entity: entities) and result.', 'counter', ['cache', 'result'], (m, s) => {
    for (const [cache, read] of Object.entries(s.caches)) {
      const { hits, misses } = read();
      add(m, { cache, result: 'hit' }, hits);
      add(m, { cache, result: 'miss' }, misses);
    }
  });
  collected('verity_change_feed_age_seconds', 'Time since every change committed was last confirmed delivered to this server (the staleness bound applies to it; 0 where the store needs none).', 'gauge', [], (m, s) => {
    if (Number.isFinite(s.freshness.maxStalenessMs)) add(m, {}, s.freshness.report().ageMs / 1000);
  }, 'max');
  collected('verity_view_fresh', '1 when this server\'s view is within the staleness bound, else 0 (decisions then fail closed).', 'gauge', [], (m, s) => add(m, {}, s.freshness.report().fresh ? 1 : 0), 'min');
  collected('verity_engine_decisions_total', 'Decisions by the evaluator that made them (compiled, cedar-wasm).', 'counter', ['evaluator'], (m, s) => {
    const stats = s.engine.stats();
    add(m, { evaluator: 'compiled' }, stats.compiledDecisions);
    add(m, { evaluator: 'cedar-wasm' }, stats.wasmDecisions);
  });
  collected('verity_engine_delegated_total', 'Requests of compiled policy sets handed to cedar-wasm, by reason.', 'counter', ['reason'], (m, s) => {
    for (const [reason, count] of Object.entries(s.engine.stats().delegated)) add(m, { reason }, count);
  });
  collected('verity_engine_policy_sets_prepared_total', 'Policy sets prepared, by evaluator and (cedar-wasm: the fallback\'s) reason.', 'counter', ['evaluator', 'reason'], (m, s) => {
    const stats = s.engine.stats();
    add(m, { evaluator: 'compiled', reason: '' }, stats.compiledSets);
    for (const [reason, count] of Object.entries(stats.wasmSets)) add(m, { evaluator: 'cedar-wasm', reason }, count);
  });

  let render = (): Promise<string> => registry.metrics();
  return {
    contentType: registry.contentType,
    render: () => render(),
    snapshot: () => registry.getMetricsAsJSON() as Promise<MetricSnapshot>,
    renderBy(given) {
      render = given;
    },
    decision(record, madeBy) {
      decisions.inc({
        tenant: boundedLabel(tenants, record.tenant, MAX_TENANT_LABELS),
        decision: record.decision,
        tier: record.tier === null ? 'none' : boundedLabel(tiers, record.tier, MAX_TIER_LABELS),
        made_by: madeBy,
      });
      if (madeBy === 'pdp') decisionSeconds.observe(record.latencyUs / 1e6);
    },
    tokenVerification(seconds, outcome) {
      tokenSeconds.observe({ outcome }, seconds);
    },
    storeOperation(operation, seconds, ok) {
      storeSeconds.observe({ operation, outcome: ok ? 'ok' : 'error' }, seconds);
    },
    watch(given) {
      sources = given;
    },
  };
}

/**
 * The database with its operations timed into `verity_store_operation_duration_seconds`. The
 * change feed keeps the unwrapped one (its listener's lifetime is not an operation).
 */
export function timedDatabase(db: Database, observe: Metrics['storeOperation']): Database {
  const timed = async <R>(operation: StoreOperation, run: () => Promise<R>): Promise<R> => {
    const start = performance.now();
    let ok = false;
    try {
      const result = await run();
      ok = true;
      return result;
    } finally {
      observe(operation, (performance.now() - start) / 1000, ok);
    }
  };
  const appendAudit = db.appendAudit;
  const wrapped: Database = {
    kind: db.kind,
    query: <R>(sql: string, params?: readonly unknown[]) => timed('query', () => db.query<R>(sql, params)),
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => timed('transaction', () => db.transaction(fn)),
    listen: (channel, onPayload) => db.listen(channel, onPayload),
    close: () => db.close(),
    ...(appendAudit === undefined ? {} : { appendAudit: (records, options) => timed('audit_append', () => appendAudit.call(db, records, options)) }),
    ...(db.shared === undefined ? {} : { shared: db.shared }),
    ...(db.barrier === undefined ? {} : { barrier: () => db.barrier!() }),
    ...(db.holdBarrier === undefined ? {} : { holdBarrier: (until) => db.holdBarrier!(until) }),
  };
  return wrapped;
}
