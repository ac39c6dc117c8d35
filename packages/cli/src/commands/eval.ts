/** `verity eval DIR`: decide requests locally against a policy-store folder, no server. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { toCedarRecord } from '@verity/core';
import type { Entity } from '@verity/core';
import { parseJsonObjectFlag, parseUidFlag } from '../arguments.js';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { EXIT, usageError, withSources } from '../errors.js';
import { createOutcomeDecider, folderDecisionStore, loadLocalStore, type DecisionOutcome } from '../local-store.js';
import { writeLines, writeResult } from '../output.js';
import { parseEntitiesJson } from '../policy-folder.js';
import { describeCedarRequest, readRequestFile, type RequestFile } from '../request-file.js';

const REQUEST_FLAGS = ['principal', 'action', 'resource', 'context'] as const;

/** The request from --principal/--action/--resource/--context, or the items of --request FILE. */
async function requestsOf(args: ParsedArgs, io: CommandIo): Promise<RequestFile> {
  const file = args.values['request'];
  const flags = REQUEST_FLAGS.filter((flag) => args.values[flag] !== undefined);
  if (typeof file === 'string') {
    if (flags.length > 0) throw usageError(`--request FILE and --${flags[0]} cannot be combined`);
    return readRequestFile(file, io);
  }
  const principal = parseUidFlag(args.values['principal'] as string | undefined, 'principal');
  const action = parseUidFlag(args.values['action'] as string | undefined, 'action');
  const resource = parseUidFlag(args.values['resource'] as string | undefined, 'resource');
  const context = args.values['context'];
  const request = { principal, action, resource, context: typeof context === 'string' ? await withSources({}, () => toCedarRecord(parseJsonObjectFlag(context, 'context'), 'context')) : {} };
  return { items: [{ name: describeCedarRequest(request), request: { kind: 'cedar', request, entities: [] } }], single: true };
}

async function extraEntities(args: ParsedArgs, io: CommandIo): Promise<Entity[]> {
  const file = args.values['entities'];
  if (typeof file !== 'string') return [];
  const text = await withSources({}, () => readFile(resolve(io.cwd, file), 'utf8'));
  return withSources({}, () => parseEntitiesJson(text, file));
}

interface EvalResult extends DecisionOutcome {
  name: string;
}

function resultLines(r: EvalResult, many: boolean): string[] {
  const lines = many ? [`${r.decision.padEnd(5)}  ${r.name}`] : [r.decision];
  const indent = many ? '       ' : '';
  if (r.determiningPolicies.length > 0) lines.push(`${indent}determined by: ${r.determiningPolicies.join(', ')}`);
  for (const e of r.errors) lines.push(`${indent}error: ${e.policyId === undefined ? '' : `${e.policyId}: `}${e.message}`);
  return lines;
}

/** Exit 0 when every request is allowed, 1 when one is denied, 3 when one cannot be decided. */
export const evaluate: Command = {
  name: 'eval',
  summary: 'Decide requests locally against a policy-store folder (exit 0 allow, 1 deny; no server)',
  usage: "DIR (--principal UID --action UID --resource UID [--context JSON] | --request FILE) [--entities FILE]",
  arguments: ['DIR'],
  options: {
    principal: { type: 'string', short: 'p', valueName: 'UID', description: `the principal, e.g. 'User::"alice"' or User:alice` },
    action: { type: 'string', short: 'a', valueName: 'UID', description: `the action, e.g. 'Action::"read"'` },
    resource: { type: 'string', short: 'r', valueName: 'UID', description: `the resource, e.g. 'Doc::"d1"'` },
    context: { type: 'string', short: 'c', valueName: 'JSON', description: 'the request context as a JSON object' },
    request: { type: 'string', valueName: 'FILE', description: 'requests from FILE (- for stdin): one JSON request, an array, or JSON lines' },
    entities: { type: 'string', valueName: 'FILE', description: "Cedar JSON entities added to the folder's entities.json" },
  },
  details: [
    "Decides with the folder's policies, schema, links, entities.json and verity.json settings, as",
    '`policy test` loads them, through the engine the server uses (compiled evaluator, cedar-wasm).',
    'A request in FILE is either Cedar-native, as POST /tenants/T/cedar/v1/is-authorized takes it:',
    '  {"name"?, "principal": "User::\\"alice\\"", "action": …, "resource": …, "context"?, "entities"?}',
    "(uids as strings or {type, id}; its entities describe the principal and resource, or add new",
    'ones), or a policy-test case {"name"?, "request": {AuthZEN evaluation}, "expect"?}.',
    'Prints the decision, the determining policies (ids as `policy test` names them) and the',
    'policies that errored. A request Verity refuses (e.g. a type the schema does not declare) is',
    'an error: exit 3. With several requests: exit 3 if one is refused, else 1 if one is denied.',
  ].join('\n'),
  async run(args, io) {
    const requests = await requestsOf(args, io);
    const extra = await extraEntities(args, io);
    const store = await loadLocalStore(args.positionals[0] ?? '', io);
    const decide = await createOutcomeDecider(store.engine, folderDecisionStore(store, extra));
    const results: EvalResult[] = [];
    for (const item of requests.items) results.push({ name: item.name, ...(await decide(item.request)) });
    const many = !requests.single;
    writeResult(args, io, many ? { results } : results[0], () => {
      for (const r of results) writeLines(io.stdout, ...resultLines(r, many));
    });
    if (results.some((r) => r.decision === 'error')) return EXIT.INVALID_INPUT;
    return results.every((r) => r.decision === 'allow') ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};
