/**
 * The long differential run: Verity's compiled Cedar evaluator against cedar-wasm's
 * isAuthorized on generated cases, until `--cases` cases or `--minutes` minutes.
 *
 *   node --import @verity/cli/loader oracle/differential/run.ts --cases 1000000 --seed 1 [--minutes 60] [--requests 30]
 *   node --import @verity/cli/loader oracle/differential/run.ts --seed 1 --group 91     (one policy set again: case ids are <seed>-<group>-<request>)
 *
 * Progress goes to stderr; at the end the tally (cases, disagreements, compiled vs cedar-wasm
 * fallback, cases/s) goes to stdout. Each disagreement is written, minimized when that is
 * cheap, to oracle/differential/failures/<seed>-<n>.json (n: the case's number in the run);
 * its `case` can be added to oracle/differential/regressions.json as is. Exit code 1 when any
 * case disagreed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { caseOf, caseToJson, generateGroup } from './generate.js';
import { addGroup, compareCase, compareGroup, createEngineUnderTest, emptyTally, formatTally, minimize, type CaseOutcome } from './compare.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    minutes: { type: 'string' },
    requests: { type: 'string', default: '30' },
    'max-failures': { type: 'string', default: '200' },
    /** Run only this policy set (group) of the seed: reproduces a case id `<seed>-<group>-<request>`. */
    group: { type: 'string' },
    'no-minimize': { type: 'boolean', default: false },
  },
});

const totalCases = Number(values.cases);
const seed = Number(values.seed);
const perGroup = Number(values.requests);
const deadline = values.minutes === undefined ? Infinity : Date.now() + Number(values.minutes) * 60_000;
const maxFailures = Number(values['max-failures']);
for (const [name, n] of [['--cases', totalCases], ['--seed', seed], ['--requests', perGroup], ['--max-failures', maxFailures]] as const) {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
}

const failuresDir = new URL('./failures/', import.meta.url);
const engine = createEngineUnderTest();
const tally = emptyTally();
const started = Date.now();
let lastProgress = started;
let written = 0;
let interrupted = false;
/** How many disagreements of each kind (the description with ids, values and messages blanked). */
const signatures = new Map<string, number>();
const signatureOf = (outcome: CaseOutcome) =>
  (outcome.why ?? '')
    .replace(/`[^`]*`/g, '`_`')
    .replace(/\[[^\]]*\]/g, '[_]')
    .replace(/"[^"]*"/g, '"_"');
process.on('SIGINT', () => {
  interrupted = true;
});

async function record(outcome: CaseOutcome, groupIndex: number, requestIndex: number, group: ReturnType<typeof generateGroup>): Promise<void> {
  const n = groupIndex * perGroup + requestIndex;
  const original = caseOf(group, requestIndex);
  let minimized = original;
  let shown = outcome;
  // The same kind of disagreement (ids and values aside) is minimized only its first few times.
  const seen = signatures.get(signatureOf(outcome)) ?? 0;
  if (!values['no-minimize'] && seen <= 3) {
    try {
      minimized = await minimize(engine, original);
      const again = await compareCase(engine, minimized);
      if (!again.agree) shown = again;
      else minimized = original;
    } catch (error) {
      process.stderr.write(`minimizing ${original.id} failed: ${String(error)}\n`);
    }
  }
  mkdirSync(failuresDir, { recursive: true });
  const file = new URL(`./${seed}-${n}.json`, failuresDir);
  const body = { why: shown.why, oracle: shown.oracle, verity: shown.verity, case: minimized, ...(minimized === original ? {} : { original, originalWhy: outcome.why }) };
  writeFileSync(file, `${caseToJson(body)}\n`);
  process.stderr.write(`DISAGREEMENT ${original.id}: ${outcome.why}\n  → ${file.pathname}\n`);
}

try {
  const onlyGroup = values.group === undefined ? undefined : Number(values.group);
  for (let g = onlyGroup ?? 0; tally.cases < totalCases && Date.now() < deadline && !interrupted && (onlyGroup === undefined || g === onlyGroup); g++) {
    const requests = Math.min(perGroup, totalCases - tally.cases);
    const group = generateGroup(seed, g, { requests: perGroup });
    group.requests.length = requests;
    const result = await compareGroup(engine, group);
    addGroup(tally, result);
    for (const [i, outcome] of result.outcomes.entries()) {
      if (outcome.agree) continue;
      const signature = signatureOf(outcome);
      signatures.set(signature, (signatures.get(signature) ?? 0) + 1);
      if (written++ < maxFailures) await record(outcome, g, i, group);
    }
    if (Date.now() - lastProgress > 5_000) {
      lastProgress = Date.now();
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(
        `[${seconds.toFixed(0)} s] ${tally.cases} cases (${(tally.cases / seconds).toFixed(0)}/s), ${tally.disagree} disagree, compiled ${tally.compiled}, cedar-wasm ${tally.fallback}, refused ${tally.refused}\n`,
      );
    }
  }
} finally {
  await engine.close();
}

const seconds = (Date.now() - started) / 1000;
process.stdout.write(`seed ${seed}, ${perGroup} requests per policy set${interrupted ? ' (interrupted)' : ''}\n${formatTally(tally, seconds)}\n`);
if (tally.disagree > 0) {
  process.stdout.write(`${Math.min(written, maxFailures)} disagreement(s) written to ${failuresDir.pathname}; kinds:\n`);
  for (const [signature, n] of [...signatures].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ×${n} ${signature.slice(0, 200)}\n`);
}
process.exitCode = tally.disagree > 0 ? 1 : 0;
