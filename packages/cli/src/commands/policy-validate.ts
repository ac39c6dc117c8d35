/** `verity policy validate DIR`: parse and validate a policy-store folder locally, no server. */
import type { Command } from '../command.js';
import { formatDiagnostics } from '../diagnostics.js';
import { EXIT } from '../errors.js';
import { loadLocalStore } from '../local-store.js';
import { writeLines, writeResult } from '../output.js';

/** Exit 0 when the folder parses and validates, 3 with `file:line:col: message` lines when not. */
export const policyValidate: Command = {
  name: 'policy validate',
  summary: 'Parse and validate a policy-store folder locally (no server)',
  usage: 'DIR',
  arguments: ['DIR'],
  options: {},
  details: [
    'DIR holds *.cedar policies, and optionally schema.cedarschema, links.json, entities.json,',
    'verity.json ({"validationMode": "off"}) and tests/*.json. With a schema, policies are',
    'validated against it (strict) unless verity.json turns validation off. Also says which',
    'evaluator decides the set: compiled, or cedar-wasm with the construct that keeps it there.',
  ].join('\n'),
  async run(args, io) {
    const { folder, engine, content } = await loadLocalStore(args.positionals[0] ?? '', io);
    const { warnings } = await engine.check(content);
    // Which evaluator will decide this set: compiled, or cedar-wasm with the construct that keeps it there.
    const { evaluator } = await engine.prepare(`__validate@${Date.now()}`, content);
    const summary = {
      valid: true,
      policies: Object.keys(content.policies),
      templates: Object.keys(content.templates),
      links: content.links.map((l) => l.id),
      schema: content.schema !== undefined,
      validationMode: content.validationMode,
      entities: folder.entities.length,
      tests: folder.tests.length,
      evaluator,
      warnings,
    };
    writeResult(args, io, summary, () => {
      const validated = content.schema === undefined ? 'no schema' : `schema, validation ${content.validationMode}`;
      writeLines(
        io.stdout,
        `ok: ${summary.policies.length} policies, ${summary.templates.length} templates, ${summary.links.length} links (${validated})`,
        evaluator.kind === 'compiled' ? 'evaluator: compiled' : `evaluator: cedar-wasm (${evaluator.reason})`,
        ...formatDiagnostics(warnings, folder.files).map((line) => `warning: ${line}`),
      );
    });
    return EXIT.OK;
  },
};
