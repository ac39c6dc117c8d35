/**
 * `verity policy diff A B`: what changed between two policy folders, or two stored versions of a
 * tenant (`--tenant`): per policy, its text as a unified diff; with `--requests`, the decisions
 * that differ between the two sides.
 */
import type { Entity, PolicyStoreContent, TenantSettings } from '@verity/core';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption, type VerityClient } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT, usageError } from '../errors.js';
import { createOutcomeDecider, folderDecisionStore, loadLocalStore, localEngine, locatePolicies, type DecisionOutcome, type DecisionStore } from '../local-store.js';
import { writeLines, writeResult } from '../output.js';
import type { ContentSide, PolicyPlace } from '../policy-changes.js';
import { describeCedarRequest, readRequestFile, type RequestItem } from '../request-file.js';
import { replayLines, replayWindowOptions, requestReplay } from './policy-replay.js';

/** One side: what `from`/`to` print, its content and places, and what it decides with (read only for --requests). */
interface Side extends ContentSide {
  /** A folder path, or a version number. */
  name: string | number;
  label: string;
  store: () => Promise<DecisionStore>;
}

function versionArg(text: string, what: string): string {
  if (text === 'active') return text;
  return String(parsePositiveInt(text, what));
}

async function folderSide(dir: string, io: CommandIo): Promise<Side> {
  const store = await loadLocalStore(dir, io);
  const places = new Map<string, PolicyPlace>([...(await locatePolicies(store))].map(([id, s]) => [id, { file: s.file, line: s.line }]));
  return { name: dir, label: dir, content: store.content, places, store: async () => folderDecisionStore(store) };
}

/** Every entity of the tenant, page by page (the PDP decides with all of them). */
async function tenantEntities(client: VerityClient, path: string): Promise<Entity[]> {
  const entities: Entity[] = [];
  let after: string | undefined;
  do {
    const page = await client.request<{ entities: Entity[]; next: string | null }>('GET', `${path}/entities`, { query: { limit: '1000', after } });
    entities.push(...page.entities);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return entities;
}

async function versionSides(args: ParsedArgs, io: CommandIo): Promise<[Side, Side]> {
  const versions = [versionArg(args.positionals[0] ?? '', 'A'), versionArg(args.positionals[1] ?? '', 'B')];
  const path = adminTenantPath(args);
  const client = clientFromArgs(args, io);
  // Entities and settings are the tenant's, not a version's: read once, and only for --requests.
  let tenant: Promise<{ entities: Entity[]; settings: TenantSettings }> | undefined;
  const tenantState = () =>
    (tenant ??= Promise.all([tenantEntities(client, path), client.request<{ settings?: TenantSettings }>('GET', path)]).then(([entities, t]) => ({ entities, settings: t.settings ?? {} })));
  const sides = await Promise.all(
    versions.map(async (v): Promise<Side> => {
      const stored = await client.request<{ version: number; content: PolicyStoreContent }>('GET', `${path}/policies/versions/${v}`);
      return { name: stored.version, label: `version ${stored.version}`, content: stored.content, store: async () => ({ content: stored.content, ...(await tenantState()) }) };
    }),
  );
  return [sides[0] as Side, sides[1] as Side];
}

interface DecisionChange {
  name: string;
  from: DecisionOutcome;
  to: DecisionOutcome;
}

/** Decide every request on both sides; the ones whose decision differs. */
async function compareDecisions(items: readonly RequestItem[], from: Side, to: Side): Promise<DecisionChange[]> {
  const engine = await localEngine();
  const decideFrom = await createOutcomeDecider(engine, await from.store());
  const decideTo = await createOutcomeDecider(engine, await to.store());
  const changes: DecisionChange[] = [];
  for (const item of items) {
    const [a, b] = [await decideFrom(item.request), await decideTo(item.request)];
    if (a.decision !== b.decision) changes.push({ name: item.name, from: a, to: b });
  }
  return changes;
}

function outcomeLine(outcome: DecisionOutcome): string {
  if (outcome.decision === 'error') return `error  ${outcome.errors.map((e) => e.message).join('; ')}`;
  const by = outcome.determiningPolicies.length > 0 ? `determined by ${outcome.determiningPolicies.join(', ')}` : 'no policy applied';
  const errors = outcome.errors.map((e) => `; error in ${e.policyId ?? '-'}: ${e.message}`).join('');
  return `${outcome.decision.padEnd(5)}  ${by}${errors}`;
}

function decisionLines(change: DecisionChange): string[] {
  const decided = change.from.request ?? change.to.request;
  const what = decided === undefined || change.name.startsWith(describeCedarRequest(decided)) ? change.name : `${change.name} (${describeCedarRequest(decided)})`;
  return [`~ decision ${what}`, `    from: ${outcomeLine(change.from)}`, `    to:   ${outcomeLine(change.to)}`];
}

/** Exit 0; with --requests and --exit-code, 1 when a decision differs. */
export const policyDiff: Command = {
  name: 'policy diff',
  summary: 'Show what changed between two policy folders or stored versions, and which decisions it changes',
  usage: 'A B [--requests FILE [--exit-code]] | --tenant T A B [--requests FILE] [--replay [--since 24h]] [--exit-code]',
  arguments: ['A', 'B'],
  options: {
    requests: { type: 'string', valueName: 'FILE', description: 'decide these requests (JSON, array or JSON lines; - for stdin) on both sides and show those that differ' },
    replay: { type: 'boolean', description: "with --tenant: decide the tenant's recorded decisions on both versions and show those that differ" },
    ...replayWindowOptions,
    'exit-code': { type: 'boolean', description: 'exit 1 when a decision of --requests or --replay differs (as git diff --exit-code)' },
    ...tenantOption,
    ...remoteOptions,
  },
  details: [
    'A and B are policy-store folders, or with --tenant stored version numbers or `active`.',
    'Lines read + added, - removed, ~ changed, each with its text as a unified diff (numbered by',
    "file line for folders). With --requests, each request (as `eval --request` takes them) is",
    "decided on both sides by the local engine, each folder with its own entities.json and settings,",
    "a tenant's versions with its current entities and settings; a changed decision prints both",
    'answers and their determining policies. With --tenant and --replay, the server decides the',
    "decisions its audit recorded since --since on A and on B, from each record's input (see",
    '`verity policy replay`), and lists those that differ. --exit-code makes a changed decision',
    'exit 1, for CI.',
    `With --tenant: ${remoteDetails}`,
  ].join('\n'),
  async run(args, io) {
    const exitCode = args.values['exit-code'] === true;
    const replay = args.values['replay'] === true;
    if (exitCode && args.values['requests'] === undefined && !replay) throw usageError('--exit-code needs --requests FILE or --replay');
    if (replay && args.values['tenant'] === undefined) throw usageError('--replay needs --tenant: it replays the decisions a tenant recorded');
    const requests = typeof args.values['requests'] === 'string' ? await readRequestFile(args.values['requests'], io) : undefined;
    const [from, to] = args.values['tenant'] === undefined ? await Promise.all([folderSide(args.positionals[0] ?? '', io), folderSide(args.positionals[1] ?? '', io)]) : await versionSides(args, io);
    const { compareContents, formatChanges } = await import('../policy-changes.js'); // The text diff (diff) loads here, not at start-up.
    const changes = compareContents(from, to);
    const decided = requests === undefined ? undefined : { total: requests.items.length, changes: await compareDecisions(requests.items, from, to) };
    const replayed = replay ? await requestReplay(args, io, { version: to.name, baseline: from.name }) : undefined;
    const { changes: textChanges, ...ids } = changes;
    const report = {
      from: from.name,
      to: to.name,
      ...ids,
      changes: textChanges,
      ...(decided === undefined ? {} : { requests: { total: decided.total, differing: decided.changes.length, changes: decided.changes } }),
      ...(replayed === undefined ? {} : { replay: replayed }),
    };
    writeResult(args, io, report, () => {
      const lines = formatChanges(changes, from, to);
      writeLines(io.stdout, `${from.label} -> ${to.label}`, ...(lines.length > 0 ? lines : ['no changes']));
      if (decided !== undefined) {
        const n = decided.changes.length;
        writeLines(io.stdout, `${decided.total} requests: ${n} decision${n === 1 ? ' differs' : 's differ'}`);
        for (const change of decided.changes) writeLines(io.stdout, ...decisionLines(change));
      }
      if (replayed !== undefined) writeLines(io.stdout, ...replayLines(replayed, to.label));
    });
    const differs = (decided?.changes.length ?? 0) > 0 || (replayed?.flipped ?? 0) > 0;
    return exitCode && differs ? EXIT.CHECK_FAILED : EXIT.OK;
  },
};
