/** `verity policy test DIR`: run a folder's tests/*.json cases against its policies locally, like `opa test`. */
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { createOutcomeDecider, folderDecisionStore, loadLocalStore, locatePolicies, type DecisionOutcome } from '../local-store.js';
import { wantsJson, writeLines, writeResult } from '../output.js';
import { formatCoverage, isBelowCoverage, measureCoverage, type CoverageReport } from '../policy-coverage.js';
import { watchFolder } from '../watch.js';

interface CaseResult {
  file: string;
  name: string;
  ok: boolean;
  expect: 'allow' | 'deny';
  got: DecisionOutcome['decision'];
  reasons: string[];
  errors: DecisionOutcome['errors'];
}

function describeFailure(r: CaseResult): string {
  const by = r.reasons.length > 0 ? ` (determined by ${r.reasons.join(', ')})` : ' (no policy applied)';
  const why = r.got === 'error' ? `expected ${r.expect}, got an error` : `expected ${r.expect}, got ${r.got}${by}`;
  return `FAIL ${r.file}: ${r.name}: ${why}`;
}

/** `--coverage-min PCT`: a percentage from 0 to 100. */
function coverageMin(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const pct = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || pct > 100) throw usageError(`--coverage-min must be a percentage from 0 to 100, got '${text}'`);
  return pct;
}

/** Exit 0 when every case passes (and coverage reaches --coverage-min), 1 otherwise, 3 when the policies do not build. */
export const policyTest: Command = {
  name: 'policy test',
  summary: 'Run the tests/*.json cases of a policy-store folder locally (no server)',
  usage: 'DIR [--coverage] [--coverage-min PCT] [--watch]',
  arguments: ['DIR'],
  options: {
    coverage: { type: 'boolean', description: 'report which policies and templates the tests exercised, per file' },
    'coverage-min': { type: 'string', valueName: 'PCT', description: 'exit 1 when coverage is below PCT percent (implies --coverage)' },
    watch: { type: 'boolean', description: 'run again whenever a file under DIR changes, until Ctrl-C' },
  },
  details: [
    'Each tests/*.json file holds one case or an array of cases:',
    '  {"name": "...", "request": {AuthZEN evaluation request}, "expect": "allow" | "deny"}',
    'Requests are decided against the folder\'s policies and entities.json, mapped the way the',
    'server maps AuthZEN requests, with the tenant settings in verity.json\'s "settings" (e.g.',
    '{"settings": {"validateRequests": true, "actionType": "Acme::Action"}}). Exits 1 if any case fails.',
    'Coverage is per policy: a policy (a template: one of its links) counts as covered when it was',
    'determining or erroring for at least one test request. Cedar does not say which when/unless',
    'conditions it evaluated, so there is no per-condition coverage (docs/policy-rollout.md).',
    'With --watch, every change under DIR runs the tests again; a policy that does not parse is',
    'reported and the watch goes on. Ctrl-C ends it, with the exit code of the last run.',
  ].join('\n'),
  async run(args, io) {
    const min = coverageMin(args.values['coverage-min']);
    const wantsCoverage = args.values['coverage'] === true || min !== undefined;
    const dir = args.positionals[0] ?? '';
    if (args.values['watch'] === true) return watchFolder(dir, io, wantsJson(args), () => runTests(args, io, dir, wantsCoverage, min));
    return runTests(args, io, dir, wantsCoverage, min);
  },
};

/** One run of the folder's tests: prints the report, resolves to the exit code. */
async function runTests(args: ParsedArgs, io: CommandIo, dir: string, wantsCoverage: boolean, min: number | undefined): Promise<number> {
  const store = await loadLocalStore(dir, io);
  const decide = await createOutcomeDecider(store.engine, folderDecisionStore(store));
  const outcomes: DecisionOutcome[] = [];
  const results: CaseResult[] = [];
  for (const test of store.folder.tests) {
    const outcome = await decide({ kind: 'authzen', request: test.request });
    outcomes.push(outcome);
    results.push({ file: test.file, name: test.name, expect: test.expect, ok: outcome.decision === test.expect, got: outcome.decision, reasons: outcome.determiningPolicies, errors: outcome.errors });
  }
  const coverage: CoverageReport | undefined = wantsCoverage ? measureCoverage((await locatePolicies(store)).values(), store.content.links, outcomes) : undefined;
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const belowMin = coverage !== undefined && min !== undefined && isBelowCoverage(coverage, min);
  const report = coverage === undefined ? { passed, failed, results } : { passed, failed, results, coverage: { ...coverage, ...(min === undefined ? {} : { min, belowMin }) } };
  writeResult(args, io, report, () => {
    for (const r of results) {
      writeLines(io.stdout, r.ok ? `ok   ${r.file}: ${r.name}` : describeFailure(r));
      for (const e of r.errors) writeLines(io.stdout, `     error${e.policyId ? ` in ${e.policyId}` : ''}: ${e.message}`);
    }
    writeLines(io.stdout, `${passed} passed, ${failed} failed`);
    if (coverage !== undefined) writeLines(io.stdout, ...formatCoverage(coverage));
    if (belowMin) writeLines(io.stdout, `FAIL coverage ${coverage.percent.toFixed(1)}% is below --coverage-min ${min}%`);
  });
  return failed > 0 || belowMin ? EXIT.CHECK_FAILED : EXIT.OK;
}
