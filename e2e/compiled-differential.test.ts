/**
 * The compiled Cedar evaluator against cedar-wasm (oracle/differential): a few thousand
 * generated cases with fixed seeds — policy sets with and without schemas, templates, every
 * operator and extension function, runtime errors, odd entity data and data Cedar refuses —
 * each decided by Verity's engine (`evaluator: 'compiled'`) and by cedar-wasm's own
 * isAuthorized with the same policies, schema and complete entity list. Every case must agree
 * (both refuse, or the same decision, determining and erroring policies), and the compiled
 * evaluator must decide most cases itself, so the agreement is not just cedar-wasm agreeing
 * with itself. Long runs: `node --import @verity/cli/loader oracle/differential/run.ts --cases 1000000 --seed 1`.
 *
 * Cases that once disagreed live in oracle/differential/regressions.json (a full case each,
 * as run.ts writes them under `case` in oracle/differential/failures/).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '@verity/core';
import { caseOf, caseToJson, generateGroup, parseCaseJson, type DiffCase, type DiffGroup } from '../oracle/differential/generate.js';
import { addGroup, compareCase, compareGroup, compiledShare, createEngineUnderTest, emptyTally, formatTally, type CaseOutcome, type Tally } from '../oracle/differential/compare.js';

/** Seeds, policy sets per seed and requests per set: 3 × 40 × 30 = 3,600 cases. */
const SEEDS = [1, 2, 3];
const GROUPS_PER_SEED = 40;
const REQUESTS_PER_GROUP = 30;
/** Share of the decided cases the compiled evaluator must decide itself (not its cedar-wasm fallback). */
const MIN_COMPILED_SHARE = 0.7;

let engine: Engine;
const tally: Tally = emptyTally();
const disagreements: Array<{ outcome: CaseOutcome; group: DiffGroup; index: number }> = [];
let seconds = 0;

beforeAll(async () => {
  engine = createEngineUnderTest();
  const started = Date.now();
  for (const seed of SEEDS) {
    for (let g = 0; g < GROUPS_PER_SEED; g++) {
      const group = generateGroup(seed, g, { requests: REQUESTS_PER_GROUP });
      const result = await compareGroup(engine, group);
      addGroup(tally, result);
      result.outcomes.forEach((outcome, index) => {
        if (!outcome.agree) disagreements.push({ outcome, group, index });
      });
    }
  }
  seconds = (Date.now() - started) / 1000;
  console.log(`compiled-differential: ${formatTally(tally, seconds)}`);
}, 240_000);

afterAll(async () => {
  await engine?.close();
});

describe('the compiled Cedar evaluator against cedar-wasm', () => {
  it('agrees on every generated case', () => {
    expect(tally.cases).toBe(SEEDS.length * GROUPS_PER_SEED * REQUESTS_PER_GROUP);
    // The first one in full, ready for regressions.json; case ids are <seed>-<group>-<request>:
    // `node --import @verity/cli/loader oracle/differential/run.ts --seed S --group G` writes them minimized.
    const shown = disagreements.slice(0, 1).map(({ outcome, group, index }) => `${outcome.id}: ${outcome.why}\n${caseToJson(caseOf(group, index))}`);
    expect(disagreements.length, `${disagreements.length} disagreement(s):\n${disagreements.map((d) => `${d.outcome.id}: ${d.outcome.why}`).slice(0, 30).join('\n')}\n\n${shown.join('\n\n')}`).toBe(0);
  });

  it(`decides at least ${MIN_COMPILED_SHARE * 100} % of the decided cases with the compiled evaluator`, () => {
    const decided = tally.compiled + tally.fallback;
    // Most cases are decided (not refused by Cedar), and both outcomes are common.
    expect(decided).toBeGreaterThan(0.75 * tally.cases);
    expect(tally.allow).toBeGreaterThan(0.2 * decided);
    expect(tally.deny).toBeGreaterThan(0.2 * decided);
    expect(compiledShare(tally), formatTally(tally, seconds)).toBeGreaterThanOrEqual(MIN_COMPILED_SHARE);
  });

  it('agrees on every recorded regression', async () => {
    const cases = parseCaseJson(readFileSync(new URL('../oracle/differential/regressions.json', import.meta.url), 'utf8')) as DiffCase[];
    const failed: string[] = [];
    for (const c of cases) {
      const outcome = await compareCase(engine, c);
      if (!outcome.agree) failed.push(`${c.id}: ${outcome.why}`);
    }
    expect(failed).toEqual([]);
  });
});
