/** `verity policy test DIR`: run a folder's tests/*.json cases against its policies locally, like `opa test`. */
import { createLocalDecider, isVerityError } from '@verity/core';
import type { Command } from '../command.js';
import { EXIT, withSources } from '../errors.js';
import { loadLocalStore } from '../local-store.js';
import { writeLines, writeResult } from '../output.js';

interface CaseResult {
  file: string;
  name: string;
  ok: boolean;
  expect: 'allow' | 'deny';
  got: 'allow' | 'deny' | 'error';
  reasons: string[];
  errors: Array<{ policyId?: string; message: string }>;
}

function describeFailure(r: CaseResult): string {
  const by = r.reasons.length > 0 ? ` (determined by ${r.reasons.join(', ')})` : ' (no policy applied)';
  const why = r.got === 'error' ? `expected ${r.expect}, got an error` : `expected ${r.expect}, got ${r.got}${by}`;
  return `FAIL ${r.file}: ${r.name}: ${why}`;
}

/** Exit 0 when every case passes, 1 on any failure, 3 when the policies do not build. */
export const policyTest: Command = {
  name: 'policy test',
  summary: 'Run the tests/*.json cases of a policy-store folder locally (no server)',
  usage: 'DIR',
  arguments: ['DIR'],
  options: {},
  details: [
    'Each tests/*.json file holds one case or an array of cases:',
    '  {"name": "...", "request": {AuthZEN evaluation request}, "expect": "allow" | "deny"}',
    'Requests are decided against the folder\'s policies and entities.json, mapped the way the',
    'server maps AuthZEN requests, with the tenant settings in verity.json\'s "settings" (e.g.',
    '{"settings": {"validateRequests": true, "actionType": "Acme::Action"}}). Exits 1 if any case fails.',
  ].join('\n'),
  async run(args, io) {
    const { folder, engine, content } = await loadLocalStore(args.positionals[0] ?? '', io);
    const decider = await withSources({}, () => createLocalDecider({ engine, content, entities: folder.entities, settings: folder.settings }));
    const results: CaseResult[] = [];
    for (const test of folder.tests) {
      const base = { file: test.file, name: test.name, expect: test.expect };
      try {
        const result = await decider.evaluate(test.request);
        results.push({ ...base, ok: result.decision === test.expect, got: result.decision, reasons: result.reasons, errors: result.errors });
      } catch (error) {
        if (!isVerityError(error)) throw error;
        results.push({ ...base, ok: false, got: 'error', reasons: [], errors: [{ message: `${error.code}: ${error.message}` }] });
      }
    }
    const passed = results.filter((r) => r.ok).length;
    const failed = results.length - passed;
    writeResult(args, io, { passed, failed, results }, () => {
      for (const r of results) {
        writeLines(io.stdout, r.ok ? `ok   ${r.file}: ${r.name}` : describeFailure(r));
        for (const e of r.errors) writeLines(io.stdout, `     error${e.policyId ? ` in ${e.policyId}` : ''}: ${e.message}`);
      }
      writeLines(io.stdout, `${passed} passed, ${failed} failed`);
    });
    return failed > 0 ? EXIT.CHECK_FAILED : EXIT.OK;
  },
};
