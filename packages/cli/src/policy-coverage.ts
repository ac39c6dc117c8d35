/**
 * Policy coverage of `policy test --coverage`: which policies and templates the tests' answers
 * named. Per policy, not per condition: Cedar's answer names the determining and the erroring
 * policies and nothing about which `when`/`unless` clauses it evaluated (docs/policy-rollout.md).
 */
import type { PolicySource, TemplateLink } from '@verity/core';
import type { DecisionOutcome } from './local-store.js';

/** One policy or template and how many test requests named it. */
export interface PolicyCoverage {
  id: string;
  kind: 'policy' | 'template';
  file: string;
  line: number;
  /** Test requests for which it (for a template: one of its links) was determining or erroring. */
  hits: number;
  covered: boolean;
  /** A template's links (a template without links can never be covered). */
  links?: string[];
}

export interface FileCoverage {
  file: string;
  covered: number;
  total: number;
  uncovered: Array<{ id: string; kind: 'policy' | 'template'; line: number }>;
}

export interface CoverageReport {
  covered: number;
  total: number;
  /** covered / total × 100, rounded down to one decimal (100 when there is nothing to cover). */
  percent: number;
  files: FileCoverage[];
  policies: PolicyCoverage[];
}

/** Measure coverage of `sources` (every policy and template of the folder) by the tests' outcomes. */
export function measureCoverage(sources: Iterable<PolicySource>, links: readonly TemplateLink[], outcomes: readonly DecisionOutcome[]): CoverageReport {
  // A link is evaluated as its template: a hit on the link is a hit on the template.
  const ownerOf = new Map<string, string>(links.map((link) => [link.id, link.templateId]));
  const hits = new Map<string, number>();
  for (const outcome of outcomes) {
    const named = new Set([...outcome.determiningPolicies, ...outcome.errors.flatMap((e) => (e.policyId === undefined ? [] : [e.policyId]))]);
    const owners = new Set([...named].map((id) => ownerOf.get(id) ?? id));
    for (const id of owners) hits.set(id, (hits.get(id) ?? 0) + 1);
  }
  const policies: PolicyCoverage[] = [];
  for (const source of sources) {
    const count = hits.get(source.id) ?? 0;
    const entry: PolicyCoverage = { id: source.id, kind: source.kind, file: source.file, line: source.line, hits: count, covered: count > 0 };
    if (source.kind === 'template') entry.links = links.filter((l) => l.templateId === source.id).map((l) => l.id);
    policies.push(entry);
  }
  const files = new Map<string, FileCoverage>();
  for (const p of policies) {
    const file = files.get(p.file) ?? { file: p.file, covered: 0, total: 0, uncovered: [] };
    file.total++;
    if (p.covered) file.covered++;
    else file.uncovered.push({ id: p.id, kind: p.kind, line: p.line });
    files.set(p.file, file);
  }
  const covered = policies.filter((p) => p.covered).length;
  const total = policies.length;
  return { covered, total, percent: total === 0 ? 100 : Math.floor((covered * 1000) / total) / 10, files: [...files.values()], policies };
}

/** True when the coverage is below `minPercent` (compared exactly, not on the rounded percent). */
export function isBelowCoverage(report: CoverageReport, minPercent: number): boolean {
  return report.covered * 100 < minPercent * report.total;
}

/** The human report: a total line, then each file's count and what it leaves uncovered. */
export function formatCoverage(report: CoverageReport): string[] {
  const lines = [`coverage: ${report.covered}/${report.total} policies and templates (${report.percent.toFixed(1)}%) determining or erroring in a test`];
  const width = Math.max(0, ...report.files.map((f) => f.file.length));
  for (const file of report.files) {
    lines.push(`  ${file.file.padEnd(width)}  ${file.covered}/${file.total}`);
    for (const u of file.uncovered) {
      const policy = report.policies.find((p) => p.id === u.id);
      const note = u.kind === 'template' ? (policy?.links?.length ? ' (template)' : ' (template without links)') : '';
      lines.push(`    not covered: ${u.id}  ${file.file}:${u.line}${note}`);
    }
  }
  return lines;
}
